"""Engines of the metadata store: one per URL per process, migrated on first use.

SQLite (default, a file) or PostgreSQL (by URL). Many processes use the store at once (every
Airflow task process, the api-server, the CLI), so:

* SQLite runs in WAL mode with a 30 s busy timeout; write transactions start with
  `BEGIN IMMEDIATE` so that a writer waits for the lock instead of failing on a lock upgrade.
* Migrations run under a cross-process lock: `fcntl.flock` on `<db file>.lock` for SQLite,
  `pg_advisory_lock` for PostgreSQL. Alembic is imported only when a migration check runs.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import threading
import time
import weakref
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.engine.url import URL

from .models import ALEMBIC_VERSION_TABLE

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
_PG_LOCK_KEY = zlib.crc32(b"data_mesh.metadata.store.migrations")  # fits a signed bigint
_WRITE_OPTION = "data_mesh_write"

_lock = threading.RLock()
_engines: dict[tuple[int, str], Engine] = {}
_migrated: weakref.WeakSet[Engine] = weakref.WeakSet()


def _json_serializer(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=str)


def _sqlite_path(url: URL) -> Path | None:
    """The database file of a SQLite URL, None for an in-memory database."""
    database = url.database or ""
    if (
        database in ("", ":memory:")
        or database.startswith("file::memory:")
        or url.query.get("mode") == "memory"
    ):
        return None
    if database.startswith("file:"):
        database = database[len("file:") :].split("?", 1)[0]
    return Path(database).expanduser().resolve()


def _on_sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    # Let SQLAlchemy (the "begin" listener below) emit BEGIN, not the sqlite3 module.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA busy_timeout=30000")
        mode = cursor.execute("PRAGMA journal_mode").fetchone()[0]
        if str(mode).lower() != "wal":
            # Switching needs an exclusive lock for a moment: retry while another process holds it.
            for attempt in range(100):
                try:
                    cursor.execute("PRAGMA journal_mode=WAL")
                    break
                except Exception:  # sqlite3.OperationalError: database is locked
                    if attempt == 99:
                        raise
                    time.sleep(0.05)
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        # Freed content is overwritten with zeros: an erased value's old vault page is not left in
        # the file (Debian's SQLite does it by default; python.org's, Homebrew's and conda's do not).
        cursor.execute("PRAGMA secure_delete=ON")
    finally:
        cursor.close()


def _on_sqlite_begin(conn: Connection) -> None:
    write = conn.get_execution_options().get(_WRITE_OPTION, False)
    conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


def create_store_engine(url: str | URL) -> Engine:
    """A new engine configured for the metadata store (not cached, not migrated)."""
    url = make_url(url)
    backend = url.get_backend_name()
    if backend == "sqlite":
        path = _sqlite_path(url)
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
        kwargs: dict[str, Any] = {"connect_args": {"timeout": 30}}
        if path is None:
            kwargs["poolclass"] = sa.pool.StaticPool
            kwargs["connect_args"]["check_same_thread"] = False
        engine = sa.create_engine(url, json_serializer=_json_serializer, **kwargs)
        event.listen(engine, "connect", _on_sqlite_connect)
        event.listen(engine, "begin", _on_sqlite_begin)
        return engine
    kwargs = {"pool_pre_ping": True}
    if backend == "postgresql":
        kwargs.update(pool_size=2, max_overflow=3, pool_recycle=1800)
    return sa.create_engine(url, json_serializer=_json_serializer, **kwargs)


def inserted_id(result: Any) -> int:
    """The autoincrement id of the row an INSERT just wrote (every table here has one)."""
    key = result.inserted_primary_key
    if key is None:  # pragma: no cover
        raise RuntimeError("the database returned no id for the inserted row")
    return int(key[0])


@contextlib.contextmanager
def write_connection(engine: Engine) -> Iterator[Connection]:
    """A connection in a write transaction (`BEGIN IMMEDIATE` on SQLite), committed on exit."""
    with engine.connect() as conn:
        conn.execution_options(**{_WRITE_OPTION: True})
        with conn.begin():
            yield conn


def _alembic_config(connection: Connection | None = None) -> Any:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("version_table", ALEMBIC_VERSION_TABLE)
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


def _head_revision() -> str | None:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(_alembic_config()).get_current_head()


def current_revision(engine_or_conn: Engine | Connection) -> str | None:
    """The revision the database is at (None before the first migration)."""
    from alembic.runtime.migration import MigrationContext

    def read(conn: Connection) -> str | None:
        ctx = MigrationContext.configure(conn, opts={"version_table": ALEMBIC_VERSION_TABLE})
        return ctx.get_current_revision()

    if isinstance(engine_or_conn, Connection):
        return read(engine_or_conn)
    with engine_or_conn.connect() as conn:
        revision = read(conn)
        conn.rollback()
        return revision


@contextlib.contextmanager
def _migration_lock(engine: Engine, conn: Connection) -> Iterator[None]:
    backend = engine.url.get_backend_name()
    if backend == "postgresql":
        conn.execute(sa.text("SELECT pg_advisory_lock(:k)"), {"k": _PG_LOCK_KEY})
        conn.commit()
        try:
            yield
        finally:
            conn.rollback()
            conn.execute(sa.text("SELECT pg_advisory_unlock(:k)"), {"k": _PG_LOCK_KEY})
            conn.commit()
        return
    path = _sqlite_path(engine.url) if backend == "sqlite" else None
    if path is None:
        with _lock:
            yield
        return
    import fcntl

    lock_path = path.with_name(path.name + ".lock")
    with open(lock_path, "a+b") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def migrate(engine: Engine) -> bool:
    """Bring the database to the newest revision; returns True when a migration was applied.

    Safe to call from many processes at once: the upgrade runs under a cross-process lock and
    re-checks the revision once it holds the lock. Cheap when the database is already current.
    """
    from alembic import command

    head = _head_revision()
    if current_revision(engine) == head:
        return False
    with engine.connect() as conn, _migration_lock(engine, conn):
        if current_revision(conn) == head:
            conn.rollback()
            return False
        conn.rollback()
        if engine.url.get_backend_name() == "sqlite":
            conn.execution_options(**{_WRITE_OPTION: True})
        command.upgrade(_alembic_config(conn), "head")
        conn.commit()
        log.info("data_mesh metadata store migrated to %s (%s)", head, engine.url.render_as_string())
        return True


def _reset_after_fork() -> None:
    with contextlib.suppress(Exception):
        for engine in list(_engines.values()):
            engine.dispose(close=False)  # never close the parent's connections from the child
    _engines.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reset_after_fork)


# The newest migration in migrations/versions (a test keeps it equal to Alembic's head). Every task
# process opens the store once; comparing with this constant in plain SQL spares each of them the
# Alembic import and the scan of the migration scripts (about 0.7 s).
HEAD_REVISION = "0008"


def _at_head(engine: Engine) -> bool:
    try:
        with engine.connect() as conn:
            version = conn.execute(sa.text(f"SELECT version_num FROM {ALEMBIC_VERSION_TABLE}")).scalar()
            conn.rollback()
    except sa.exc.DBAPIError:  # no version table yet: a fresh database
        return False
    return version == HEAD_REVISION


def ensure_migrated(engine: Engine) -> Engine:
    """Run `migrate` once per engine (the schema is the database's, so this holds across a fork)."""
    if engine in _migrated:
        return engine
    with _lock:
        if engine not in _migrated:
            if not _at_head(engine):
                migrate(engine)
            _migrated.add(engine)
    return engine


def get_engine(url: str | None = None) -> Engine:
    """The process's engine for `url` (default `data_mesh.conf.metadata_url()`), migrated on first use."""
    if url is None:
        from data_mesh.conf import metadata_url

        url = metadata_url()
    key = (os.getpid(), str(url))
    engine = _engines.get(key)
    if engine is not None:
        return engine
    with _lock:
        engine = _engines.get(key)
        if engine is None:
            engine = create_store_engine(url)
            ensure_migrated(engine)
            # Engines of another pid (inherited through fork without the at-fork hook) are dropped.
            for other in [k for k in _engines if k[0] != key[0]]:
                _engines.pop(other).dispose(close=False)
            _engines[key] = engine
    return engine


def dispose_engines() -> None:
    """Close every cached engine of this process (tests, shutdown)."""
    with _lock:
        for (pid, _url), engine in list(_engines.items()):
            engine.dispose(close=pid == os.getpid())
        _engines.clear()


__all__ = [
    "create_store_engine",
    "current_revision",
    "dispose_engines",
    "ensure_migrated",
    "get_engine",
    "migrate",
    "write_connection",
]
