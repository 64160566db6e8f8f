"""Fixtures of the metadata-store tests: every `store` test runs on SQLite and on PostgreSQL.

PostgreSQL comes from env DATA_MESH_TEST_POSTGRES_URL, by default
postgresql+psycopg2://postgres@127.0.0.1:5432/test. Env unset and no server at the default: the
postgresql params are skipped (the reason names the URL). Env set (CI) but unreachable: they
fail. Each test gets its own schema (dropped afterwards), selected
through `search_path` in the URL so that spawned processes see the same schema.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from _store_testing import postgres_error, postgres_target, postgres_unreachable
from sqlalchemy.engine import make_url

from data_mesh.metadata.store import MetadataStore, dispose_engines

BACKENDS = ["sqlite", "postgresql"]


@pytest.fixture(scope="session")
def pg_base_url() -> str:
    url, required = postgres_target()
    error = postgres_error(url)
    if error:
        message = postgres_unreachable(url, required, error)
        if required:
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    return url


@pytest.fixture
def sqlite_url(tmp_path) -> Iterator[str]:
    yield f"sqlite:///{tmp_path / 'metadata' / 'metadata.db'}"
    dispose_engines()


@pytest.fixture
def postgresql_url(pg_base_url: str) -> Iterator[str]:
    schema = f"dm_test_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(pg_base_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    url = make_url(pg_base_url).update_query_dict({"options": f"-csearch_path={schema}"})
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        dispose_engines()
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture(params=BACKENDS)
def db_url(request) -> str:
    """A fresh, empty database URL (nothing migrated yet) on each backend."""
    return request.getfixturevalue(f"{request.param}_url")


@pytest.fixture
def store(db_url: str) -> MetadataStore:
    return MetadataStore(db_url)
