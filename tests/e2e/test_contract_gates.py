"""The governance gates on real DAG runs: the breaking-change gate (refused at parse and at publish,
naming the consumers it breaks; a new major published side by side while the old one is served) and
the policies on the data (a batch that breaks one is rejected at publish, naming the policy)."""

from __future__ import annotations

import logging
import re
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from data_mesh.contract import registry
from data_mesh.exceptions import BreakingChange
from data_mesh.governance.access import Principal
from data_mesh.governance.reader import read_table
from tests.e2e.conftest import DAY, REPO

ORDERS = "sales.customer_orders"
CAROL = Principal("carol.analyst", "user", roles=frozenset({"viewer"}))
DAVE = Principal("dave.analyst", "user", roles=frozenset({"viewer"}))


@pytest.fixture(scope="module")
def own_assets(airflow_db):
    """Airflow's database reset on the way in and out: its Assets are addressed by the warehouse URL,
    and an Asset name seen at this module's URLs would be inactive for the other modules' DAGs."""
    from airflow.utils import db

    db.resetdb()
    yield
    db.resetdb()


@pytest.fixture
def mesh(tmp_path, monkeypatch, demo_sources, own_assets):
    """A copy of the domains, and stores of this test only."""
    from data_mesh.metadata.store import dispose_engines

    folder = tmp_path / "domains"
    shutil.copytree(REPO / "domains", folder)
    monkeypatch.setenv("DATA_MESH_DOMAINS_FOLDER", str(folder))
    monkeypatch.setenv("DATA_MESH_STORAGE_ROOT", str(tmp_path / "products"))
    monkeypatch.setenv("DATA_MESH_METADATA_URL", f"sqlite:///{tmp_path / 'meta.db'}")
    demo_sources.clear_faults()
    registry._cache.clear()
    yield folder
    registry._cache.clear()
    dispose_engines()


def sales_dag(dag_id: str = "sales__customer_orders"):
    from data_mesh.pipeline.dags import build_domain_dags

    return build_domain_dags("sales")[dag_id]


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    registry._cache.clear()


COUNTRY_INTERNAL = 'classification: internal, description: "ISO 3166-1 alpha-3 country of the customer."'
COUNTRY_CONFIDENTIAL = COUNTRY_INTERNAL.replace("internal", "confidential")


def test_a_breaking_change_is_refused_at_parse_and_at_publish_naming_its_consumers(mesh, monkeypatch, caplog):
    assert sales_dag().test(run_conf={"partition": DAY}).state == "success"  # v1, contract recorded
    read_table(ORDERS, CAROL, purpose="churn by country", path="api", columns=["customer_country"])
    read_table(ORDERS, DAVE, purpose="revenue by region", path="api", columns=["region", "amount"])
    contract = mesh / "sales" / "customer_orders.odcs.yaml"
    edit(contract, COUNTRY_INTERNAL, COUNTRY_CONFIDENTIAL)  # more restricted: breaks its readers
    with pytest.raises(BreakingChange) as refused:
        sales_dag()
    message = str(refused.value)
    assert "column customer_country made more restricted (internal -> confidential)" in message
    assert "DAG finance__monthly_revenue" in message and "carol.analyst (1 reads)" in message
    assert "dave.analyst" not in message  # dave never read the column: the change does not break him
    assert str(contract) in message and "published contract 1.0.0" in message

    # the store unreadable at parse: the DAG is built, and the publish step refuses instead
    monkeypatch.setenv("DATA_MESH_METADATA_URL", "sqlite:////nonexistent/folder/meta.db")
    dag = sales_dag()
    monkeypatch.setenv("DATA_MESH_METADATA_URL", f"sqlite:///{mesh.parent / 'meta.db'}")
    with caplog.at_level(logging.ERROR):
        run = dag.test(run_conf={"partition": DAY})
    assert run.state == "failed"
    [failed] = [ti for ti in run.get_task_instances() if ti.state == "failed"]
    assert failed.task_id == "publish"
    assert any("carol.analyst (1 reads)" in r.getMessage() + str(r.exc_info) for r in caplog.records)
    from data_mesh.storage.products import product_storage

    assert product_storage(registry.get_product(ORDERS)).versions() == [1]  # nothing published


def test_a_new_major_is_published_side_by_side_until_the_old_ones_end_of_life(mesh):
    assert sales_dag().test(run_conf={"partition": DAY}).state == "success"
    old = mesh / "sales" / "customer_orders.odcs.yaml"
    new = mesh / "sales" / "customer_orders_v2.odcs.yaml"
    text = old.read_text(encoding="utf-8")
    text = text.replace("name: customer_orders\n", "name: customer_orders_v2\n").replace(
        "version: 1.0.0", "version: 2.0.0"
    )
    text = re.sub(
        r"urn:datacontract:sales:customer_orders\b", "urn:datacontract:sales:customer_orders_v2", text
    )
    text = text.replace("physicalName: customer_orders", "physicalName: customer_orders_v2")
    new.write_text(text.replace(COUNTRY_INTERNAL, COUNTRY_CONFIDENTIAL), encoding="utf-8")
    end = datetime.now(UTC).date() + timedelta(days=30)
    edit(old, "status: active", "status: deprecated")
    edit(old, "\nslaProperties:\n", f'\nslaProperties:\n  - property: endOfLife\n    value: "{end}"\n')
    edit(
        old,
        "\ncustomProperties:\n",
        "\ncustomProperties:\n  - property: successor\n    value: sales.customer_orders_v2\n",
    )

    both = {"sales__customer_orders", "sales__customer_orders_v2"}
    from data_mesh.pipeline.dags import build_domain_dags

    dags = build_domain_dags("sales")
    assert set(dags) == both  # the old major is still published beside the new one
    assert dags["sales__customer_orders_v2"].test(run_conf={"partition": DAY}).state == "success"
    assert dags["sales__customer_orders"].test(run_conf={"partition": DAY}).state == "success"
    v1 = read_table(ORDERS, CAROL, purpose="old", path="api", columns=["region"]).table
    v2 = read_table(f"{ORDERS}_v2", CAROL, purpose="new", path="api", columns=["region"]).table
    assert v1.num_rows == v2.num_rows > 0  # two tables, served side by side
    from data_mesh.storage.products import product_storage

    assert (
        product_storage(registry.get_product(f"{ORDERS}_v2")).uri
        != product_storage(registry.get_product(ORDERS)).uri
    )
    # the end of life comes: the old major is no longer built, and its readers are sent to v2
    edit(old, f'value: "{end}"', f'value: "{datetime.now(UTC).date()}"')
    assert set(build_domain_dags("sales")) == {"sales__customer_orders_v2"}
    from data_mesh.exceptions import ProductRetired

    with pytest.raises(ProductRetired, match="read its successor sales.customer_orders_v2"):
        read_table(ORDERS, CAROL, purpose="old", path="api", columns=["region"])


def test_a_policy_on_the_data_rejects_the_batch_at_publish(mesh):
    """customer_email declassified, and the contract policy that would object waived: the contract
    passes at parse, but the e-mail addresses in the batch break global.no-undeclared-pii."""
    from data_mesh.storage.products import product_storage

    contract = mesh / "sales" / "customer_orders.odcs.yaml"
    edit(contract, "classification: restricted, criticalDataElement: true", "classification: internal")
    expires = datetime.now(UTC).date() + timedelta(days=7)
    waiver = (
        "\ncustomProperties:\n  - property: policyWaivers\n    value:\n"
        "      - {policy: global.pii-restricted, reason: a vendor says it is fine, approvedBy: bob.crm, "
        f'expires: "{expires}"}}\n'
    )
    edit(contract, "\ncustomProperties:\n", waiver)
    dag = sales_dag()  # the contract passes at parse: its only objection is waived
    run = dag.test(run_conf={"partition": DAY})
    assert run.state == "failed"
    [failed] = [ti for ti in run.get_task_instances() if ti.state == "failed"]
    assert failed.task_id == "validate"
    spec = registry.get_product(ORDERS)
    assert product_storage(spec).versions() == []  # nothing published
    from data_mesh.metadata.store import MetadataStore

    [validation] = MetadataStore().quality_history(ORDERS)
    assert not validation.success and validation.quarantine_path
    problems = [r["exception"] for r in validation.report["results"]]
    assert any(
        p.startswith("policy global.no-undeclared-pii violated: column customer_email: ")
        and "look like e-mail addresses in a internal column" in p
        for p in problems
    ), problems
    assert "@" not in " ".join(problems)  # the finding never quotes the personal data


def test_rejected_data_is_not_retried_but_the_task_is_retryable(mesh, monkeypatch, demo_sources):
    """With retries on, a batch the GX suite rejects fails validate on its first try, for good."""
    monkeypatch.setenv("DATA_MESH_TASK_RETRIES", "2")
    monkeypatch.setenv("DATA_MESH_TASK_RETRY_DELAY_SECONDS", "1")
    demo_sources.set_fault("ads", "out_of_range", count=-1)  # passes the contract, fails the suite
    try:
        from data_mesh.pipeline.dags import build_domain_dags

        dag = build_domain_dags("marketing")["marketing__ads_performance"]
        assert dag.get_task("validate").retries == 2  # an outage of the stores is retried
        run = dag.test(run_conf={"partition": DAY})
    finally:
        demo_sources.clear_faults()
    validate = next(ti for ti in run.get_task_instances() if ti.task_id == "validate")
    assert run.state == "failed" and validate.state == "failed" and validate.try_number == 1
