"""Fixtures of the metadata-store tests: every `store` test runs on SQLite and on PostgreSQL.

PostgreSQL comes from env DATA_MESH_TEST_POSTGRES_URL, by default
postgresql+psycopg2://postgres@127.0.0.1:5432/test. Env unset and no server at the default: the
postgresql params are skipped (the reason names the URL). Env set (CI) but unreachable: they
fail. Each test gets its own schema (dropped afterwards), selected
through `search_path` in the URL so that spawned processes see the same schema.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from _store_testing import postgres_schema, reachable_postgres

from data_mesh.metadata.store import MetadataStore, dispose_engines

BACKENDS = ["sqlite", "postgresql"]


@pytest.fixture(scope="session")
def pg_base_url() -> str:
    return reachable_postgres()


@pytest.fixture
def sqlite_url(tmp_path) -> Iterator[str]:
    yield f"sqlite:///{tmp_path / 'metadata' / 'metadata.db'}"
    dispose_engines()


@pytest.fixture
def postgresql_url(pg_base_url: str) -> Iterator[str]:
    with postgres_schema(pg_base_url) as url:
        try:
            yield url
        finally:
            dispose_engines()


@pytest.fixture(params=BACKENDS)
def db_url(request) -> str:
    """A fresh, empty database URL (nothing migrated yet) on each backend."""
    return request.getfixturevalue(f"{request.param}_url")


@pytest.fixture
def store(db_url: str) -> MetadataStore:
    return MetadataStore(db_url)
