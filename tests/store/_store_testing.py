"""Helpers shared by the store tests' conftest and test modules."""

from __future__ import annotations

import sqlalchemy as sa

PG_ENV = "DATA_MESH_TEST_POSTGRES_URL"


def postgres_error(url: str) -> str | None:
    """None when PostgreSQL at `url` answers, else the reason."""
    engine = sa.create_engine(url, connect_args={"connect_timeout": 5})
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
        return None
    except Exception as exc:  # any failure to connect is reported
        return f"{type(exc).__name__}: {exc}"
    finally:
        engine.dispose()
