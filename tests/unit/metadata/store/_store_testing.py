"""Helpers shared by the store tests; also the targets of the spawned worker processes (kept light)."""

from __future__ import annotations

import contextlib
import json
import os
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.engine import make_url

from data_mesh.contract.spec import Access, Column, Partitioning, ProductSpec, Sla
from data_mesh.metadata.store import AccessEvent, MetadataStore

PG_ENV = "DATA_MESH_TEST_POSTGRES_URL"
PG_DEFAULT_URL = "postgresql+psycopg2://postgres@127.0.0.1:5432/test"


def postgres_target() -> tuple[str, bool]:
    """(URL, required): env DATA_MESH_TEST_POSTGRES_URL when set (then an unreachable server is a
    failure), else the local default (then an unreachable server is a skip)."""
    url = os.environ.get(PG_ENV)
    return (url, True) if url else (PG_DEFAULT_URL, False)


def postgres_unreachable(url: str, required: bool, error: str) -> str:
    """The message of a skip (not required) or of a failure (required); a password is masked."""
    url = make_url(url).render_as_string(hide_password=True)
    if required:
        return f"{PG_ENV} is set but PostgreSQL at {url} is unreachable: {error}"
    first_line = error.strip().splitlines()[0]
    return f"no PostgreSQL at {url} ({first_line}); set {PG_ENV} to require another server"


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


def reachable_postgres() -> str:
    """The PostgreSQL URL of this run: a skip when none answers and none is required, else a failure."""
    import pytest

    url, required = postgres_target()
    error = postgres_error(url)
    if error:
        message = postgres_unreachable(url, required, error)
        if required:
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    return url


@contextlib.contextmanager
def postgres_schema(base_url: str, prefix: str = "dm_test") -> Iterator[str]:
    """A URL on a schema of its own (via search_path, so spawned processes see it too), dropped after."""
    schema = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(base_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    url = make_url(base_url).update_query_dict({"options": f"-csearch_path={schema}"})
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()


# Worker processes (multiprocessing spawn) of the concurrency tests.


def write_access_events(url: str, worker: int, count: int, barrier) -> None:
    store = MetadataStore(url)
    barrier.wait(timeout=120)
    for i in range(count):  # one event per transaction
        store.record_access(
            AccessEvent(
                principal=f"domain:w{worker}/dag:w{worker}__dag/task:build",
                principal_kind="task",
                product_id="sales.customer_orders",
                path="task",
                allowed=True,
                rows=1,
                columns=("order_id",),
                purpose=f"write {i}",
            )
        )


def start_store(url: str, worker: int, barrier) -> None:
    barrier.wait(timeout=120)
    store = MetadataStore(url)  # all 8 race to migrate a fresh database
    store.record_access(
        AccessEvent(
            principal=f"user{worker}", principal_kind="user", product_id="p.x", path="cli", allowed=True
        )
    )


# ---------------------------------------------------------------------------- records

T0 = datetime(2026, 3, 1, 8, 30, 15, 123456, tzinfo=UTC)


def make_spec(
    domain: str = "sales",
    name: str = "customer_orders",
    owner: str = "alice@example.com",
    tags: tuple[str, ...] = ("orders", "Revenue"),
    columns: tuple[Column, ...] | None = None,
) -> ProductSpec:
    if columns is None:
        columns = (
            Column("order_id", "string", required=True, unique=True, primary_key=True),
            Column("order_date", "date", required=True, partitioned=True),
            Column("customer_email", "string", classification="restricted", description="Buyer e-mail"),
            Column("amount", "number", description="Total in EUR, mentions zebra"),
        )
    return ProductSpec(
        domain=domain,
        name=name,
        version="1.2.0",
        status="active",
        description=f"{name} of {domain}",
        owner=owner,
        columns=columns,
        partitioning=Partitioning("order_date", "day"),
        sla=Sla(frequency="@daily", latency_hours=26.0, retention_versions=10),
        access=Access.of(
            readers=("finance", "marketing"),
            restricted_readers=("finance",),
            restricted_columns=("customer_email",),
        ),
        expectation_suite=f"{domain}/{name}.json",
        contract_path=f"domains/{domain}/contracts/{name}.odcs.yaml",
        contract_id=f"urn:{domain}:{name}",
        tags=tags,
    )


def event(principal: str = "bob", **overrides) -> AccessEvent:
    values = {
        "principal": principal,
        "principal_kind": "user",
        "product_id": "sales.customer_orders",
        "path": "api",
        "allowed": True,
        "version": 1,
        "columns": ("order_id", "amount"),
        "rows": 10,
        "purpose": "reporting",
        "at": T0,
    }
    values.update(overrides)
    return AccessEvent(**values)


def assert_json(record) -> dict:
    data = record.to_dict()
    assert json.loads(json.dumps(data)) == data
    return data
