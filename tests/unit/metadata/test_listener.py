"""The listener records the task tries of mesh DAGs during dag.test(), and never harms a task."""

from __future__ import annotations

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


class _SlowStore:
    def record_task_run(self, record):
        time.sleep(3)


def test_a_failing_or_slow_store_does_not_harm_the_task(airflow_db, register, monkeypatch, tmp_path):
    monkeypatch.setenv("DATA_MESH_LISTENER_TIMEOUT_SECONDS", "0.2")
    register(DataMeshListener(store_factory=_BrokenStore))
    register(DataMeshListener(store_factory=_SlowStore))
    started = time.monotonic()
    run = make_dag(f"sales__broken_{uuid.uuid4().hex[:6]}", folder=tmp_path).test()
    assert run.state == "success"
    assert _BrokenStore.calls >= 2  # running + success of each task reached the store
    # 2 tasks x 2 hooks x a 0.2 s bounded wait, far below the 3 s the slow store takes per call
    assert time.monotonic() - started < 30
