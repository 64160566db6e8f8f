"""What the catalog benchmarks share: timing calls (p50/p95), EXPLAINing the SQL behind a slow
one, a real Airflow JWT, the environment of a benchmark child process, and bulk seeding.

Used by `bench.catalog_api` (1,000 products) and `bench.mesh_scale` (the generated 200-product mesh).
"""

from __future__ import annotations

import os
import statistics
import time
import uuid
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
PG_ADMIN_URL = os.environ.get(
    "DATA_MESH_BENCH_POSTGRES_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/test"
)
TARGET_P95_MS = 50.0
WARMUP = 5
REQUESTS = 100
CHUNK = 20_000


def percentiles(seconds: list[float]) -> dict[str, float]:
    cuts = statistics.quantiles(seconds, n=100, method="inclusive")
    return {"p50_ms": round(cuts[49] * 1000, 2), "p95_ms": round(cuts[94] * 1000, 2), "n": len(seconds)}


def time_calls(call, n: int = REQUESTS) -> dict[str, float]:
    """p50 and p95 of `n` calls, after `WARMUP` untimed ones."""
    for _ in range(WARMUP):
        call()
    seconds = []
    for _ in range(n):
        started = time.perf_counter()
        call()
        seconds.append(time.perf_counter() - started)
    return percentiles(seconds)


class SqlCapture:
    """Records the statements an engine runs while the block is open (to EXPLAIN them)."""

    def __init__(self, engine) -> None:
        self.engine, self.statements = engine, []

    def _hook(self, conn, cursor, statement, parameters, context, executemany) -> None:
        if statement.lstrip().upper().startswith("SELECT") and "alembic" not in statement:
            self.statements.append((statement, parameters))

    def __enter__(self):
        from sqlalchemy import event

        event.listen(self.engine, "before_cursor_execute", self._hook)
        return self

    def __exit__(self, *exc: object) -> None:
        from sqlalchemy import event

        event.remove(self.engine, "before_cursor_execute", self._hook)


def explain(engine, call) -> list[dict[str, Any]]:
    """The plan (and, on PostgreSQL, the measured time) of every SELECT `call` runs."""
    with SqlCapture(engine) as captured:
        call()
    plans = []
    with engine.connect() as conn:
        raw = conn.connection.dbapi_connection
        for statement, parameters in captured.statements:
            cursor = raw.cursor()
            if engine.dialect.name == "postgresql":
                cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + statement, parameters)
                plan = [r[0] for r in cursor.fetchall()]
            else:
                cursor.execute("EXPLAIN QUERY PLAN " + statement, parameters)
                plan = [r[-1] for r in cursor.fetchall()]
            cursor.close()
            plans.append({"sql": " ".join(statement.split())[:400], "plan": plan})
        conn.rollback()
    return plans


def airflow_token() -> str:
    """A JWT as Airflow issues it (SimpleAuthManager, as `POST /auth/token` does)."""
    from airflow.api_fastapi.app import init_auth_manager
    from airflow.api_fastapi.auth.managers.simple.user import SimpleAuthManagerUser

    manager = init_auth_manager()
    return manager.generate_jwt(SimpleAuthManagerUser(username="admin", role="admin"))


def insert_rows(engine, table, rows: list[dict]) -> None:
    """Seed `rows` into `table` with executemany, `CHUNK` rows per transaction."""
    import sqlalchemy as sa

    from data_mesh.metadata.store.engine import write_connection

    for start in range(0, len(rows), CHUNK):
        with write_connection(engine) as conn:
            conn.execute(sa.insert(table), rows[start : start + CHUNK])


def airflow_environment(work: Path) -> dict[str, str]:
    """The environment of a benchmark child: an Airflow home, dags and products of its own under `work`."""
    env = dict(os.environ)
    env.update(
        {
            "AIRFLOW_HOME": str(work / "airflow"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
            "AIRFLOW__CORE__DAGS_FOLDER": str(work / "dags"),
            "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO / "plugins"),
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "admin:admin",
            "AIRFLOW__API_AUTH__JWT_SECRET": uuid.uuid4().hex * 2,
            "DATA_MESH_HOME": str(REPO),
            "DATA_MESH_STORAGE_ROOT": str(work / "products"),
            "DATA_MESH_STAGING_ROOT": str(work / "staging"),
            "DATA_MESH_QUARANTINE_ROOT": str(work / "quarantine"),
            "DATA_MESH_OPENLINEAGE_TRANSPORT": "none",
        }
    )
    return env
