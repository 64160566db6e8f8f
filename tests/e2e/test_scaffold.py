"""Self-serve scaffolding end to end, in a temporary copy of the home: `data-mesh new-domain` and
`new-product` against the demo ads API, `check` blocking on the TODOs and passing once a person filled
them in, then the DAG a real DagBag loads from that home run with dag.test() and the product published
with the source's rows."""

from __future__ import annotations

import shutil

import pytest
import yaml

from data_mesh.cli import main as cli
from data_mesh.contract.registry import get_product
from data_mesh.storage.products import product_storage
from tests.e2e.conftest import DAY, REPO

DOMAIN, PRODUCT = "growth", "campaign_stats"
DAG_ID = f"{DOMAIN}__{PRODUCT}"


@pytest.fixture
def home(tmp_path, monkeypatch):
    """A copy of the home's domains, suites and DAG files; the transforms import from it."""
    import domains

    home = tmp_path / "home"
    for folder in ("domains", "expectations", "dags"):
        shutil.copytree(REPO / folder, home / folder, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setenv("DATA_MESH_HOME", str(home))
    # As on a deployment whose home is on sys.path: `domains.growth.campaign_stats` is the copy's.
    monkeypatch.setattr(domains, "__path__", [str(home / "domains"), *domains.__path__])
    return home


def _fill_in_todos(contract) -> None:
    raw = yaml.safe_load(contract.read_text())
    raw["description"]["purpose"] = "Daily ad performance per campaign and channel, for the growth team."
    raw["description"]["usage"] = "Growth experiments and channel mix; spend is in micro-units of USD."
    for prop in raw["schema"][0]["properties"]:
        prop["description"] = (
            f"{prop['name'].replace('_', ' ').capitalize()}, as the ads platform reports it."
        )
        prop["classification"] = "internal"
    contract.write_text(yaml.safe_dump(raw, sort_keys=False))


def test_scaffold_a_domain_and_a_product_then_run_it(home, demo_sources, airflow_db, capsys):
    demo_sources.clear_faults()
    assert cli(["new-domain", DOMAIN, "--owner", "carol.marketing", "--support-channel", "#growth"]) == 0
    assert (home / "dags" / f"{DOMAIN}.py").is_file()
    argv = [
        "new-product", f"{DOMAIN}.{PRODUCT}", "--source", "marketing_ads_api",
        "--endpoint", "/ads/v1/campaign-performance", "--pagination", "page_number", "--auth", "api_key",
        "--param", "date={partition}", "--partition", "day", "--sample-partition", DAY,
    ]  # fmt: skip
    assert cli(argv) == 0
    out = capsys.readouterr().out
    assert "sampled 500 records" in out and "campaign_id" in out and "18 TODO(s)" in out
    assert cli(argv) == 2  # a second run never overwrites
    assert "already exists, nothing was overwritten" in capsys.readouterr().err

    assert cli(["check", "--domain", DOMAIN]) == 1
    report = capsys.readouterr().out
    assert report.count("global.decided") == 18 and "FAIL" in report
    assert "description.purpose" in report
    assert "schema[campaign_stats].properties[campaign_id].classification" in report
    contract = home / "domains" / DOMAIN / f"{PRODUCT}.odcs.yaml"
    _fill_in_todos(contract)
    assert cli(["check", "--domain", DOMAIN]) == 0, capsys.readouterr().out
    assert cli(["check"]) == 0  # the whole mesh, cross-product rules included
    capsys.readouterr()

    from airflow.dag_processing.bundles.manager import DagBundlesManager
    from airflow.dag_processing.dagbag import BundleDagBag, sync_bag_to_db

    DagBundlesManager().sync_bundles_to_db()
    dags = home / "dags"
    dagbag = BundleDagBag(dag_folder=str(dags), bundle_path=str(dags), bundle_name="dags-folder")
    assert dagbag.import_errors == {}
    assert {DAG_ID, "marketing__ads_performance", "sales__customer_orders"} <= set(dagbag.dag_ids)
    sync_bag_to_db(dagbag, "dags-folder", None)  # serialized, as the dag-processor would (dag.test needs it)
    dag = dagbag.dags[DAG_ID]
    assert dag.default_args["owner"] == "carol.marketing"
    assert [t.task_id for t in dag.tasks] == ["fetch", "transform", "validate", "publish", "cleanup"]
    run = dag.test(run_conf={"partition": DAY})
    assert run.state == "success"

    spec = get_product(f"{DOMAIN}.{PRODUCT}")
    assert spec.primary_key == ("date", "campaign_id", "channel")
    store = product_storage(spec)
    manifest = store.version()
    assert manifest.version == 1 and store.partitions(manifest) == (DAY,)
    table = store.read_table(manifest).to_pylist()
    source = demo_sources.world.ads(DAY)  # every page, not only the sampled one
    assert len(table) == len(source) > 500
    published = {(r["campaign_id"], r["channel"]): r for r in table}
    for record in source:
        row = published[(record["campaign"]["id"], record["channel"])]
        assert row["date"].isoformat() == DAY and row["region"] == record["region"]
        assert row["campaign_name"] == record["campaign"]["name"]
        assert row["metrics_impressions"] == record["metrics"]["impressions"]
        assert row["metrics_cost_micros"] == record["metrics"]["cost_micros"]
