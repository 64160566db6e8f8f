"""Every product DAG end to end with dag.test() against the demo sources."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import date
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from data_mesh.contract.registry import get_product
from data_mesh.storage.products import product_storage
from tests.e2e.conftest import DAY, MONTH, REPO, run_dag
from tests.iceberg_engines import iceberg_scan_rows


def latest_asset_extra(dag_id: str) -> dict:
    from airflow.models.asset import AssetEvent
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        event = session.scalars(
            select(AssetEvent).where(AssetEvent.source_dag_id == dag_id).order_by(AssetEvent.id.desc())
        ).first()
        return dict(event.extra)


def test_dagbag_has_one_dag_per_product(dagbag):
    assert dagbag.import_errors == {}
    ids = set(dagbag.dag_ids)
    assert {"marketing__ads_performance", "sales__customer_orders", "finance__monthly_revenue"} <= ids
    orders = dagbag.dags.get("sales__customer_orders")
    assert "sales" in orders.tags
    assert orders.default_args["owner"] == "alice.sales"
    assert "customer_email" in orders.doc_md and "restricted" in orders.doc_md
    assert "partition" in orders.params
    assert [t.task_id for t in orders.tasks] == ["fetch", "transform", "validate", "publish", "cleanup"]
    cleanup = orders.get_task("cleanup")  # a teardown after every work task: it never decides the run's state
    assert cleanup.is_teardown and not cleanup.on_failure_fail_dagrun
    assert cleanup.upstream_task_ids == {"fetch", "transform", "validate", "publish"}
    finance = dagbag.dags.get("finance__monthly_revenue")
    condition = finance.timetable.asset_condition
    assert {asset.name for asset in condition.objects} == {
        "sales.customer_orders",
        "marketing.ads_performance",
    }


def test_dag_files_parse_without_heavy_imports():
    code = (
        "import runpy, sys\n"
        f"for f in {[str(p) for p in sorted((REPO / 'dags').glob('*.py'))]!r}:\n"
        "    runpy.run_path(f)\n"
        "heavy = ('pandas', 'pyarrow', 'great_expectations', 'pyiceberg', 'duckdb')\n"
        "heavy = [m for m in heavy if m in sys.modules]\n"
        "print(heavy)\n"
    )
    env = {**os.environ, "PYTHONPATH": f"{REPO}:{REPO / 'plugins'}"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == "[]", out.stderr


def test_marketing_product_published(producers_published):
    store = product_storage(get_product("marketing.ads_performance"))
    manifest = store.version()
    assert store.partitions(manifest) == (DAY,)
    table = store.read_table(manifest)
    assert table.num_rows > 1000
    assert table.schema.field("date").type == "date32[day]"
    assert set(table.column("date").to_pylist()) == {date(2026, 11, 20)}
    extra = latest_asset_extra("marketing__ads_performance")
    assert extra["version"] == manifest.version and extra["partition"] == DAY
    assert extra["rows"] == table.num_rows and extra["validation"]["success"] is True
    assert set(extra) == {"product", "version", "partition", "rows", "bytes", "schema_hash", "validation"}


def test_sales_product_is_an_iceberg_table_other_engines_read(producers_published):
    store = product_storage(get_product("sales.customer_orders"))
    manifest = store.version()
    # DuckDB's own Iceberg extension reads exactly the current version from the table metadata
    sql = "select count(*), count(distinct order_id) from t"
    assert iceberg_scan_rows(store.metadata_location(), sql)[0] == (manifest.rows, manifest.rows)
    assert manifest.rows > 1000 and manifest.operation in ("append", "overwrite")
    files = store.data_files(manifest)
    schema = pq.read_schema(files[0].removeprefix("file://"))
    assert schema.field("order_ts").type.tz == "UTC"
    extra = latest_asset_extra("sales__customer_orders")
    assert "customer_email" not in json.dumps(extra) and "@" not in json.dumps(extra)


def test_rerun_replaces_partition(dagbag, producers_published):
    store = product_storage(get_product("marketing.ads_performance"))
    before = store.version()
    assert run_dag(dagbag, "marketing__ads_performance", DAY).state == "success"
    after = store.version()
    assert after.version == before.version + 1
    assert after.rows == before.rows  # replaced, not appended
    assert store.read_table(store.version(version=before.version)).num_rows == before.rows
    assert after.operation == "overwrite" and after.changed_partition == DAY
    # another engine sees the new version only: no duplicate rows after the re-publication
    keys = "select count(*), count(distinct (date, campaign_id, channel)) from t"
    assert iceberg_scan_rows(store.metadata_location(), keys)[0] == (after.rows, after.rows)


def test_finance_reads_upstream_products(dagbag, producers_published):
    run = run_dag(dagbag, "finance__monthly_revenue", MONTH)
    assert run.state == "success"
    store = product_storage(get_product("finance.monthly_revenue"))
    frame = store.read_table(store.version()).to_pandas()
    assert sorted(frame["region"]) == ["APAC", "EMEA", "LATAM", "NA"]
    assert (frame["month"] == MONTH).all()
    assert (frame["marketing_spend"] > 0).all() and (frame["order_revenue"] > 0).all()
    assert (frame["population"] > 1_000_000).all()
    assert frame["roas"].notna().all()
    from data_mesh.metadata.store import MetadataStore

    reads = MetadataStore().list_access_events(principal=None, product_id="sales.customer_orders").items
    assert any("finance__monthly_revenue" in e.principal and e.allowed for e in reads)


@pytest.mark.parametrize(
    ("fault", "source", "failed_check"),
    [
        ("null_keys", "ads", "campaign_id"),
        ("out_of_range", "ads", "impressions"),
        ("schema_drift", "ads", "clicks"),
    ],
)
def test_bad_source_data_is_quarantined(
    dagbag, producers_published, demo_sources, fault, source, failed_check
):
    store = product_storage(get_product("marketing.ads_performance"))
    before = store.version()
    before_rows = store.read_table(before).to_pandas()
    demo_sources.set_fault(source, fault, count=-1)
    try:
        run = run_dag(dagbag, "marketing__ads_performance", DAY)
    finally:
        demo_sources.clear_faults()
    assert run.state == "failed"
    assert store.version().version == before.version  # nothing new is visible
    assert store.read_table(store.version()).to_pandas().equals(before_rows)
    quarantine = Path(os.environ["DATA_MESH_QUARANTINE_ROOT"]) / "marketing.ads_performance" / DAY
    newest = max(quarantine.iterdir(), key=lambda p: p.stat().st_mtime)
    report = json.loads((newest / "report.json").read_text())
    assert report["success"] is False
    assert any(failed_check in json.dumps(r) for r in report["results"] if not r["success"])
    assert pq.read_table(newest / "batch.parquet").num_rows > 0


def test_persistent_source_error_fails_cleanly(dagbag, producers_published, demo_sources):
    store = product_storage(get_product("sales.customer_orders"))
    before = store.version().version
    demo_sources.set_fault("crm", "server_error", count=-1)
    try:
        run = run_dag(dagbag, "sales__customer_orders", DAY)
    finally:
        demo_sources.clear_faults()
    assert run.state == "failed"
    assert store.version().version == before
