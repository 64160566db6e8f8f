"""Airflow's own backfill on a real `airflow standalone`: 14 days of sales.customer_orders, twice.

A backfill (`POST /api/v2/backfills`, what `airflow backfill create` and the UI's "Backfill" do) is a
set of runs the scheduler executes; each run's data interval is its day, and that day is the
partition it rebuilds (`contract.partition.resolve_partition`). What is checked:

- every daily partition holds exactly the demo source's orders of that day, keys unique;
- each run published one version of its own day; running the same backfill again
  (`reprocess_behavior: completed`) publishes one more version per day and duplicates no row;
- finance.monthly_revenue is scheduled on Assets, and Airflow refuses to backfill a DAG with a
  non-periodic schedule; a paused DAG gets no Asset events queued, so it is paused during the
  backfill of both its inputs (marketing.ads_performance is backfilled over the same days, once)
  and each affected month is rebuilt once afterwards by one run with the `partition` param. Its
  orders then count the backfilled days.
"""

from __future__ import annotations

import time
from datetime import UTC, date, datetime, timedelta

import pytest
import requests

from data_mesh.contract.partition import window_of
from data_mesh.contract.registry import get_product
from data_mesh.metadata.store import MetadataStore
from data_mesh.storage.products import product_storage

# The test runs 44 real DAG runs (2 x 14 days of orders, 14 of ads, 2 months of revenue): ~55 s of
# task time each, CPU-bound on 2 cores (GX's import alone is 5-14 s per validate task). It has one
# deadline of its own, checked by every wait so that a stuck backfill fails naming its runs; the
# pytest-timeout above it is only the backstop for a hang outside those waits.
TEST_DEADLINE_S = 2100
pytestmark = [pytest.mark.integration, pytest.mark.timeout(TEST_DEADLINE_S + 300)]

ORDERS, ORDERS_DAG = "sales.customer_orders", "sales__customer_orders"
REVENUE, REVENUE_DAG = "finance.monthly_revenue", "finance__monthly_revenue"
ADS_DAG = "marketing__ads_performance"
FIRST_DAY = date(2026, 10, 25)  # 14 days across a month end: two affected months
DAYS = [FIRST_DAY + timedelta(days=n) for n in range(14)]
MONTHS = sorted({d.strftime("%Y-%m") for d in DAYS})
NOT_REVENUE = {"cancelled", "returned"}


def _backfill(airflow, *dag_ids: str, deadline: float, reprocess: str = "none") -> dict[str, list[dict]]:
    """Backfill DAYS for each DAG at once, wait until the scheduler completed them; their runs, by day.

    The backfills are created while the scheduler, dag-processor and triggerer are stopped, so the
    api-server is the database's only writer. On SQLite, Airflow's backfill creation races them: the
    API's transaction hits "database is locked" (a 503) after inserting some runs and deletes them
    again (best effort: a backfill was once left with 3 of its 14 runs), while the scheduler, creating
    task instances for such a run, fails on the foreign key and then crashes in its own error handler
    (`ObjectDeletedError` in `_schedule_all_dag_runs`, seen in CI). Airflow supports SQLite for
    development only; this test checks the platform's partition rebuilds, so the race is taken out.
    """
    writers = ("scheduler", "dag-processor", "triggerer")
    airflow.stop_components(writers)
    try:
        created = {dag_id: _create_backfill(airflow, dag_id, reprocess) for dag_id in dag_ids}
    finally:
        for name in writers:
            airflow.restart(name)
    for dag_id, backfill_id in created.items():
        _wait_completed(airflow, backfill_id, deadline, dag_id)
    return {dag_id: _runs(airflow, dag_id) for dag_id in dag_ids}


def _create_backfill(airflow, dag_id: str, reprocess: str) -> int:
    """POST the backfill (what `airflow backfill create` and the UI's "Backfill" do); its id."""
    body = {
        "dag_id": dag_id,
        "from_date": f"{DAYS[0]}T00:00:00Z",
        "to_date": f"{DAYS[-1]}T00:00:00Z",
        "max_active_runs": 2,  # bounded for a 2-core machine; runs of different days race on commits
        "reprocess_behavior": reprocess,
    }
    answer = requests.post(f"{airflow.url}/api/v2/backfills", json=body, timeout=60, headers=_auth(airflow))
    assert answer.status_code == 200, f"backfill of {dag_id} not created: {answer.status_code} {answer.text}"
    return answer.json()["id"]


def _wait_completed(airflow, backfill_id: int, deadline: float, dag_id: str) -> None:
    """Until the scheduler marks the backfill complete (all its runs finished), or the deadline."""
    while not airflow.api("GET", f"/backfills/{backfill_id}").get("completed_at"):
        assert time.monotonic() < deadline, f"backfill of {dag_id} not complete: {_runs(airflow, dag_id)}"
        airflow.check_alive()
        time.sleep(5)


def _quiesce_consumer(airflow, deadline: float) -> None:
    """Finance paused (no Asset-triggered runs), with no run of an earlier test left to finish and no
    Asset event of an earlier test left queued: the Asset events of the session's earlier mesh runs
    (of today's month) would otherwise start a run of that month once finance is unpaused (seen in CI:
    a '2026-12' publication among the rebuilt months)."""
    airflow.api("PATCH", f"/dags/{REVENUE_DAG}", json={"is_paused": True})
    active = {"queued", "running"}
    for _ in range(2):  # again after a scheduler loop: a run it created as the pause landed is seen
        while busy := [r["dag_run_id"] for r in airflow.runs(REVENUE_DAG) if r["state"] in active]:
            assert time.monotonic() < deadline, f"{REVENUE_DAG}: earlier runs never finished: {busy}"
            airflow.check_alive()
            time.sleep(5)
        answer = requests.delete(
            f"{airflow.url}/api/v2/dags/{REVENUE_DAG}/assets/queuedEvents", headers=_auth(airflow), timeout=30
        )
        assert answer.status_code in (204, 404), answer.text  # 404: nothing was queued
        time.sleep(5)


def _auth(airflow) -> dict[str, str]:
    return {"Authorization": f"Bearer {airflow.token}"}


def _runs(airflow, dag_id: str) -> list[dict]:
    runs = airflow.api("GET", f"/dags/{dag_id}/dagRuns", params={"limit": 100})["dag_runs"]
    days = {d.isoformat() for d in DAYS}
    backfilled = [r for r in runs if r["run_type"] == "backfill" and r["logical_date"][:10] in days]
    return sorted(backfilled, key=lambda r: r["logical_date"])


def _publications(product_id: str, run_ids: set[str] | None = None) -> list:
    found = MetadataStore().list_publications(product_id, limit=500)
    return [p for p in found if run_ids is None or p.run_id in run_ids]


def _expected_orders(demo_sources, day: date) -> int:
    from demo.datasets import orders_day

    return len(orders_day(42, 1, day.isoformat()))  # the demo_sources fixture's seed and scale


def _assert_partitions_hold_the_source(demo_sources) -> None:
    store = product_storage(get_product(ORDERS))
    latest = store.version()
    for day in DAYS:
        table = store.read_table(latest, window_of("day", day), columns=["order_id", "order_date"])
        ids = table.column("order_id").to_pylist()
        assert len(ids) == _expected_orders(demo_sources, day), day
        assert len(set(ids)) == len(ids), f"{day}: duplicate order ids"
        assert set(table.column("order_date").to_pylist()) == {day}


def test_backfill_rebuilds_each_day_idempotently_and_each_month_once(airflow_server, demo_sources):
    airflow = airflow_server
    started = time.monotonic()
    deadline = started + TEST_DEADLINE_S
    demo_sources.clear_faults()
    airflow.wait_for_dags([ORDERS_DAG, ADS_DAG, REVENUE_DAG])
    _quiesce_consumer(airflow, deadline)
    since = datetime.now(UTC)
    airflow.unpause(ORDERS_DAG)
    airflow.unpause(ADS_DAG)

    # 1. the backfill of both of finance's inputs: one run per day, each publishing its day
    backfilled = _backfill(airflow, ORDERS_DAG, ADS_DAG, deadline=deadline)
    assert all(r["state"] == "success" for r in backfilled[ADS_DAG]), backfilled[ADS_DAG]
    assert len(backfilled[ADS_DAG]) == len(DAYS)
    first = backfilled[ORDERS_DAG]
    assert [r["logical_date"][:10] for r in first] == [d.isoformat() for d in DAYS]
    assert all(r["state"] == "success" for r in first), [(r["dag_run_id"], r["state"]) for r in first]
    published = _publications(ORDERS, {r["dag_run_id"] for r in first})
    assert sorted(p.partition for p in published) == [d.isoformat() for d in DAYS]
    assert len({p.version for p in published}) == len(DAYS)  # one version each, none lost
    for p in published:
        assert p.rows == _expected_orders(demo_sources, date.fromisoformat(p.partition)), p.partition
    _assert_partitions_hold_the_source(demo_sources)

    # 2. the same backfill again, reprocessing the completed runs: new versions, no duplicate row
    second = _backfill(airflow, ORDERS_DAG, deadline=deadline, reprocess="completed")[ORDERS_DAG]
    assert [r["dag_run_id"] for r in second] == [r["dag_run_id"] for r in first]  # the same runs, cleared
    assert all(r["state"] == "success" for r in second)
    republished = _publications(ORDERS, {r["dag_run_id"] for r in first})
    assert len(republished) == 2 * len(DAYS)
    newest = {p.partition: p for p in sorted(republished, key=lambda p: p.version)}
    assert min(p.version for p in newest.values()) > max(p.version for p in published)
    assert all(p.rows == _expected_orders(demo_sources, date.fromisoformat(k)) for k, p in newest.items())
    _assert_partitions_hold_the_source(demo_sources)

    # 3. finance: Airflow will not backfill an Asset-scheduled DAG, and the paused consumer got no runs
    refused = requests.post(
        f"{airflow.url}/api/v2/backfills",
        headers=_auth(airflow),
        json={"dag_id": REVENUE_DAG, "from_date": f"{DAYS[0]}T00:00:00Z", "to_date": f"{DAYS[-1]}T00:00:00Z"},
        timeout=30,
    )
    assert refused.status_code >= 400 and "non-periodic schedule" in refused.text, refused.text
    revenue_runs = airflow.api("GET", f"/dags/{REVENUE_DAG}/dagRuns", params={"limit": 100})["dag_runs"]
    after = [
        r for r in revenue_runs if datetime.fromisoformat(r["run_after"].replace("Z", "+00:00")) >= since
    ]
    assert not after, f"a paused consumer ran: {after}"

    # ... so each affected month is rebuilt once, by one run with the partition param
    airflow.unpause(REVENUE_DAG)
    month_runs = {month: airflow.trigger(REVENUE_DAG, {"partition": month}) for month in MONTHS}
    for month, run_id in month_runs.items():
        run = airflow.wait_for_run(
            REVENUE_DAG,
            lambda r, run_id=run_id: r["dag_run_id"] == run_id,
            timeout=max(60.0, deadline - time.monotonic()),
        )
        assert run["state"] == "success", (month, run)
    rebuilt = [p for p in _publications(REVENUE) if p.published_at.replace(tzinfo=UTC) >= since]
    assert sorted(p.partition for p in rebuilt) == MONTHS  # each month once, nothing else

    orders = product_storage(get_product(ORDERS))
    revenue = product_storage(get_product(REVENUE))
    for month in MONTHS:
        window = window_of("month", date.fromisoformat(f"{month}-01"))
        sold = orders.read_table(orders.version(), window, columns=["order_date", "status"]).to_pylist()
        assert {r["order_date"] for r in sold} >= {d for d in DAYS if d.strftime("%Y-%m") == month}
        columns = ["month", "orders", "marketing_spend"]
        rows = revenue.read_table(revenue.version(), window, columns=columns).to_pylist()
        assert {r["month"] for r in rows} == {month} and sum(r["marketing_spend"] for r in rows) > 0
        assert sum(r["orders"] for r in rows) == sum(r["status"] not in NOT_REVENUE for r in sold), month
    print(
        f"backfill test: {time.monotonic() - started:.0f} s for 2 x {len(DAYS)} days + {len(MONTHS)} months"
    )
