"""Tests of the store's engine: migrations (once, idempotent, raced by first starts), SQLite pragmas,
PostgreSQL targets, and concurrent writers losing nothing."""

from __future__ import annotations

import multiprocessing
import os
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa
from _store_testing import (
    event,
    postgres_error,
    postgres_target,
    postgres_unreachable,
    start_store,
    write_access_events,
)

from data_mesh.metadata.store import (
    MetadataStore,
    get_engine,
    migrate,
)
from data_mesh.metadata.store import engine as engine_module
from data_mesh.metadata.store.engine import create_store_engine, current_revision
from data_mesh.metadata.store.models import ALEMBIC_VERSION_TABLE

WORKERS = 8
EVENTS_PER_WORKER = 500


# ---------------------------------------------------------------------------- migrations


def _version_rows(engine: sa.Engine) -> list[str]:
    with engine.connect() as conn:
        return list(conn.execute(sa.text(f"SELECT version_num FROM {ALEMBIC_VERSION_TABLE}")).scalars())


def test_migrations_applied_once_and_idempotent(db_url: str, monkeypatch):
    fresh = create_store_engine(db_url)
    try:
        assert current_revision(fresh) is None
        assert migrate(fresh) is True
        assert current_revision(fresh) == "0008"
        assert migrate(fresh) is False  # second run: nothing to do
        assert _version_rows(fresh) == ["0008"]
        indexes = {i["name"] for i in sa.inspect(fresh).get_indexes("validation_runs")}
        assert "ix_validation_runs_product_id_id" in indexes  # the catalog's latest validation (0005)
        tables = set(sa.inspect(fresh).get_table_names())
        assert {
            "products",
            "publications",
            "validation_runs",
            "task_runs",
            "lineage_edges",
            "publication_inputs",
            "access_events",
            "slo_evaluations",
            "vault_entries",
            "vault_pages",
            ALEMBIC_VERSION_TABLE,
        } <= tables
        assert "alembic_version" not in tables
    finally:
        fresh.dispose()

    first = MetadataStore(db_url)

    def forbidden(engine):  # pragma: no cover - must not be called
        raise AssertionError("migrate() ran again")

    monkeypatch.setattr(engine_module, "migrate", forbidden)
    second = MetadataStore(db_url)
    assert second.engine is first.engine is get_engine(db_url)
    assert _version_rows(second.engine) == ["0008"]


def test_models_match_migrations(store: MetadataStore):
    """The hand-written migration creates exactly what models.py declares."""
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    from data_mesh.metadata.store.models import metadata

    with store.engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"version_table": ALEMBIC_VERSION_TABLE})
        diff = compare_metadata(ctx, metadata)
    assert diff == []


def test_sqlite_pragmas(sqlite_url: str):
    engine = MetadataStore(sqlite_url).engine
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 30000
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 1  # NORMAL
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert conn.exec_driver_sql("PRAGMA secure_delete").scalar() == 1
    assert Path(sqlite_url.removeprefix("sqlite:///")).parent.is_dir()  # created for us


def test_default_url_from_conf(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'conf' / 'm.db'}"
    monkeypatch.setenv("DATA_MESH_METADATA_URL", url)
    try:
        store = MetadataStore()
        assert store.engine.url.database == str(tmp_path / "conf" / "m.db")
        assert (tmp_path / "conf" / "m.db").exists()
    finally:
        engine_module.dispose_engines()


def test_engine_cache_is_per_process(sqlite_url: str):
    engine = get_engine(sqlite_url)
    assert get_engine(sqlite_url) is engine
    pid_keys = [key for key in engine_module._engines if key[1] == sqlite_url]
    assert pid_keys == [(os.getpid(), sqlite_url)]
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: a new engine, never the parent's pooled connections
        try:
            child = get_engine(sqlite_url)
            ok = child is not engine and MetadataStore(sqlite_url).record_access(event()) > 0
            os.write(write, b"1" if ok else b"0")
        finally:
            os._exit(0)
    os.waitpid(pid, 0)
    assert os.read(read, 1) == b"1"
    assert MetadataStore(sqlite_url).list_access_events().total == 1


def test_import_is_cheap():
    code = (
        "import sys, data_mesh.metadata.store;"
        "heavy = ('alembic', 'pandas', 'pyarrow', 'great_expectations', 'numpy');"
        "heavy = [m for m in heavy if m in sys.modules];"
        "print(','.join(heavy))"
    )
    plugins = Path(__file__).resolve().parents[4] / "plugins"
    out = subprocess.run(
        [sys.executable, "-c", code],
        env={**os.environ, "PYTHONPATH": str(plugins)},
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.strip() == ""


def test_postgres_reachable_when_configured():
    """With DATA_MESH_TEST_POSTGRES_URL set, an unreachable server is a failure, never a skip;
    unset, only a missing server at the default URL is a skip."""
    url, required = postgres_target()
    error = postgres_error(url)
    if error and not required:
        pytest.skip(postgres_unreachable(url, required, error))
    assert error is None, postgres_unreachable(url, required, error)


def test_postgres_target(monkeypatch):
    monkeypatch.delenv("DATA_MESH_TEST_POSTGRES_URL", raising=False)
    assert postgres_target() == ("postgresql+psycopg2://postgres@127.0.0.1:5432/test", False)
    monkeypatch.setenv("DATA_MESH_TEST_POSTGRES_URL", "postgresql+psycopg2://u@db:6543/x")
    assert postgres_target() == ("postgresql+psycopg2://u@db:6543/x", True)


# ---------------------------------------------------------------------------- concurrency


def _run_workers(target, args_for) -> None:
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(WORKERS)
    processes = [ctx.Process(target=target, args=(*args_for(w), barrier)) for w in range(WORKERS)]
    for p in processes:
        p.start()
    for p in processes:
        p.join(timeout=600)
    codes = [p.exitcode for p in processes]
    for p in processes:
        if p.is_alive():
            p.kill()
    assert codes == [0] * WORKERS, codes


def test_concurrent_writers_lose_nothing(db_url: str):
    store = MetadataStore(db_url)  # migrated first, then 8 processes write at once
    _run_workers(write_access_events, lambda w: (db_url, w, EVENTS_PER_WORKER))
    page = store.list_access_events(product_id="sales.customer_orders", limit=1)
    assert page.total == WORKERS * EVENTS_PER_WORKER == 4000
    usage = store.usage_by_consumer("sales.customer_orders")
    assert len(usage) == WORKERS
    assert all(u.reads == EVENTS_PER_WORKER and u.rows == EVENTS_PER_WORKER for u in usage)


def test_concurrent_first_start_migration_race(db_url: str):
    _run_workers(start_store, lambda w: (db_url, w))
    store = MetadataStore(db_url)
    assert _version_rows(store.engine) == ["0008"]
    assert store.list_access_events(product_id="p.x").total == WORKERS


def test_head_revision_constant_is_alembics_head():
    """The fast start-up check compares with HEAD_REVISION: a new migration must update it."""
    assert engine_module._head_revision() == engine_module.HEAD_REVISION


def test_current_database_skips_alembic(db_url: str, monkeypatch):
    """A process opening an up-to-date store (every task process does) never runs migrate()."""
    migrate(create_store_engine(db_url))
    engine_module.dispose_engines()

    def forbidden(engine):  # pragma: no cover - must not be called
        raise AssertionError("migrate() ran on a current database")

    monkeypatch.setattr(engine_module, "migrate", forbidden)
    engine_module.ensure_migrated(create_store_engine(db_url))
