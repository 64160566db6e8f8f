"""The SQL port's DuckDB databases: in memory, locked before any user SQL reaches them, kept per process.

Opening a DuckDB database costs about 15 ms (its catalog of built-in functions), and the first query
in a new one more again, which is more than a whole governed query otherwise takes. So the port keeps
the databases whose content is fixed by their key and runs each statement on a cursor (a connection
of its own, interruptible on its own) of one of them:

* `parser()`: nothing in it; `json_serialize_sql` only;
* planning databases (`sql_plan`), one per shape of the products a query names: empty tables of
  the contracts' types, every optimizer but column pruning disabled, EXPLAIN only;
* execution databases (`sql_views`), one per set of views: each product's data files of one version
  and only the columns a query reads; `allowed_paths` holds those files and nothing else.

Every database is locked the same way (`lockdown`): no extension installed or loaded behind a
query's back, no Python variable scanned by name, no file outside `allowed_paths`, and the
configuration locked. A kept database holds no data (views over immutable files of one snapshot)
and a SELECT cannot change it, so a query on it sees what a fresh one would: the views, nothing else.
An evicted database is dropped, not closed: a query still running on a cursor of it keeps it alive.
The answers that depend on nothing but their key are kept too (`Kept`: the products a query text
names, the columns a plan reads, a snapshot's data files), and one `watchdog` thread interrupts the
queries that outlive their timeout.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable, Sequence
from typing import TYPE_CHECKING, Any, Generic, TypeVar

if TYPE_CHECKING:
    import duckdb

T = TypeVar("T")

# After `allowed_paths`: no extension is installed or loaded behind the query's back, no Python
# variable of the caller's frames is read as a table, and nothing can be changed afterwards.
LOCKDOWN = (
    "SET autoinstall_known_extensions = false",
    "SET autoload_known_extensions = false",
    "SET python_enable_replacements = false",
    "SET enable_external_access = false",
    "SET lock_configuration = true",
)

_cursors = threading.Lock()  # the cursors of one database are made and closed one at a time


def literal(text: str) -> str:
    """A SQL string literal."""
    return "'" + text.replace("'", "''") + "'"


def lockdown(con: duckdb.DuckDBPyConnection, allowed_paths: Sequence[str] = (), *settings: str) -> None:
    """Lock `con`'s database: only `allowed_paths` readable, then `settings`, then `LOCKDOWN`."""
    if allowed_paths:
        con.execute(f"SET allowed_paths = [{', '.join(map(literal, allowed_paths))}]")
    for setting in (*settings, *LOCKDOWN):
        con.execute(setting)


def cursor(con: duckdb.DuckDBPyConnection) -> duckdb.DuckDBPyConnection:
    """A connection of its own to `con`'s database (its own interrupt, its own transaction)."""
    with _cursors:
        return con.cursor()


def close(con: duckdb.DuckDBPyConnection) -> None:
    with _cursors:
        con.close()


class Kept(Generic[T]):
    """Up to `size` values built from their key, the least recently used dropped first; per process
    (a forked child builds its own: DuckDB databases are not shared across a fork)."""

    def __init__(self, size: int, forgettable: bool = True) -> None:
        self.size = size
        self._lock = threading.Lock()
        self._items: OrderedDict[Hashable, T] = OrderedDict()
        self._pid = os.getpid()
        if forgettable:
            _kept.append(self)

    def get(self, key: Hashable, build: Callable[[], T]) -> T:
        with self._lock:
            if self._pid != os.getpid():
                self._items, self._pid = OrderedDict(), os.getpid()
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
        value = build()  # outside the lock; two threads building the same key keep the last one
        with self._lock:
            self._items[key] = value
            while len(self._items) > self.size:
                self._items.popitem(last=False)
        return value

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


_kept: list[Kept[Any]] = []


def forget() -> None:
    """Drop every kept database and answer but the parser (benchmarks: a query never seen before)."""
    for kept in _kept:
        kept.clear()


_parser: Kept[duckdb.DuckDBPyConnection] = Kept(1, forgettable=False)


def _new_parser() -> duckdb.DuckDBPyConnection:
    import duckdb

    con = duckdb.connect(":memory:")
    lockdown(con)
    return con


def parser() -> duckdb.DuckDBPyConnection:
    """A cursor of the process's parsing database (empty and locked); close it after use."""
    return cursor(_parser.get("parser", _new_parser))


class Watchdog:
    """One daemon thread that calls each armed callback once its deadline passes (query timeouts
    without a thread started per query: starting one waits for it to be scheduled)."""

    def __init__(self) -> None:
        self._wake = threading.Condition()
        self._heap: list[tuple[float, int]] = []
        self._armed: dict[int, Callable[[], None]] = {}
        self._numbers = itertools.count()
        self._pid: int | None = None

    def arm(self, seconds: float, callback: Callable[[], None]) -> int:
        with self._wake:
            if self._pid != os.getpid():  # the first call in this process (or a forked child)
                self._pid, self._heap, self._armed = os.getpid(), [], {}
                threading.Thread(target=self._run, name="data-mesh-sql-watchdog", daemon=True).start()
            number = next(self._numbers)
            self._armed[number] = callback
            heapq.heappush(self._heap, (time.monotonic() + seconds, number))
            self._wake.notify()
        return number

    def disarm(self, number: int) -> None:
        with self._wake:
            self._armed.pop(number, None)

    def _run(self) -> None:
        while True:
            with self._wake:
                while self._heap and self._heap[0][1] not in self._armed:
                    heapq.heappop(self._heap)  # disarmed
                if not self._heap:
                    self._wake.wait()
                    continue
                deadline, number = self._heap[0]
                if deadline > time.monotonic():
                    self._wake.wait(deadline - time.monotonic())
                    continue
                heapq.heappop(self._heap)
                callback = self._armed.pop(number)
            # an interrupt of a connection closed meanwhile has nothing to stop
            with contextlib.suppress(Exception):
                callback()


watchdog = Watchdog()
