"""The platform's Airflow listener: records every task try of the mesh's DAGs in the metadata store.

Thin on purpose: the hooks gather plain values from the task instance and hand one
`TaskRunRecord` to the store on a single background thread, waiting at most
`conf.listener_timeout_seconds()`. Whatever happens (store down, slow disk, a bug here) the task
goes on: errors and timeouts are logged with "no impact on the task". A record the store refuses
is not lost: it is kept in the spool (`metadata.spool`), the task log says so with the number of
records waiting, and the next record written (by any task of any worker sharing the staging root)
replays the spool first. Task-instance hooks run in the worker's task process (in-process with
`dag.test()`). Off with DATA_MESH_LISTENERS_ENABLED=false.
"""

from __future__ import annotations

import logging
import queue
import socket
import threading
from collections.abc import Callable
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from datetime import UTC, datetime
from functools import cache
from typing import Any

from airflow.listeners import hookimpl

from data_mesh import conf

log = logging.getLogger(__name__)

MAX_ERROR_CHARS = 2000
PRODUCT_TAG = "data-product"


class _Worker:
    """One daemon thread running submitted calls in order (a hung call never blocks interpreter exit)."""

    def __init__(self) -> None:
        self._queue: queue.Queue[tuple[Future, Callable[[], Any]]] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def submit(self, func: Callable[[], Any]) -> Future:
        future: Future = Future()
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="data-mesh-listener", daemon=True)
                self._thread.start()
        self._queue.put((future, func))
        return future

    def _run(self) -> None:
        while True:
            future, func = self._queue.get()
            if not future.set_running_or_notify_cancel():
                continue
            try:
                future.set_result(func())
            except BaseException as error:  # handed to the waiting hook, which logs it
                future.set_exception(error)


@cache
def _domains() -> frozenset[str]:
    folder = conf.domains_folder()
    if not folder.is_dir():
        return frozenset()
    return frozenset(p.name for p in folder.iterdir() if p.is_dir() and not p.name.startswith(("_", ".")))


def is_mesh_dag(dag_id: str, tags: Any = ()) -> bool:
    """A product DAG: tagged `data-product`, or named `<domain>__<name>` after a domain folder."""
    if PRODUCT_TAG in set(tags or ()):
        return True
    domain, sep, name = dag_id.partition("__")
    return bool(sep and name) and domain in _domains()


def _dag_tags(task_instance: Any) -> Any:
    task = getattr(task_instance, "task", None)
    dag = getattr(task, "dag", None) or getattr(task_instance, "dag", None)
    return getattr(dag, "tags", ()) or ()


def _as_utc(value: Any) -> datetime | None:
    if not isinstance(value, datetime):
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _state(value: Any) -> str | None:
    if value is None:
        return None
    return str(getattr(value, "value", value))


def task_run_record(task_instance: Any, state: str, error: Any = None):
    """The values of one task try, read defensively (core and Task SDK task instances differ)."""
    from data_mesh.metadata.store import TaskRunRecord

    start = _as_utc(getattr(task_instance, "start_date", None))
    end = _as_utc(getattr(task_instance, "end_date", None))
    if end is None and state in ("success", "failed", "up_for_retry"):
        end = datetime.now(UTC)
    duration = getattr(task_instance, "duration", None)
    if duration is None and start and end:
        duration = (end - start).total_seconds()
    message = None
    if error is not None:
        message = f"{type(error).__name__}: {error}" if isinstance(error, BaseException) else str(error)
        message = message[:MAX_ERROR_CHARS]
    map_index = getattr(task_instance, "map_index", -1)
    try_number = getattr(task_instance, "try_number", 1)
    return TaskRunRecord(
        dag_id=task_instance.dag_id,
        task_id=task_instance.task_id,
        run_id=task_instance.run_id,
        map_index=-1 if map_index is None else int(map_index),
        try_number=1 if try_number is None else int(try_number),
        state=state,
        start_date=start,
        end_date=end,
        duration_s=float(duration) if duration is not None else None,
        error=message,
        hostname=getattr(task_instance, "hostname", None) or socket.gethostname(),
    )


class RecordSpooled(RuntimeError):
    """The store refused a task-run record; it was kept in the spool (the message says where)."""


def _log_failure(future: Future) -> None:
    error = future.exception()
    if isinstance(error, RecordSpooled):
        log.warning("data mesh: %s (no impact on the task)", error)
    elif error is not None:
        log.warning("data mesh: could not record a task run (no impact on the task): %s", error)


def write_or_spool(store_factory: Callable[[], Any], record: Any) -> None:
    """Replay the spool, then write `record`; when the store (or opening it) fails, keep `record` in
    the spool and raise `RecordSpooled` naming the error and the records waiting (a failed spool
    write is lost: logged as an error)."""
    from data_mesh.metadata import spool

    try:
        store = store_factory()
        spool.replay(store.record_task_run)
        store.record_task_run(record)
        return
    except Exception as error:
        refused = f"{type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}"
    what = f"{record.dag_id}.{record.task_id} try {record.try_number} ({record.state})"
    try:
        path = spool.keep(record)
    except Exception as error:
        log.error("data mesh: task run %s LOST: the store refused it (%s), the spool too: %s", what, refused,
                  error)  # fmt: skip
        raise
    raise RecordSpooled(
        f"metadata store unreachable ({refused}): task run {what} kept in {path.parent}, "
        f"{spool.pending()} record(s) waiting, written when the store is back"
    )


class DataMeshListener:
    """Registered by the plugin (an instance: Airflow ignores bare functions)."""

    def __init__(self, store_factory: Callable[[], Any] | None = None) -> None:
        self._store_factory = store_factory
        self._worker = _Worker()

    def _store(self) -> Any:
        if self._store_factory is not None:
            return self._store_factory()
        from data_mesh.metadata.store import MetadataStore

        return MetadataStore()

    def _record(self, task_instance: Any, state: str, error: Any = None) -> None:
        try:
            if not conf.listeners_enabled():
                return
            if not is_mesh_dag(task_instance.dag_id, _dag_tags(task_instance)):
                return
            record = task_run_record(task_instance, state, error)
            future = self._worker.submit(lambda: write_or_spool(self._store, record))
            if state == "running":  # the final record queues behind it and is waited for
                future.add_done_callback(_log_failure)
                return
            future.result(timeout=conf.listener_timeout_seconds())
        except FutureTimeout:
            log.warning(
                "data mesh: recording task run %s.%s timed out after %ss (no impact on the task)",
                getattr(task_instance, "dag_id", "?"),
                getattr(task_instance, "task_id", "?"),
                conf.listener_timeout_seconds(),
            )
        except RecordSpooled as spooled:
            log.warning("data mesh: %s (no impact on the task)", spooled)
        except Exception:
            log.exception("data mesh: could not record the task run (no impact on the task)")

    @hookimpl
    def on_task_instance_running(self, previous_state: Any, task_instance: Any) -> None:
        self._record(task_instance, "running")

    @hookimpl
    def on_task_instance_success(self, previous_state: Any, task_instance: Any) -> None:
        self._record(task_instance, "success")

    @hookimpl
    def on_task_instance_failed(self, previous_state: Any, task_instance: Any, error: Any) -> None:
        state = _state(getattr(task_instance, "state", None))
        self._record(task_instance, state if state in ("up_for_retry", "failed") else "failed", error)


listener = DataMeshListener()
