"""A real product DAG (dag.test()) under source faults: a transient one is retried inside the fetch and
publishes exactly one version; a permanent one fails the run at fetch with a clear message, publishes
nothing and leaves the previous version served."""

from __future__ import annotations

import logging
import math
from datetime import date

import pytest

from data_mesh.contract.partition import window_of
from data_mesh.contract.registry import get_product
from data_mesh.storage.products import product_storage
from tests.e2e.conftest import DAY, run_dag

DAG_ID = "sales__customer_orders"


def clean_crm_requests(demo_sources) -> int:
    """Requests one clean run makes to the CRM: orders (pageSize 500) and customers (pageSize 1000)."""
    spec = get_product("sales.customer_orders")
    sizes = {s.name: s.page_size for s in spec.sources}
    orders = len(demo_sources.world.orders(DAY))
    customers = len(demo_sources.world.customers())
    return math.ceil(orders / sizes["orders"]) + math.ceil(customers / sizes["customers"])


def task_states(run) -> dict[str, str]:
    return {ti.task_id: ti.state for ti in run.get_task_instances()}


def test_connection_resets_are_retried_and_one_version_is_published(
    dagbag, producers_published, demo_sources
):
    store = product_storage(get_product("sales.customer_orders"))
    versions = store.versions()
    demo_sources.set_fault("crm", "connection_reset", count=2, skip=1)  # page 2 of orders, reset twice
    before = demo_sources.requests["crm"]
    try:
        run = run_dag(dagbag, DAG_ID, DAY)
    finally:
        demo_sources.clear_faults()
    assert run.state == "success", task_states(run)
    assert demo_sources.requests["crm"] - before == clean_crm_requests(demo_sources) + 2
    assert store.versions() == [*versions, versions[-1] + 1]  # exactly one new version
    day = window_of("day", date.fromisoformat(DAY))  # other tests may have published other days
    assert store.read_table(store.version(), window=day).num_rows == len(demo_sources.world.orders(DAY))


@pytest.mark.parametrize(
    ("kind", "requests_made", "message"),
    [
        # five attempts at orders page 1, each cut short mid-body (default policy: ~4-8 s of backoff)
        ("truncated", 5, "page 1 failed after 5 attempts (last: the connection closed before the body was"),
        # orders page 2 repeats page 1's cursor: no retry, two requests
        ("cursor_loop", 2, "repeats the cursor page 1 returned; the source is looping"),
    ],
)
def test_a_permanent_fault_fails_at_fetch_and_the_previous_version_stays(
    dagbag, producers_published, demo_sources, caplog, capfd, kind, requests_made, message
):
    store = product_storage(get_product("sales.customer_orders"))
    versions = store.versions()
    served = store.read_table(store.version())
    demo_sources.set_fault("crm", kind, count=-1)
    before = demo_sources.requests["crm"]
    try:
        with caplog.at_level(logging.ERROR):
            run = run_dag(dagbag, DAG_ID, DAY)
    finally:
        demo_sources.clear_faults()
    assert run.state == "failed"
    states = task_states(run)
    assert states["fetch"] == "failed"
    assert {states[t] for t in ("transform", "validate", "publish")} == {"upstream_failed"}
    assert demo_sources.requests["crm"] - before == requests_made  # bounded: the orders source only
    captured = capfd.readouterr()  # the task's traceback, as dag.test() prints it
    logs = (caplog.text + captured.out + captured.err).splitlines()
    errors = [line for line in logs if line.startswith("data_mesh.exceptions.SourceError: ")]
    assert errors and all("source 'orders': " in e and message in e and f"date={DAY}" in e for e in errors)
    assert not any("demo-crm-token" in line for line in logs)
    assert store.versions() == versions  # nothing published
    assert store.read_table(store.version()).equals(served)  # the previous version is still served
