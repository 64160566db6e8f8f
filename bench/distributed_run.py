"""The distributed topology (`demo.distributed`) on private names, for the benchmarks that need real Celery.

`private_run()` starts `python -m demo.distributed --paused` as a subprocess of its own session, on
names of the run's own (databases `dm_bench_*_<id>`, a Celery queue and a bucket of its own, free
ports, Redis db 14 or DATA_MESH_BENCH_REDIS_URL), waits for its banner, yields the logged-in REST
client and a connection to Airflow's database, then stops it with SIGINT (Ctrl-C: the launcher
stops every process it started) and drops the databases and the queue's keys (`demo.distributed.forget`).
The DAGs stay paused: the caller drives them.

Airflow's own records are the clock: `AirflowDb` reads the `dag_run`, `task_instance` and
`asset_event` rows that the scheduler, the workers and the api-server wrote, all on this machine's
clock, so differences between them are latencies with no clock skew.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.api_timing import PG_ADMIN_URL
from demo.distributed import Topology, forget, free_port
from demo.launcher import REPO, AirflowApi

REDIS_URL = os.environ.get("DATA_MESH_BENCH_REDIS_URL", "redis://127.0.0.1:6379/14")
START_TIMEOUT = 600.0


@dataclass
class PrivateRun:
    topology: Topology
    home: Path
    log: Path
    api: AirflowApi
    db: AirflowDb
    started_s: float  # seconds from launch to the banner


class AirflowDb:
    """Read-only SQL on Airflow's own database (the scheduler's and workers' records)."""

    def __init__(self, url: str) -> None:
        import sqlalchemy as sa

        self.engine = sa.create_engine(url, pool_pre_ping=True)

    def rows(self, query: str, **params: Any) -> list[Any]:
        import sqlalchemy as sa

        with self.engine.connect() as conn:
            return list(conn.execute(sa.text(query), params))

    def dispose(self) -> None:
        self.engine.dispose()


def _wait_for_banner(launcher: subprocess.Popen, log: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = log.read_text(errors="replace")
        if "The data mesh is running" in text:
            return
        if launcher.poll() is not None:
            raise RuntimeError(f"the launcher exited ({launcher.returncode}):\n{text[-3000:]}")
        time.sleep(2)
    raise TimeoutError(f"the launcher was not ready after {timeout:.0f}s:\n{log.read_text()[-3000:]}")


@contextmanager
def private_run(
    work: Path,
    *,
    concurrency: int = 2,
    extra_args: Sequence[str] = (),
    env: dict[str, str] | None = None,
    start_timeout: float = START_TIMEOUT,
) -> Iterator[PrivateRun]:
    """The topology under `work` (its AIRFLOW_HOME and logs), stopped and forgotten on exit."""
    server, _, db = REDIS_URL.rpartition("/")
    tag = uuid.uuid4().hex[:8]
    topology = Topology(
        postgres_url=PG_ADMIN_URL,
        airflow_db=f"dm_bench_airflow_{tag}",
        platform_db=f"dm_bench_platform_{tag}",
        redis_url=server,
        redis_db=int(db),
        queue=f"dm_bench_{tag}",
        bucket=f"dm-bench-{tag}",
        api_port=free_port(),
        sources_port=free_port(),
        s3_port=free_port(),
        concurrency=concurrency,
    )
    home = work / f"airflow-{tag}"
    home.mkdir(parents=True)
    log = work / "launcher.log"
    argv = [sys.executable, "-m", "demo.distributed", "--paused", "--airflow-home", str(home)]
    argv += ["--api-port", str(topology.api_port), "--sources-port", str(topology.sources_port)]
    argv += ["--s3-port", str(topology.s3_port), "--postgres", topology.postgres_url, "--redis", server]
    argv += ["--redis-db", db, "--queue", topology.queue, "--bucket", topology.bucket]
    argv += ["--airflow-db", topology.airflow_db, "--platform-db", topology.platform_db]
    argv += ["--concurrency", str(concurrency), *extra_args]
    started = time.monotonic()
    with open(log, "wb") as out:
        launcher = subprocess.Popen(
            argv,
            cwd=REPO,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env={**os.environ, **(env or {})},
        )
    airflow_db: AirflowDb | None = None
    try:
        _wait_for_banner(launcher, log, start_timeout)
        api = AirflowApi(f"http://localhost:{topology.api_port}")
        api.token = api.login("admin", "admin")
        airflow_db = AirflowDb(topology.database_url(topology.airflow_db))
        yield PrivateRun(topology, home, log, api, airflow_db, time.monotonic() - started)
    finally:
        if airflow_db is not None:
            airflow_db.dispose()
        if launcher.poll() is None:
            launcher.send_signal(signal.SIGINT)  # the terminal's Ctrl-C: the launcher stops it all
            try:
                launcher.wait(90)
            except subprocess.TimeoutExpired:
                os.killpg(launcher.pid, signal.SIGKILL)
        forget(topology)
