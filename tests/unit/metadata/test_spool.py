"""Task-run records the store refused are spooled, reported, and written once it is back."""

from __future__ import annotations

import os
import socket
import time
from datetime import UTC, datetime

import pytest

from data_mesh.metadata import spool
from data_mesh.metadata.listener import RecordSpooled, write_or_spool
from data_mesh.metadata.store import MetadataStore, TaskRunRecord


@pytest.fixture
def spool_dir(tmp_path, monkeypatch):
    folder = tmp_path / "spool"
    monkeypatch.setenv("DATA_MESH_LISTENER_SPOOL", str(folder))
    return folder


@pytest.fixture
def store(tmp_path) -> MetadataStore:
    return MetadataStore(f"sqlite:///{tmp_path / 'metadata.db'}")


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])  # nothing listens there once the socket is closed


def _down() -> MetadataStore:
    """A store on a PostgreSQL that refuses connections (opening it fails, like in a task process)."""
    return MetadataStore(f"postgresql+psycopg2://nobody@127.0.0.1:{_closed_port()}/nothing")


def _record(try_number: int, state: str, task_id: str = "publish") -> TaskRunRecord:
    now = datetime.now(UTC)
    return TaskRunRecord(
        dag_id="sales__customer_orders",
        task_id=task_id,
        run_id="manual__1",
        try_number=try_number,
        state=state,
        start_date=now,
        end_date=None if state == "running" else now,
        error="OperationalError: refused" if state == "up_for_retry" else None,
        hostname="worker1@vm",
    )


def test_a_refused_record_is_spooled_reported_and_written_when_the_store_is_back(spool_dir, store):
    with pytest.raises(RecordSpooled) as refused:
        write_or_spool(_down, _record(1, "running"))
    with pytest.raises(RecordSpooled):
        write_or_spool(_down, _record(1, "up_for_retry"))
    message = str(refused.value)
    assert "metadata store unreachable (OperationalError" in message
    assert "sales__customer_orders.publish try 1 (running)" in message and str(spool_dir) in message
    assert spool.pending() == 2

    write_or_spool(lambda: store, _record(2, "success"))  # the store is back: the spool goes first
    assert spool.pending() == 0 and list(spool_dir.iterdir()) == []
    runs = {(r.try_number, r.state, r.error) for r in store.list_task_runs("sales__customer_orders")}
    assert runs == {(1, "up_for_retry", "OperationalError: refused"), (2, "success", None)}


def test_a_late_running_record_never_replaces_a_final_one(store):
    store.record_task_run(_record(1, "up_for_retry"))
    store.record_task_run(_record(1, "running"))
    store.record_task_run(_record(2, "running"))
    store.record_task_run(_record(2, "success"))
    states = {r.try_number: r.state for r in store.list_task_runs("sales__customer_orders")}
    assert states == {1: "up_for_retry", 2: "success"}


def test_replay_stops_at_the_first_failure_and_keeps_the_rest(spool_dir, store):
    for n in (1, 2, 3):
        spool.keep(_record(n, "success"))
    written = []

    def flaky(record: TaskRunRecord) -> None:
        if len(written) == 1:
            raise ConnectionError("the store went away again")
        written.append(record.try_number)

    with pytest.raises(ConnectionError):
        spool.replay(flaky)
    assert written == [1] and spool.pending() == 2  # oldest first; 2 and 3 stay, unclaimed
    assert spool.replay(store.record_task_run) == 2
    assert spool.pending() == 0


def test_claimed_records_are_left_to_their_claimer_until_stale(spool_dir, store):
    path = spool.keep(_record(1, "success"))
    claimed = path.with_name(path.name + spool.CLAIMED)
    os.replace(path, claimed)  # another task process is writing it
    assert spool.replay(store.record_task_run) == 0 and claimed.exists()
    old = time.time() - spool.STALE_CLAIM_SECONDS - 1
    os.utime(claimed, (old, old))  # ... and died doing so
    assert spool.replay(store.record_task_run) == 1
    assert [r.try_number for r in store.list_task_runs("sales__customer_orders")] == [1]
    assert spool.pending() == 0


def test_an_unreadable_record_is_set_aside(spool_dir, store):
    spool_dir.mkdir()
    (spool_dir / "00000000000000000001-bad.json").write_text("{not json")
    spool.keep(_record(1, "success"))
    assert spool.replay(store.record_task_run) == 1
    assert [p.name for p in spool_dir.iterdir()] == ["00000000000000000001-bad.json.claimed.bad"]
