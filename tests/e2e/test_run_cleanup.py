"""A product run leaves none of its raw data behind, whatever its outcome (the `cleanup` teardown).

Each test runs a product DAG for real with dag.test() against the demo sources, with bad data or a
fault injected, and then looks at the disk: the run's staging folder, the table's data folder and
the quarantine.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from data_mesh.contract.registry import get_product
from data_mesh.pipeline.context import RunInfo, staging_dir
from data_mesh.storage.products import product_storage
from tests.e2e.conftest import DAY, MONTH, run_dag


def task_states(run) -> dict[str, str]:
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        tis = session.scalars(
            select(TaskInstance).where(TaskInstance.dag_id == run.dag_id, TaskInstance.run_id == run.run_id)
        )
        return {ti.task_id: str(ti.state) for ti in tis}


def run_staging(product_id: str, run) -> Path:
    return staging_dir(get_product(product_id), RunInfo(dag_id=run.dag_id, run_id=run.run_id))


def table_files(store) -> set[str]:
    """Every Parquet file in the table's data folder."""
    data = Path(store.uri.removeprefix("file://")) / "data"
    return {str(p) for p in data.rglob("*.parquet")}


def held_files(store) -> set[str]:
    """The data files of every kept version of the table."""
    return {f.removeprefix("file://") for v in store.history() for f in store.data_files(v)}


def uncommitted(store) -> set[str]:
    return table_files(store) - held_files(store)


@pytest.fixture
def staged_files(monkeypatch) -> list[str]:
    """The files validation stages in product storage during the test (recorded, not changed)."""
    from data_mesh.storage.iceberg import IcebergProduct

    staged: list[str] = []
    original = IcebergProduct.stage

    def stage(self, table, partition):
        result = original(self, table, partition)
        staged.append(result.file.removeprefix("file://"))
        return result

    monkeypatch.setattr(IcebergProduct, "stage", stage)
    return staged


@pytest.fixture
def staging_seen(monkeypatch) -> list[list[Path]]:
    """What the run's staging folder held when its cleanup started (one list per cleanup)."""
    from data_mesh.pipeline import cleanup

    seen: list[list[Path]] = []
    original = cleanup.cleanup_run

    def recording(spec, run, staged=None, **kwargs):
        seen.append(sorted(p for p in staging_dir(spec, run).rglob("*") if p.is_file()))
        return original(spec, run, staged, **kwargs)

    monkeypatch.setattr(cleanup, "cleanup_run", recording)
    return seen


def test_successful_run_removes_staging_and_keeps_the_published_data(
    dagbag, producers_published, staged_files
):
    store = product_storage(get_product("marketing.ads_performance"))
    before = store.read_table(store.version()).to_pandas()
    run = run_dag(dagbag, "marketing__ads_performance", DAY)
    assert run.state == "success"
    assert not run_staging("marketing.ads_performance", run).exists()
    latest = store.version()
    assert latest.run_id == run.run_id
    # the committed file the run staged is still there, the table reads the same rows, nothing is stray
    assert len(staged_files) == 1 and staged_files[0] in held_files(store)
    assert all(os.path.exists(f.removeprefix("file://")) for f in store.data_files(latest))
    after = store.read_table(latest).to_pandas()
    key = ["date", "campaign_id", "channel"]
    assert after.sort_values(key, ignore_index=True).equals(before.sort_values(key, ignore_index=True))
    assert uncommitted(store) == set()
    tasks = ("fetch", "transform", "validate", "publish", "cleanup")
    assert task_states(run) == dict.fromkeys(tasks, "success")
    # a started run outranks new runs' fetches: each step weighs more than the one before it
    weights = {ti.task_id: ti.priority_weight for ti in run.get_task_instances()}
    assert [weights[t] for t in tasks] == sorted(weights[t] for t in tasks)
    assert weights["cleanup"] > weights["fetch"]


def test_quarantined_run_leaves_no_staging_nor_staged_file_and_prunes_old_quarantine(
    dagbag, producers_published, demo_sources, staged_files, staging_seen
):
    product = "marketing.ads_performance"
    store = product_storage(get_product(product))
    before_version, stray_before = store.version().version, uncommitted(store)
    quarantine = Path(os.environ["DATA_MESH_QUARANTINE_ROOT"]) / product
    old = quarantine / "2026-10-01" / "manual__old_run"  # a batch quarantined 30 days ago
    old.mkdir(parents=True)
    (old / "report.json").write_text("{}")
    month_ago = time.time() - 30 * 86_400
    for path in (old / "report.json", old):
        os.utime(path, (month_ago, month_ago))
    demo_sources.set_fault("ads", "out_of_range", count=-1)  # passes the contract, fails the GX suite
    try:
        run = run_dag(dagbag, "marketing__ads_performance", DAY)
    finally:
        demo_sources.clear_faults()
    assert run.state == "failed"  # the teardown succeeded; the run still follows its work tasks
    assert not run_staging(product, run).exists()
    # the cleanup had the raw pages and the transform's output to remove
    assert any(p.suffix == ".ndjson" for p in staging_seen[0])
    assert any(p.name == "transformed.parquet" for p in staging_seen[0])
    # the partition file staged while GX ran is gone, and the table is as it was
    assert len(staged_files) == 1 and not os.path.exists(staged_files[0])
    assert uncommitted(store) == stray_before
    assert store.version().version == before_version
    # this run's batch is kept for the domain team; the month-old one is pruned, its partition too
    assert (quarantine / DAY / RunInfo(run.dag_id, run.run_id).folder_name / "report.json").exists()
    assert not old.exists() and not old.parent.exists()
    states = task_states(run)
    assert states["validate"] == "failed" and states["publish"] == "upstream_failed"
    assert states["cleanup"] == "success"


def test_failed_fetch_leaves_no_staging(dagbag, demo_sources, staging_seen):
    # the ledger CSV is fetched, then World Bank asks for a Retry-After beyond the limit: fetch fails
    demo_sources.set_fault("worldbank", "rate_limit", count=-1, retry_after=100_000)
    try:
        run = run_dag(dagbag, "finance__monthly_revenue", MONTH)
    finally:
        demo_sources.clear_faults()
    assert run.state == "failed"
    assert not run_staging("finance.monthly_revenue", run).exists()
    assert any("ledger" in str(p) for p in staging_seen[0])  # raw data was on disk when cleanup began
    states = task_states(run)
    assert states["fetch"] == "failed" and states["transform"] == "upstream_failed"
    assert states["cleanup"] == "success"


def test_failed_publish_discards_the_staged_file(dagbag, producers_published, staged_files, monkeypatch):
    from data_mesh.storage.iceberg import IcebergProduct

    store = product_storage(get_product("sales.customer_orders"))
    before = store.version()
    stray_before = uncommitted(store)

    def unavailable(self, *args, **kwargs):
        raise ConnectionError("catalog unavailable")

    monkeypatch.setattr(IcebergProduct, "commit", unavailable)
    run = run_dag(dagbag, "sales__customer_orders", DAY)
    assert run.state == "failed"
    assert len(staged_files) == 1 and not os.path.exists(staged_files[0])  # validated, never committed
    assert uncommitted(store) == stray_before
    assert not run_staging("sales.customer_orders", run).exists()
    assert store.version().version == before.version
    assert store.read_table(store.version()).num_rows == before.rows
    states = task_states(run)
    assert states["validate"] == "success" and states["publish"] == "failed"
    assert states["cleanup"] == "success"


def test_a_cleanup_error_fails_only_the_teardown(dagbag, producers_published, monkeypatch):
    from data_mesh.pipeline import cleanup

    def denied(spec, run, result):
        raise PermissionError("staging folder: permission denied")

    monkeypatch.setattr(cleanup, "_remove_staging", denied)
    run = run_dag(dagbag, "marketing__ads_performance", DAY)
    assert run.state == "success"  # the publication stands
    states = task_states(run)
    assert states["publish"] == "success" and states["cleanup"] == "failed"


def test_a_publish_retry_still_finds_its_staged_file(producers_published, staged_files, monkeypatch):
    """The teardown waits for the work tasks' retries: a retried publish commits the file validate staged."""
    from data_mesh.pipeline.dags import build_product_dag
    from data_mesh.storage.iceberg import IcebergProduct

    monkeypatch.setenv("DATA_MESH_TASK_RETRIES", "1")
    monkeypatch.setenv("DATA_MESH_TASK_RETRY_DELAY_SECONDS", "0")
    dag = build_product_dag(get_product("marketing.ads_performance"))
    store = product_storage(get_product("marketing.ads_performance"))
    before = store.version().version
    original, calls = IcebergProduct.commit, []

    def flaky(self, *args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            raise ConnectionError("catalog unavailable (first try only)")
        return original(self, *args, **kwargs)

    monkeypatch.setattr(IcebergProduct, "commit", flaky)
    run = dag.test(run_conf={"partition": DAY})
    assert run.state == "success" and len(calls) == 2
    latest = store.version()
    assert latest.version == before + 1 and latest.run_id == run.run_id
    assert len(staged_files) == 1 and staged_files[0] in held_files(store)
    assert not run_staging("marketing.ads_performance", run).exists()
    assert task_states(run)["cleanup"] == "success"
