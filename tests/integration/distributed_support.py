"""What the distributed tests share: the services they need, names of their own, and the clean-up.

`services()` finds PostgreSQL and Redis (a failure when DATA_MESH_TEST_POSTGRES_URL is set and one
is unreachable, a skip otherwise); `fresh_topology()` gives a `Topology` on names of the test's own
(databases `dm_test_*_<id>`, queue, bucket, free ports); `forget()` drops those databases and the
queue's Redis keys; `platform_stores_env()` is the environment under which the test process reads
the run's products as the workers do (catalog on PostgreSQL, files on S3 through `data_mesh_s3`);
`start_cluster()` starts the topology in the test's own process tree, with proxies in front of
the platform's PostgreSQL and S3 (the fault tests).
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from demo import distributed
from demo.distributed import (
    S3_CONN_ENV,
    Topology,
    components,
    distributed_settings,
    ensure_databases,
    environment,
    free_port,
    start_s3,
)
from demo.launcher import Airflow, start_sources
from demo.processes import stop_processes
from tests.integration.tcp_proxy import TcpProxy
from tests.unit.metadata.store._store_testing import postgres_error, postgres_target, postgres_unreachable

REDIS_ENV = "DATA_MESH_TEST_REDIS_URL"  # a server and a db number of the tests' own


def unavailable(message: str, required: bool) -> None:
    if required:
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


def services() -> tuple[str, str, int]:
    """(PostgreSQL URL, Redis URL, Redis db): a failure when required and unreachable, else a skip."""
    import redis

    pg_url, required = postgres_target()
    if error := postgres_error(pg_url):
        unavailable(postgres_unreachable(pg_url, required, error), required)
    redis_url = os.environ.get(REDIS_ENV, "redis://127.0.0.1:6379/15")
    server, _, db = redis_url.rpartition("/")
    try:
        redis.Redis.from_url(redis_url, socket_connect_timeout=3).ping()
    except redis.RedisError as exc:
        unavailable(f"Redis at {redis_url} is unreachable ({exc}); set {REDIS_ENV}", required)
    return pg_url, server, int(db)


def fresh_topology(pg_url: str, redis_server: str, redis_db: int, concurrency: int = 1) -> Topology:
    """A topology on names of the test's own: nothing it creates collides with another run."""
    tag = uuid.uuid4().hex[:8]
    return Topology(
        postgres_url=pg_url,
        airflow_db=f"dm_test_airflow_{tag}",
        platform_db=f"dm_test_platform_{tag}",
        redis_url=redis_server,
        redis_db=redis_db,
        queue=f"dm_test_{tag}",
        bucket=f"dm-test-{tag}",
        api_port=free_port(),
        sources_port=free_port(),
        s3_port=free_port(),
        concurrency=concurrency,
    )


def forget(topology: Topology) -> None:
    """Drop the test's databases and its Celery queue's keys (`demo.distributed.forget`), once this
    process's connections to them are closed."""
    from data_mesh.metadata.store import dispose_engines

    dispose_engines()
    distributed.forget(topology)


def platform_stores_env(topology: Topology, home: Path, s3_endpoint: str | None = None) -> dict[str, str]:
    """The variables under which this process reads the run's stores as the workers do.

    Unset `DATA_MESH_CATALOG_URL` and `DATA_MESH_S3_*` too (see `apply_env`): the Connection decides.
    """
    settings = distributed_settings(topology, "")
    env = {name: settings[name] for name in ("DATA_MESH_METADATA_URL", "DATA_MESH_STORAGE_ROOT")}
    env["DATA_MESH_S3_CONN_ID"] = settings["DATA_MESH_S3_CONN_ID"]
    keys = json.loads((home / "data_mesh_s3.json").read_text())
    extra = {"endpoint_url": s3_endpoint or topology.s3_endpoint, "region_name": topology.region}
    env[S3_CONN_ENV] = json.dumps({"conn_type": "aws", **keys, "extra": extra})
    return env


def apply_env(monkeypatch: pytest.MonkeyPatch, env: dict[str, str]) -> None:
    """Set `env` (from `platform_stores_env`) in this process, and forget cached S3 settings."""
    from data_mesh.storage import s3

    for name, value in env.items():
        monkeypatch.setenv(name, value)
    for name in (*s3.ENV_OVERRIDES.values(), "DATA_MESH_CATALOG_URL"):
        monkeypatch.delenv(name, raising=False)
    s3.connection_properties.cache_clear()


@dataclass
class Cluster:
    """The distributed topology started by the test itself, with proxies in front of PostgreSQL and S3.

    The platform (every Airflow process: its metadata store, its Iceberg catalog, its S3 Connection)
    reaches PostgreSQL through `pg_proxy` and S3 through `s3_proxy`; Airflow's own database, the
    Celery result backend and this process's reads (`reader_env`) go straight to the services.
    """

    topology: Topology
    home: Path
    airflow: Airflow
    helpers: list[subprocess.Popen]
    pg_proxy: TcpProxy
    s3_proxy: TcpProxy
    reader_env: dict[str, str]
    started: float = field(default_factory=time.monotonic)

    @property
    def api(self) -> Airflow:
        return self.airflow

    def worker_of(self, hostname: str) -> str:
        """The component name ("worker1") of a `TaskInstance.hostname` ("worker1@host")."""
        name = hostname.split("@", 1)[0]
        if name not in self.topology.workers:
            raise LookupError(f"{hostname!r} is no worker of this topology ({self.topology.workers})")
        return name


@contextlib.contextmanager
def start_cluster(home: Path, log: Path, extra_env: dict[str, str]) -> Iterator[Cluster]:
    """`make run-distributed`'s processes, started here (so that a test can kill and restart a worker).

    The same functions as `demo.distributed.main` build it; the difference is where the platform's
    database URL and S3 endpoint point: at the proxies. Everything is stopped and forgotten at exit.
    """
    from sqlalchemy.engine import make_url

    pg_url, redis_server, redis_db = services()
    topology = fresh_topology(pg_url, redis_server, redis_db, concurrency=1)
    home.mkdir(parents=True, exist_ok=True)
    ensure_databases(topology)
    helpers: list[subprocess.Popen] = []
    proxies: list[TcpProxy] = []
    airflow: Airflow | None = None
    try:
        helpers.append(start_sources(topology.sources_port, 1, home / "sources.log"))
        helpers.append(start_s3(topology, home / "s3.log"))
        direct = make_url(pg_url)
        pg_proxy = TcpProxy(direct.host or "127.0.0.1", direct.port or 5432).start()
        s3_proxy = TcpProxy("127.0.0.1", topology.s3_port).start()
        proxies += [pg_proxy, s3_proxy]
        env = environment(home, topology, secrets.token_urlsafe(48))
        platform_url = make_url(topology.database_url(topology.platform_db)).set(
            host="127.0.0.1", port=pg_proxy.port
        )
        env["DATA_MESH_METADATA_URL"] = platform_url.render_as_string(hide_password=False)
        proxied = platform_stores_env(topology, home, s3_endpoint=f"http://127.0.0.1:{s3_proxy.port}")
        env[S3_CONN_ENV] = proxied[S3_CONN_ENV]
        env.update(extra_env)
        airflow = Airflow(env, topology.api_port, log, components(topology))
        airflow.wait_ready()
        yield Cluster(
            topology, home, airflow, helpers, pg_proxy, s3_proxy, platform_stores_env(topology, home)
        )
    finally:
        first, last = airflow.stop_order() if airflow else ([], [])
        stop_processes([*helpers, *first], last)
        for proxy in proxies:
            proxy.stop()
        forget(topology)
