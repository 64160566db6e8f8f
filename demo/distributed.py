"""`make run-distributed`: the mesh on the production topology, on one machine, without Docker.

What it starts (each in a session of its own, all stopped together on Ctrl-C by the launcher's
`serve`/`stop_processes`, the api-server last):

- the demo source server, and a local S3 endpoint (moto's server mode) with the products bucket;
- Airflow 3.3 on the CeleryExecutor: broker on the local Redis (`redis://127.0.0.1:6379/<db>`),
  Airflow's database and the Celery result backend on the local PostgreSQL (a database of their own,
  created if missing), api-server, scheduler, dag-processor and triggerer as separate processes, and
  N Celery workers (two by default) with distinct Celery node names, `worker1@<host>`, `worker2@<host>`,
  that are also what each records as `TaskInstance.hostname` (`demo.hostname`);
- the platform's metadata store and Iceberg catalog on PostgreSQL (another database), the products
  on `s3://<bucket>/products`, with the S3 keys and endpoint in the Airflow Connection `data_mesh_s3`
  (type aws; made once per AIRFLOW_HOME in `data_mesh_s3.json`, mode 0600, like the vault's).

`distributed_settings()` is the one definition of what every component shares: executor, broker,
result backend, databases, storage root, JWT secret, execution API URL, queue. The launcher uses
it, and tests/unit/test_compose.py checks docker-compose.yml against it, so the production file
and what ran cannot drift apart. Staging (the files the tasks of one run hand each other) stays a
local folder shared by the workers: on one machine a folder, in docker-compose a shared volume.

Every setting is a flag (ports, databases, Redis db, queue, bucket) so that a test runs it on names
of its own; `--paused` leaves the DAGs paused for the caller to drive.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from demo.launcher import (
    REPO,
    SLO_DAG_ID,
    Airflow,
    airflow_environment,
    product_dag_ids,
    serve,
    start_mesh,
    start_sources,
)
from demo.processes import spawn

S3_CONN_ENV = "AIRFLOW_CONN_DATA_MESH_S3"
S3_CONN_ID = "data_mesh_s3"
# The Airflow commands of the topology (arguments of `airflow`), one process each; "worker" runs once
# per Celery worker. docker-compose.yml runs the same commands (tests/unit/test_compose.py).
COMPONENTS = {
    "api-server": ["api-server"],
    "scheduler": ["scheduler"],
    "dag-processor": ["dag-processor"],
    "triggerer": ["triggerer"],
    "worker": ["celery", "worker"],
}
INIT_COMMAND = ["db", "migrate"]
# Settings read from the platform's own defaults that must not leak in from the caller's environment.
OVERRIDDEN = (
    "DATA_MESH_CATALOG_URL",
    "DATA_MESH_S3_ENDPOINT",
    "DATA_MESH_S3_REGION",
    "DATA_MESH_S3_ACCESS_KEY_ID",
    "DATA_MESH_S3_SECRET_ACCESS_KEY",
)


@dataclass(frozen=True)
class Topology:
    """Where each shared service is; the defaults are `make run-distributed`'s."""

    postgres_url: str = "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres"  # any database
    airflow_db: str = "data_mesh_airflow"
    platform_db: str = "data_mesh_platform"
    redis_url: str = "redis://127.0.0.1:6379"
    redis_db: int = 0
    queue: str = "default"
    bucket: str = "data-mesh-products"
    region: str = "us-east-1"
    api_port: int = 8080
    sources_port: int = 8900
    s3_port: int = 9000
    workers: tuple[str, ...] = ("worker1", "worker2")
    concurrency: int = 2
    host: str = field(default_factory=socket.gethostname)

    def database_url(self, database: str) -> str:
        from sqlalchemy.engine import make_url

        return make_url(self.postgres_url).set(database=database).render_as_string(hide_password=False)

    @property
    def s3_endpoint(self) -> str:
        return f"http://127.0.0.1:{self.s3_port}"

    @property
    def storage_root(self) -> str:
        return f"s3://{self.bucket}/products"


def distributed_settings(topology: Topology, jwt_secret: str, api_host: str = "localhost") -> dict[str, str]:
    """The environment every Airflow component of the topology shares (the compose file's too)."""
    airflow_db = topology.database_url(topology.airflow_db)
    return {
        "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": airflow_db,
        "AIRFLOW__CELERY__BROKER_URL": f"{topology.redis_url.rstrip('/')}/{topology.redis_db}",
        "AIRFLOW__CELERY__RESULT_BACKEND": "db+" + airflow_db,  # SQLAlchemy 2.1 defaults to psycopg 3
        "AIRFLOW__OPERATORS__DEFAULT_QUEUE": topology.queue,
        "AIRFLOW__API_AUTH__JWT_SECRET": jwt_secret,
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://{api_host}:{topology.api_port}/execution/",
        "DATA_MESH_METADATA_URL": topology.database_url(topology.platform_db),
        "DATA_MESH_STORAGE_ROOT": topology.storage_root,
        "DATA_MESH_S3_CONN_ID": S3_CONN_ID,
    }


def components(topology: Topology) -> dict[str, tuple[list[str], dict[str, str]]]:
    """name -> (arguments of `airflow`, extra environment): one process per component and worker."""
    procs = {name: (argv, {}) for name, argv in COMPONENTS.items() if name != "worker"}
    procs["triggerer"] = (
        COMPONENTS["triggerer"],
        {"AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(free_port())},
    )
    for worker in topology.workers:
        node = f"{worker}@{topology.host}"
        argv = [*COMPONENTS["worker"], "--celery-hostname", node, "--concurrency", str(topology.concurrency)]
        argv += ["--queues", topology.queue, "--without-mingle", "--without-gossip"]
        procs[worker] = (
            argv,
            {
                "DATA_MESH_WORKER_HOSTNAME": node,
                "AIRFLOW__CORE__HOSTNAME_CALLABLE": "demo.hostname.worker_hostname",
                "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),  # one serve-logs each
            },
        )
    return procs


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def s3_connection(airflow_home: Path, topology: Topology) -> str:
    """The `data_mesh_s3` Connection (keys made once per AIRFLOW_HOME, mode 0600) as Airflow's JSON."""
    path = airflow_home / "data_mesh_s3.json"
    if not path.exists():
        keys = {"login": "data-mesh", "password": secrets.token_urlsafe(24)}
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            json.dump(keys, out)
    keys = json.loads(path.read_text())
    extra = {"endpoint_url": topology.s3_endpoint, "region_name": topology.region}
    return json.dumps({"conn_type": "aws", **keys, "extra": extra})


def ensure_databases(topology: Topology) -> None:
    """Create Airflow's and the platform's databases if missing (a clear error if PostgreSQL is down)."""
    import sqlalchemy as sa

    engine = sa.create_engine(topology.postgres_url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            for name in (topology.airflow_db, topology.platform_db):
                found = conn.execute(sa.text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name})
                if not found.scalar():
                    conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    except sa.exc.OperationalError as error:
        url = sa.engine.make_url(topology.postgres_url).render_as_string(hide_password=True)
        raise SystemExit(f"PostgreSQL at {url} is unreachable: {error.orig}") from None
    finally:
        engine.dispose()


def drop_databases(topology: Topology) -> None:
    """Drop the topology's two databases (tests: their own names only), closing their connections."""
    import sqlalchemy as sa

    engine = sa.create_engine(topology.postgres_url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            for name in (topology.airflow_db, topology.platform_db):
                conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        engine.dispose()


def forget(topology: Topology) -> None:
    """Drop a private run's databases and its Celery queue's keys (tests and benchmarks: own names only)."""
    import redis

    drop_databases(topology)
    client = redis.Redis.from_url(distributed_settings(topology, "")["AIRFLOW__CELERY__BROKER_URL"])
    keys = list(client.scan_iter(match=f"*{topology.queue}*"))
    if keys:
        client.delete(*keys)


def check_redis(topology: Topology) -> None:
    import redis

    url = distributed_settings(topology, "")["AIRFLOW__CELERY__BROKER_URL"]
    try:
        redis.Redis.from_url(url, socket_connect_timeout=3).ping()
    except redis.RedisError as error:
        raise SystemExit(f"Redis at {url} is unreachable: {error}") from None


def start_s3(topology: Topology, log: Path, timeout: float = 60) -> subprocess.Popen:
    """moto's S3 server on the topology's port, with the products bucket created."""
    import boto3
    import requests

    server = spawn(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(topology.s3_port)], log, cwd=REPO
    )
    deadline = time.monotonic() + timeout
    while True:
        try:
            requests.get(f"{topology.s3_endpoint}/moto-api/", timeout=2)
            break
        except requests.RequestException:
            if server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(
                    f"the S3 endpoint did not start on {topology.s3_endpoint} (see {log})"
                ) from None
            time.sleep(0.3)
    client = boto3.client(
        "s3",
        endpoint_url=topology.s3_endpoint,
        region_name=topology.region,
        aws_access_key_id="data-mesh",
        aws_secret_access_key="unused-by-moto",
    )
    if topology.bucket not in {b["Name"] for b in client.list_buckets()["Buckets"]}:
        client.create_bucket(Bucket=topology.bucket)
    return server


def environment(
    airflow_home: Path, topology: Topology, jwt_secret: str, dags_folder: Path | None = None
) -> dict[str, str]:
    """Every Airflow process's environment: the embedded default's, then the distributed settings.

    `dags_folder`: another mesh's DAG files (bench/mesh_distributed.py: the generated mesh, whose
    domains DATA_MESH_HOME / DATA_MESH_DOMAINS_FOLDER in the caller's environment point at).
    """
    sources_url = f"http://127.0.0.1:{topology.sources_port}"
    env = airflow_environment(airflow_home, sources_url, topology.api_port)
    if dags_folder is not None:
        env["AIRFLOW__CORE__DAGS_FOLDER"] = str(dags_folder)
    for name in OVERRIDDEN:
        env.pop(name, None)
    data = airflow_home / "data"
    env.update(distributed_settings(topology, jwt_secret))
    env.update(
        {
            S3_CONN_ENV: s3_connection(airflow_home, topology),
            "DATA_MESH_STAGING_ROOT": str(data / "staging"),
            "DATA_MESH_QUARANTINE_ROOT": str(data / "quarantine"),
            "DATA_MESH_OPENLINEAGE_FILE": str(data / "openlineage" / "events.jsonl"),
            "DATA_MESH_PUBLIC_URL": f"http://localhost:{topology.api_port}",
        }
    )
    return env


def describe(topology: Topology, airflow: Airflow) -> str:
    """The topology that runs: every process with its pid, the hostnames and the ports."""
    lines = []
    for name, process in airflow.processes.items():
        if name == "db-migrate":
            continue
        extra = airflow.components.get(name, ([], {}))[1]
        ports = [
            f"{key.split('__')[-1].lower()} {value}" for key, value in extra.items() if key.endswith("_PORT")
        ]
        where = f"api :{topology.api_port}" if name == "api-server" else ", ".join(ports)
        lines.append(f"  {name:<14} pid {process.pid:<8} {where}".rstrip())
    workers = ", ".join(f"{w}@{topology.host}" for w in topology.workers)
    return "\n".join(
        [
            "Topology:",
            *lines,
            f"  Celery workers: {workers} (concurrency {topology.concurrency}, queue {topology.queue!r})",
            f"  Broker:        {topology.redis_url}/{topology.redis_db}",
            f"  PostgreSQL:    Airflow + Celery results in {topology.airflow_db!r}, "
            f"metadata store + Iceberg catalog in {topology.platform_db!r}",
            f"  S3 (moto):     {topology.s3_endpoint}, warehouse {topology.storage_root} "
            f"(Connection {S3_CONN_ID!r})",
            f"  Demo sources:  http://127.0.0.1:{topology.sources_port}",
        ]
    )


def parse_args(argv: list[str] | None = None) -> tuple[argparse.Namespace, Topology]:
    d = Topology()
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--api-port", type=int, default=d.api_port)
    parser.add_argument("--sources-port", type=int, default=d.sources_port)
    parser.add_argument("--s3-port", type=int, default=d.s3_port)
    parser.add_argument("--postgres", default=d.postgres_url, help="the PostgreSQL server (any database)")
    parser.add_argument("--airflow-db", default=d.airflow_db)
    parser.add_argument("--platform-db", default=d.platform_db)
    parser.add_argument("--redis", default=d.redis_url, help="the Redis server, without a db number")
    parser.add_argument("--redis-db", type=int, default=d.redis_db)
    parser.add_argument("--queue", default=d.queue, help="the Celery queue of the tasks and the workers")
    parser.add_argument("--bucket", default=d.bucket)
    parser.add_argument("--workers", type=int, default=len(d.workers), help="Celery workers")
    parser.add_argument("--concurrency", type=int, default=d.concurrency, help="task slots per worker")
    parser.add_argument("--airflow-home", type=Path, default=REPO / ".airflow-distributed")
    parser.add_argument("--paused", action="store_true", help="leave the DAGs paused (tests drive them)")
    parser.add_argument(
        "--dags-folder", type=Path, default=None, help="another mesh's DAG files (default: this checkout's)"
    )
    parser.add_argument("--sources-scale", type=float, default=1, help="demo source volume multiplier")
    args = parser.parse_args(argv)
    if args.workers < 1 or args.concurrency < 1:
        parser.error("--workers and --concurrency must be at least 1")
    topology = Topology(
        postgres_url=args.postgres,
        airflow_db=args.airflow_db,
        platform_db=args.platform_db,
        redis_url=args.redis,
        redis_db=args.redis_db,
        queue=args.queue,
        bucket=args.bucket,
        api_port=args.api_port,
        sources_port=args.sources_port,
        s3_port=args.s3_port,
        workers=tuple(f"worker{i}" for i in range(1, args.workers + 1)),
        concurrency=args.concurrency,
    )
    return args, topology


def main(argv: list[str] | None = None) -> None:
    args, topology = parse_args(argv)
    home = args.airflow_home.resolve()
    home.mkdir(parents=True, exist_ok=True)
    ensure_databases(topology)
    check_redis(topology)
    jwt_secret = secrets.token_urlsafe(48)  # one per start, shared by every component

    def start(helpers: list[subprocess.Popen]) -> Airflow:
        helpers.append(start_sources(topology.sources_port, args.sources_scale, home / "sources.log"))
        helpers.append(start_s3(topology, home / "s3.log"))
        env = environment(home, topology, jwt_secret, args.dags_folder and args.dags_folder.resolve())
        print(
            f"Sources and S3 up; starting Airflow on Celery (logs: {home}/airflow.<component>.log) ...",
            flush=True,
        )
        return Airflow(env, topology.api_port, home / "airflow.log", components(topology))

    def ready(airflow: Airflow) -> str:
        if args.paused:
            producers, consumers = product_dag_ids()
            airflow.wait_for_dags(producers + consumers + [SLO_DAG_ID])
            runs = "DAGs left paused (--paused)"
        else:
            producers, consumers = start_mesh(airflow)
            runs = f"producers' first runs started: {', '.join(producers)}"
        return (
            f"\nThe data mesh is running (distributed).\n{describe(topology, airflow)}\n"
            f"  Airflow UI:    {airflow.url}  (admin / admin, viewer / viewer)\n"
            f"  Data Products: {airflow.url}/plugin/data-products\n"
            f"  {runs}\n"
            f"Press Ctrl-C to stop everything."
        )

    serve(start, ready, what="Airflow, the workers, S3 and the demo sources")


if __name__ == "__main__":
    main()
