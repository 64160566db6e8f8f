"""Real Airflow: producers triggered through the REST API, the consumer triggered by their Assets."""

from __future__ import annotations

import time

import pytest

from data_mesh.catalog import get_product
from data_mesh.storage import ProductStore

pytestmark = pytest.mark.integration

PRODUCERS = ("marketing__ads_performance", "sales__customer_orders")
CONSUMER = "finance__monthly_revenue"


def wait_for_run(airflow, dag_id: str, predicate, timeout: float = 300) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        runs = [r for r in airflow.runs(dag_id) if predicate(r)]
        if runs and runs[0]["state"] in {"success", "failed"}:
            return runs[0]
        time.sleep(3)
    raise TimeoutError(f"{dag_id}: no finished run after {timeout:.0f}s: {airflow.runs(dag_id)}")


def test_producers_trigger_consumer_through_assets(airflow_server):
    airflow_server.wait_for_dags([*PRODUCERS, CONSUMER])
    airflow_server.unpause(CONSUMER)
    run_ids = {}
    for dag_id in PRODUCERS:
        run_ids[dag_id] = airflow_server.trigger(dag_id, {"partition": "2026-10-05"})
        airflow_server.unpause(dag_id)
    for dag_id, run_id in run_ids.items():
        run = wait_for_run(airflow_server, dag_id, lambda r, run_id=run_id: r["dag_run_id"] == run_id)
        assert run["state"] == "success", f"{dag_id} {run}"

    consumer = wait_for_run(airflow_server, CONSUMER, lambda r: r["run_type"] == "asset_triggered")
    assert consumer["state"] == "success", consumer
    store = ProductStore(get_product("finance.monthly_revenue"))
    manifest = store.manifest()
    # unpaused producers also run their latest daily interval: the consumer builds the newest month
    assert manifest.partitions and all(p.rows == 4 for p in manifest.partitions.values())
    assert set(manifest.partitions) <= {"2026-10", *{m["partition"][:7] for m in _latest_extras()}}


def _latest_extras() -> list[dict]:
    from data_mesh.store import MetadataStore

    store = MetadataStore()
    return [
        {"partition": p.partition}
        for product in ("sales.customer_orders", "marketing.ads_performance")
        for p in store.list_publications(product, limit=10)
    ]
