"""The listener records the task tries of mesh DAGs during dag.test(), and never harms a task."""

from __future__ import annotations

import threading
import time
import uuid

import pytest

from data_mesh.metadata.listener import DataMeshListener, is_mesh_dag
from data_mesh.metadata.store import MetadataStore


def _managers():
    from airflow.listeners.listener import get_listener_manager as core_manager
    from airflow.sdk.listener import get_listener_manager as sdk_manager

    return [sdk_manager(), core_manager()]


@pytest.fixture
def register():
    added = []

    def add(listener):
        for manager in _managers():
            manager.add_listener(listener)
            added.append((manager, listener))
        return listener

    yield add
    for manager, listener in added:
        if manager.pm.is_registered(listener):
            manager.pm.unregister(listener)


def _plugin_listener_registered() -> bool:
    from data_mesh.metadata.listener import listener

    return any(m.pm.is_registered(listener) for m in _managers())


DAG_FILE = """
from datetime import datetime

from airflow.sdk import DAG, task

with DAG(dag_id={dag_id!r}, schedule=None, start_date=datetime(2026, 1, 1), catchup=False) as dag:

    @task(retries=0)
    def extract() -> int:
        return 1

    @task(retries=0)
    def load(value: int) -> None:
        if {fail!r}:
            raise RuntimeError("boom " + "x" * 5000)

    load(extract())
"""


def make_dag(dag_id: str, fail: bool = False, folder=None):
    """A small DAG from a file, serialized to Airflow's DB (dag.test() runs only DAGs of a bundle)."""
    from airflow.dag_processing.bundles.manager import DagBundlesManager
    from airflow.dag_processing.dagbag import BundleDagBag, sync_bag_to_db

    DagBundlesManager().sync_bundles_to_db()

    path = folder / f"{dag_id}.py"
    path.write_text(DAG_FILE.format(dag_id=dag_id, fail=fail))
    bag = BundleDagBag(dag_folder=str(path), bundle_path=str(folder), bundle_name="dags-folder")
    assert bag.import_errors == {}
    sync_bag_to_db(bag, "dags-folder", None)
    return bag.get_dag(dag_id)


def _listener(register):
    """The plugin's listener when the plugins folder was loaded, else a fresh instance registered here."""
    from data_mesh.metadata.listener import listener

    return listener if _plugin_listener_registered() else register(DataMeshListener())


def test_records_every_try_of_a_mesh_dag(airflow_db, register, tmp_path):
    _listener(register)
    dag_id = f"sales__probe_{uuid.uuid4().hex[:6]}"
    run = make_dag(dag_id, folder=tmp_path).test()
    assert run.state == "success"
    runs = MetadataStore().list_task_runs(dag_id=dag_id)
    assert {r.task_id for r in runs} == {"extract", "load"}
    for record in runs:
        assert record.state == "success"
        assert record.run_id == run.run_id and record.map_index == -1 and record.try_number >= 1
        assert record.start_date and record.end_date and record.duration_s is not None
        assert record.hostname


def test_failure_is_recorded_with_a_truncated_error(airflow_db, register, tmp_path):
    _listener(register)
    dag_id = f"sales__failing_{uuid.uuid4().hex[:6]}"
    run = make_dag(dag_id, fail=True, folder=tmp_path).test()
    assert run.state == "failed"
    records = {r.task_id: r for r in MetadataStore().list_task_runs(dag_id=dag_id)}
    assert records["extract"].state == "success"
    assert records["load"].state == "failed"
    assert "boom" in records["load"].error and len(records["load"].error) <= 2000


def test_other_dags_are_ignored(airflow_db, register, tmp_path):
    _listener(register)
    dag_id = f"not_a_domain__x{uuid.uuid4().hex[:6]}"
    assert make_dag(dag_id, folder=tmp_path).test().state == "success"
    assert MetadataStore().list_task_runs(dag_id=dag_id) == []
    assert is_mesh_dag("anything", tags=["data-product"])
    assert not is_mesh_dag("plain_dag")


def test_disabled_listeners_record_nothing(airflow_db, register, monkeypatch, tmp_path):
    _listener(register)
    monkeypatch.setenv("DATA_MESH_LISTENERS_ENABLED", "false")
    dag_id = f"sales__off_{uuid.uuid4().hex[:6]}"
    assert make_dag(dag_id, folder=tmp_path).test().state == "success"
    assert MetadataStore().list_task_runs(dag_id=dag_id) == []


class _BrokenStore:
    calls = 0

    def record_task_run(self, record):
        type(self).calls += 1
        raise RuntimeError("metadata store is down")


class _BlockedStore:
    """A store whose calls hang until the test releases them (at most STUCK_S, so nothing hangs forever)."""

    STUCK_S = 20.0
    release = threading.Event()
    started = 0
    finished = 0

    def record_task_run(self, record):
        type(self).started += 1
        type(self).release.wait(timeout=self.STUCK_S)
        type(self).finished += 1


class _TimedListener(DataMeshListener):
    """Notes how long each hook kept the task waiting, and how many store calls had finished by then."""

    def __init__(self, store_factory) -> None:
        super().__init__(store_factory=store_factory)
        self.hooks: list[tuple[str, float, int]] = []

    def _record(self, task_instance, state, error=None) -> None:
        started = time.monotonic()
        super()._record(task_instance, state, error)
        self.hooks.append((state, time.monotonic() - started, _BlockedStore.finished))


TIMEOUT_S = 0.2


def test_a_failing_or_slow_store_does_not_harm_the_task(airflow_db, register, monkeypatch, tmp_path):
    """The running record is never waited for; the final record is waited for at most the timeout."""
    monkeypatch.setenv("DATA_MESH_LISTENER_TIMEOUT_SECONDS", str(TIMEOUT_S))
    monkeypatch.setenv("DATA_MESH_LISTENER_SPOOL", str(tmp_path / "spool"))  # the broken store's records
    _BlockedStore.release.clear()
    _BlockedStore.started = _BlockedStore.finished = 0
    register(DataMeshListener(store_factory=_BrokenStore))
    timed = register(_TimedListener(store_factory=_BlockedStore))
    try:
        run = make_dag(f"sales__broken_{uuid.uuid4().hex[:6]}", folder=tmp_path).test()
    finally:
        _BlockedStore.release.set()
    assert run.state == "success"
    assert _BrokenStore.calls >= 2  # running + success of each task reached the store
    # 2 tasks x (running, success); every hook returned while the first store call still hung
    assert [state for state, _, _ in timed.hooks] == ["running", "success"] * 2
    assert all(finished == 0 for _, _, finished in timed.hooks), timed.hooks
    for state, waited, _ in timed.hooks:
        if state == "success":  # waited for its record, but no longer than the timeout (+ scheduling)
            assert TIMEOUT_S <= waited < TIMEOUT_S + 2.0, timed.hooks
        else:  # handed to the background thread, not waited for
            assert waited < 2.0, timed.hooks
    # released, the queued records all reach the store in the end (none is dropped)
    deadline = time.monotonic() + 30
    while _BlockedStore.finished < 4 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _BlockedStore.started == _BlockedStore.finished == 4
