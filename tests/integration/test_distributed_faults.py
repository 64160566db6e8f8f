"""Faults on the distributed topology: nothing lost, nothing partial.

One topology for the whole module (`start_cluster`: CeleryExecutor, two workers, Redis, Airflow's
database and the platform's on PostgreSQL, the products on moto's S3), started by the test itself so
that it can SIGKILL a worker and start it again. The platform reaches PostgreSQL and S3 through
TCP proxies of the test's own (`tcp_proxy.TcpProxy`): "the database refuses connections" and "the
S3 endpoint goes away" happen to the platform's connections only, never to the machine's shared
PostgreSQL (Airflow's own database and this process's reads go straight to it). moto keeps its
buckets in memory, so a real restart of it would lose every object: the S3 fault closes the
proxy's listening socket and resets its open connections instead, which is what the platform sees
of an endpoint that restarts.

Each fault is a test, run on its own partition of a producer (sales or marketing), checking:
the run ends as it should (Airflow's retries), exactly the expected versions exist (Iceberg
snapshots numbered by the platform), the current snapshot references only committed files, no
uncommitted data file is left in the table's folder, and the rows of the partition are unique.
Settings that make faults show quickly: task heartbeat timeout 20 s (a SIGKILLed worker's task is
failed by the scheduler then, default 300 s), retries 3, 10 s apart.

The figures (times, tries, hosts, versions) go to test-artifacts/distributed-faults.json.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psutil
import pytest

from tests.integration.distributed_support import Cluster, apply_env, start_cluster

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
SALES, SALES_ID = "sales__customer_orders", "sales.customer_orders"
ADS, ADS_ID = "marketing__ads_performance", "marketing.ads_performance"
TODAY = datetime.now(UTC).date()
DAY = [(TODAY - timedelta(days=n)).isoformat() for n in range(5)]  # DAY[1] is the scheduled partition
EXTRA_ENV = {
    "DATA_MESH_TASK_RETRIES": "3",
    "DATA_MESH_TASK_RETRY_DELAY_SECONDS": "10",
    "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": "20",
    "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT_DETECTION_INTERVAL": "5",
}
RUN_TIMEOUT = 240
FIGURES: dict[str, Any] = {}


@pytest.fixture(scope="module")
def mesh(session_dir) -> Iterator[Cluster]:
    artifacts = REPO / "test-artifacts"
    artifacts.mkdir(exist_ok=True)
    started = time.monotonic()
    with (
        start_cluster(session_dir / "distributed-faults", artifacts / "faults.log", EXTRA_ENV) as cluster,
        pytest.MonkeyPatch.context() as patch,
    ):
        apply_env(patch, cluster.reader_env)
        cluster.api.wait_for_dags([SALES, ADS])
        cluster.api.unpause(ADS)  # its scheduled run (DAY[1]) is the version the readers' test starts from
        FIGURES["startup_s"] = round(time.monotonic() - started, 1)
        try:
            yield cluster
        finally:
            FIGURES["module_s_until_teardown"] = round(time.monotonic() - started, 1)
            (artifacts / "distributed-faults.json").write_text(json.dumps(FIGURES, indent=1, default=str))
            print("\ndistributed faults:", json.dumps(FIGURES, indent=1, default=str))


# ---- helpers ---------------------------------------------------------------------------------
def wait_for(check: Callable[[], Any], timeout: float, what: str, every: float = 0.3) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if found := check():
            return found
        time.sleep(every)
    raise TimeoutError(f"{what}: not after {timeout:.0f}s")


def task_instances(mesh: Cluster, dag_id: str, run_id: str) -> dict[str, dict]:
    found = mesh.api.api("GET", f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances")["task_instances"]
    return {ti["task_id"]: ti for ti in found}


def tries(mesh: Cluster, dag_id: str, run_id: str, task_id: str) -> list[dict]:
    path = f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/tries"
    return sorted(mesh.api.api("GET", path)["task_instances"], key=lambda t: t["try_number"])


def task_state(mesh: Cluster, dag_id: str, run_id: str, task_id: str) -> str | None:
    return task_instances(mesh, dag_id, run_id).get(task_id, {}).get("state")


def finished_run(mesh: Cluster, dag_id: str, run_id: str) -> dict:
    return mesh.api.wait_for_run(dag_id, lambda r: r["dag_run_id"] == run_id, timeout=RUN_TIMEOUT)


def task_log(mesh: Cluster, dag_id: str, run_id: str, task_id: str, try_number: int) -> list[dict]:
    """A try's log lines as the REST API serves them (structured: event, level, error_detail ...)."""
    path = f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/logs/{try_number}"
    content = mesh.api.api("GET", path, params={"full_content": "true"}).get("content", [])
    return [line if isinstance(line, dict) else {"event": str(line)} for line in content]


def task_error(lines: list[dict]) -> str:
    """The exception that ended the try, "Type: message", from its log (empty when none)."""
    for line in reversed(lines):
        for detail in reversed(line.get("error_detail") or []):
            return f"{detail.get('exc_type')}: {detail.get('exc_value')}"
    return ""


def storage(product_id: str):
    from data_mesh.contract.registry import get_product
    from data_mesh.storage.products import product_storage

    return product_storage(get_product(product_id))


def history(product_id: str) -> list:
    return storage(product_id).history()


def catalog_location(mesh: Cluster, product_id: str) -> str | None:
    """The table's metadata location as the Iceberg catalog holds it (read straight from PostgreSQL)."""
    import sqlalchemy as sa

    from data_mesh.storage.catalog import CATALOG_NAME

    domain, name = product_id.split(".")
    query = sa.text(
        "SELECT metadata_location FROM iceberg_tables WHERE catalog_name = :c "
        "AND table_namespace = :ns AND table_name = :t"
    )
    with _platform_engine(mesh).connect() as conn:
        return conn.execute(query, {"c": CATALOG_NAME, "ns": domain, "t": name}).scalar()


_engines: dict[str, Any] = {}


def _platform_engine(mesh: Cluster):
    import sqlalchemy as sa

    url = mesh.topology.database_url(mesh.topology.platform_db)
    if url not in _engines:
        _engines[url] = sa.create_engine(url, pool_size=1)
    return _engines[url]


def assert_nothing_partial(product_id: str, partition: str) -> dict[str, Any]:
    """The current version reads whole, references committed files only, leaves no orphan data file,
    and the partition's rows are unique by the primary key. Returns figures."""
    import pyarrow.compute as pc
    from pyarrow.fs import FileSelector

    from data_mesh.storage.files import filesystem

    store = storage(product_id)
    versions = store.history()
    current = store.version()
    committed = {v.summary.get("data-mesh.staged-file") for v in versions}
    live = store.data_files(current)
    assert set(live) <= committed, f"files no version committed: {set(live) - committed}"
    referenced = {f for v in versions for f in store.data_files(v)}
    fs, root = filesystem(f"{store.uri}/data/")
    on_storage = {
        f"{store.uri.split('://')[0]}://{info.path}"
        for info in fs.get_file_info(FileSelector(root, recursive=True))
        if info.type.name == "File"
    }
    assert on_storage - referenced == set(), f"orphan data files left: {on_storage - referenced}"
    table = store.read_table(current)
    assert table.num_rows == current.rows
    rows = table.filter(pc.equal(pc.cast(table.column(store.spec.partitioning.column), "string"), partition))
    assert rows.num_rows > 0, f"{product_id}: partition {partition} is empty"
    keys = list(store.spec.primary_key)
    assert rows.group_by(keys).aggregate([]).num_rows == rows.num_rows, f"{partition}: duplicate rows"
    return {"versions": [v.version for v in versions], "rows": current.rows, "partition_rows": rows.num_rows}


def kill_tree(process: psutil.Process) -> list[int]:
    """SIGKILL a process and every descendant at once (a machine or a container lost)."""
    procs = [process, *process.children(recursive=True)]
    for proc in procs:
        with contextlib.suppress(psutil.NoSuchProcess):
            proc.kill()
    psutil.wait_procs(procs, timeout=10)
    return [p.pid for p in procs]


# ---- faults ----------------------------------------------------------------------------------
def test_two_runs_of_one_partition_at_once(mesh):
    """A manual run and the scheduled one of the same partition: one after the other (max_active_runs=1),
    two versions, no duplicate row, nothing lost."""
    api = mesh.api
    manual = api.trigger(SALES, {"partition": DAY[1]})
    api.unpause(SALES)  # the scheduler creates the run of the latest interval: DAY[1] as well

    def scheduled() -> str | None:
        return next((r["dag_run_id"] for r in api.runs(SALES) if r["run_type"] == "scheduled"), None)

    scheduled_id = wait_for(scheduled, 60, "the scheduled run of sales")
    runs = {run_id: finished_run(mesh, SALES, run_id) for run_id in (manual, scheduled_id)}
    assert {r["state"] for r in runs.values()} == {"success"}, runs
    first, second = sorted(runs.values(), key=lambda r: r["start_date"])
    assert second["start_date"] >= first["end_date"], "max_active_runs=1: they did not overlap"
    versions = history(SALES_ID)
    by_run = {v.run_id: v for v in versions}
    assert set(by_run) == {manual, scheduled_id}, versions
    assert sorted(v.version for v in versions) == [1, 2]
    assert {v.changed_partition for v in versions} == {DAY[1]}
    assert versions[-1].rows == versions[0].rows, "the second run replaced the partition, not appended"
    FIGURES["two_runs"] = {
        "order": [first["run_type"], second["run_type"]],
        "second_waited_s": (
            datetime.fromisoformat(second["start_date"]) - datetime.fromisoformat(second["queued_at"])
        ).total_seconds(),
        **assert_nothing_partial(SALES_ID, DAY[1]),
    }


def test_readers_during_a_publish_see_the_old_or_the_new_version(mesh):
    api = mesh.api
    baseline = wait_for(
        lambda: next((r for r in api.runs(ADS) if r["run_type"] == "scheduled"), None), 60, "ads' first run"
    )
    assert finished_run(mesh, ADS, baseline["dag_run_id"])["state"] == "success"
    old = storage(ADS_ID).version()
    run_id = api.trigger(ADS, {"partition": DAY[2]})
    seen: list[tuple[float, int, int, int]] = []  # (time, version, rows in its summary, rows read)
    done = threading.Event()

    def read() -> None:
        while not done.is_set():
            store = storage(ADS_ID)
            version = store.version()
            seen.append((time.time(), version.version, version.rows, store.read_table(version).num_rows))

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        run = finished_run(mesh, ADS, run_id)
    finally:
        done.set()
        reader.join(60)
    assert run["state"] == "success", run
    new = storage(ADS_ID).version()
    assert new.version == old.version + 1 and new.rows > old.rows
    assert {(v, read) for _, v, _, read in seen} <= {(old.version, old.rows), (new.version, new.rows)}
    assert all(summary == read for _, _, summary, read in seen)
    versions = [v for _, v, _, _ in seen]
    assert versions == sorted(versions), "a reader went back to the old version after seeing the new one"
    publish = task_instances(mesh, ADS, run_id)["publish"]
    start, end = (datetime.fromisoformat(publish[k]).timestamp() for k in ("start_date", "end_date"))
    during = [s for s in seen if start <= s[0] <= end]
    assert len(during) >= 3, f"only {len(during)} reads while publish ran"
    assert {old.version, new.version} <= set(versions)
    FIGURES["readers"] = {
        "reads": len(seen),
        "reads_during_publish": len(during),
        "publish_s": round(end - start, 1),
        "old": [old.version, old.rows],
        "new": [new.version, new.rows],
        **assert_nothing_partial(ADS_ID, DAY[2]),
    }


def new_versions(product_id: str, before: list) -> list:
    known = {v.version for v in before}
    return [v for v in history(product_id) if v.version not in known]


def asset_events(mesh: Cluster, dag_id: str, run_id: str) -> list[dict]:
    params = {"source_dag_id": dag_id, "source_run_id": run_id, "limit": 100}
    return mesh.api.api("GET", "/assets/events", params=params)["asset_events"]


def test_a_worker_sigkilled_in_the_middle_of_a_publish(mesh):
    """The worker running `publish` is SIGKILLed (with its task processes) just after the commit
    reached the catalog and before the task ended: the scheduler fails the task when its heartbeat
    stops, the retry finds its own commit (same run, same staged file) and does not publish again."""
    before = history(SALES_ID)
    run_id = mesh.api.trigger(SALES, {"partition": DAY[2]})
    wait_for(lambda: task_state(mesh, SALES, run_id, "validate") == "success", RUN_TIMEOUT, "validate")
    location = catalog_location(mesh, SALES_ID)
    mesh.s3_proxy.delay(0.5)  # the publish's S3 calls are slower: the kill lands inside the task
    try:

        def running() -> dict | None:
            ti = task_instances(mesh, SALES, run_id)["publish"]
            return ti if ti["state"] == "running" and ti.get("hostname") else None

        publish = wait_for(running, 120, "publish running")
        wait_for(lambda: catalog_location(mesh, SALES_ID) != location, 120, "the commit", every=0.05)
        worker = mesh.worker_of(publish["hostname"])
        killed_at = datetime.now(UTC)
        killed = kill_tree(psutil.Process(mesh.airflow.processes[worker].pid))
    finally:
        mesh.s3_proxy.delay(0)
    assert task_state(mesh, SALES, run_id, "publish") == "running", "the task had ended before the kill"
    mesh.airflow.restart(worker)  # the topology has two workers again for the next tests
    run = finished_run(mesh, SALES, run_id)
    assert run["state"] == "success", run
    publishes = tries(mesh, SALES, run_id, "publish")
    assert [t["state"] for t in publishes][-1] == "success" and len(publishes) == 2, publishes
    added = new_versions(SALES_ID, before)
    assert [(v.run_id, v.changed_partition) for v in added] == [(run_id, DAY[2])], added
    assert len(asset_events(mesh, SALES, run_id)) == 1, "one Asset event for the one version"
    retry_start = datetime.fromisoformat(publishes[1]["start_date"])
    FIGURES["worker_killed"] = {
        "killed": f"{publish['hostname']} ({len(killed)} processes) while publish try 1 ran",
        "tries": [(t["try_number"], t["hostname"], t["state"]) for t in publishes],
        "kill_to_retry_start_s": round((retry_start - killed_at).total_seconds(), 1),
        "new_versions": [v.version for v in added],
        **assert_nothing_partial(SALES_ID, DAY[2]),
    }


def test_the_s3_endpoint_goes_away_during_a_publish(mesh):
    """S3 stops answering (listening socket closed, open connections reset) for OUTAGE s while the
    publish writes: the publish fails and is retried (or rides it out on the S3 client's own
    retries); one version, nothing partial."""
    outage = 8.0
    before = history(ADS_ID)
    run_id = mesh.api.trigger(ADS, {"partition": DAY[3]})
    wait_for(lambda: task_state(mesh, ADS, run_id, "validate") == "success", RUN_TIMEOUT, "validate")
    mesh.s3_proxy.delay(0.3)
    accepted = mesh.s3_proxy.accepted
    try:
        wait_for(lambda: task_state(mesh, ADS, run_id, "publish") == "running", 120, "publish running")
        wait_for(lambda: mesh.s3_proxy.accepted > accepted, 120, "the publish's S3 connection", every=0.05)
        time.sleep(0.5)
        mesh.s3_proxy.refuse()
        cut = mesh.s3_proxy.cut
        time.sleep(outage)
    finally:
        mesh.s3_proxy.delay(0)
        mesh.s3_proxy.restore()
    run = finished_run(mesh, ADS, run_id)
    assert run["state"] == "success", run
    publishes = tries(mesh, ADS, run_id, "publish")
    added = new_versions(ADS_ID, before)
    assert [(v.run_id, v.changed_partition) for v in added] == [(run_id, DAY[3])], added
    assert len(asset_events(mesh, ADS, run_id)) == 1
    error = task_error(task_log(mesh, ADS, run_id, "publish", 1)) if len(publishes) > 1 else ""
    if len(publishes) > 1:  # failed on the outage: with the S3 client's own words, not a hang
        assert error, "try 1 failed without an exception in its log"
    FIGURES["s3_outage"] = {
        "outage_s": outage,
        "connections_reset": cut,
        "tries": [(t["try_number"], t["hostname"], t["state"]) for t in publishes],
        "try1_error": error[:400],
        "new_versions": [v.version for v in added],
        **assert_nothing_partial(ADS_ID, DAY[3]),
    }


def test_postgres_refuses_connections_for_30s_during_a_run(mesh):
    """The platform's database (metadata store and Iceberg catalog) refuses connections for 30 s from
    the moment validation passed: publish fails with the database's own message and is retried; the
    previous version is served meanwhile; the listener's records of the failed tries are spooled
    and written once the database is back."""
    from data_mesh.metadata import spool
    from data_mesh.metadata.store import MetadataStore

    outage = 30.0
    before = history(SALES_ID)
    spool_dir = Path(mesh.airflow.env["DATA_MESH_STAGING_ROOT"]) / "_listener_spool"
    run_id = mesh.api.trigger(SALES, {"partition": DAY[3]})
    wait_for(lambda: task_state(mesh, SALES, run_id, "validate") == "success", RUN_TIMEOUT, "validate")
    mesh.pg_proxy.refuse()
    refused_at = time.monotonic()
    spooled = 0
    try:
        served = storage(SALES_ID).version()  # this process reads PostgreSQL directly
        assert served.version == before[-1].version
        while time.monotonic() - refused_at < outage:
            spooled = max(spooled, len(list(spool_dir.glob("*.json"))) if spool_dir.is_dir() else 0)
            time.sleep(0.5)
    finally:
        mesh.pg_proxy.restore()
    run = finished_run(mesh, SALES, run_id)
    assert run["state"] == "success", run
    publishes = tries(mesh, SALES, run_id, "publish")
    assert len(publishes) >= 2 and publishes[-1]["state"] == "success", publishes
    first_log = task_log(mesh, SALES, run_id, "publish", 1)
    error = task_error(first_log)
    assert "OperationalError" in error and "Connection refused" in error, error
    assert any("metadata store unreachable" in line.get("event", "") for line in first_log)
    added = new_versions(SALES_ID, before)
    assert [(v.run_id, v.changed_partition) for v in added] == [(run_id, DAY[3])], added

    # the listener's records: every try Airflow ran is in the store, with its final state
    assert spooled >= 1, "the outage should have spooled task-run records"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DATA_MESH_LISTENER_SPOOL", str(spool_dir))
        assert spool.pending() == 0, list(spool_dir.iterdir())
    store = MetadataStore(mesh.topology.database_url(mesh.topology.platform_db))
    recorded = {
        (r.task_id, r.try_number): r.state
        for r in store.list_task_runs(SALES, limit=500)
        if r.run_id == run_id
    }
    ran = {
        (task_id, t["try_number"]): t["state"]
        for task_id in ("fetch", "transform", "validate", "publish", "cleanup")
        for t in tries(mesh, SALES, run_id, task_id)
    }
    assert set(recorded) == set(ran), (recorded, ran)
    assert "running" not in recorded.values(), recorded
    published = {p.version for p in store.list_publications(SALES_ID, limit=100)}
    assert published == {v.version for v in history(SALES_ID)}, "a version without its publication"
    FIGURES["postgres_outage"] = {
        "outage_s": outage,
        "tries": [(t["try_number"], t["hostname"], t["state"]) for t in publishes],
        "try1_error": error[:400],
        "spooled_max": spooled,
        "new_versions": [v.version for v in added],
        **assert_nothing_partial(SALES_ID, DAY[3]),
    }
