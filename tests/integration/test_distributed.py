"""The production topology without Docker: `python -m demo.distributed`, driven like a user would.

Celery executor (broker on the local Redis, two workers with their own hostnames), Airflow's and the
platform's databases on the local PostgreSQL, the products on a local S3 (moto) whose keys are in the
Airflow Connection `data_mesh_s3`. The launcher runs as a subprocess on names of this test's own
(databases, Redis queue, bucket, ports), the producers are triggered through the REST API for one
partition, and then: every product is on S3 and reads back through the platform, tasks ran on both
workers, finance ran on its Assets, the catalog API lists all three published, the S3 secret is in
no log, record or Asset extra; Ctrl-C stops every process the launcher started.

PostgreSQL and Redis are required when DATA_MESH_TEST_POSTGRES_URL is set (CI): unreachable is a
failure then, a skip otherwise. The databases are dropped at the end.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psutil
import pytest
import requests

from demo.distributed import Topology
from demo.launcher import AirflowApi
from tests.integration.distributed_support import (
    apply_env,
    forget,
    fresh_topology,
    platform_stores_env,
    services,
)
from tests.integration.mesh_runs import CONSUMER, PARTITION, PRODUCERS, run_mesh

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
PRODUCTS = {
    "marketing.ads_performance": "marketing__ads_performance",
    "sales.customer_orders": "sales__customer_orders",
    "finance.monthly_revenue": "finance__monthly_revenue",
}
START_TIMEOUT = 300


@dataclass
class Mesh:
    topology: Topology
    home: Path
    launcher: subprocess.Popen
    log: Path
    api: AirflowApi
    started: float


def _wait_for_banner(launcher: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        text = log.read_text(errors="replace")
        if "The data mesh is running" in text:
            return
        if launcher.poll() is not None:
            pytest.fail(f"the launcher exited ({launcher.returncode}):\n{text[-3000:]}", pytrace=False)
        time.sleep(2)
    pytest.fail(
        f"the launcher was not ready after {START_TIMEOUT}s:\n{log.read_text()[-3000:]}", pytrace=False
    )


@pytest.fixture(scope="module")
def mesh(session_dir) -> Iterator[Mesh]:
    pg_url, redis_server, redis_db = services()
    # concurrency 1: a worker running a task takes no other, so two at once need both workers
    topology = fresh_topology(pg_url, redis_server, redis_db, concurrency=1)
    home = session_dir / f"distributed-{topology.queue}"
    home.mkdir()
    artifacts = REPO / "test-artifacts"
    artifacts.mkdir(exist_ok=True)
    log = artifacts / "distributed.log"
    argv = [sys.executable, "-m", "demo.distributed", "--paused", "--airflow-home", str(home)]
    argv += ["--api-port", str(topology.api_port), "--sources-port", str(topology.sources_port)]
    argv += ["--s3-port", str(topology.s3_port), "--postgres", pg_url, "--redis", redis_server]
    argv += ["--redis-db", str(redis_db), "--queue", topology.queue, "--bucket", topology.bucket]
    argv += ["--airflow-db", topology.airflow_db, "--platform-db", topology.platform_db, "--concurrency", "1"]
    started = time.monotonic()
    with open(log, "wb") as out:
        launcher = subprocess.Popen(
            argv, cwd=REPO, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        _wait_for_banner(launcher, log)
        api = AirflowApi(f"http://localhost:{topology.api_port}")
        api.token = api.login("admin", "admin")
        yield Mesh(topology, home, launcher, log, api, started)
    finally:
        if launcher.poll() is None:
            launcher.send_signal(signal.SIGINT)
            try:
                launcher.wait(60)
            except subprocess.TimeoutExpired:
                os.killpg(launcher.pid, signal.SIGKILL)
        forget(topology)


@pytest.fixture(scope="module")
def runs(mesh: Mesh) -> dict[str, dict]:
    """The producers triggered for PARTITION through the REST API, and finance's Asset-triggered run."""
    return run_mesh(mesh.api)


def _s3_secret(mesh: Mesh) -> str:
    return json.loads((mesh.home / "data_mesh_s3.json").read_text())["password"]


def test_the_whole_mesh_runs_on_celery_postgres_and_s3(mesh, runs, monkeypatch):
    import boto3
    import sqlalchemy as sa

    for dag_id, run in runs.items():
        assert run["state"] == "success", f"{dag_id}: {run} (logs in {mesh.home})"

    # every product published on S3: data and metadata files under the warehouse
    client = boto3.client(
        "s3", endpoint_url=mesh.topology.s3_endpoint, region_name=mesh.topology.region,
        aws_access_key_id="reader", aws_secret_access_key="unused-by-moto",
    )  # fmt: skip
    keys = [o["Key"] for page in client.get_paginator("list_objects_v2").paginate(Bucket=mesh.topology.bucket)
            for o in page.get("Contents", [])]  # fmt: skip
    for product_id in PRODUCTS:
        prefix = "products/" + product_id.replace(".", "/")
        assert any(k.startswith(f"{prefix}/data/") and k.endswith(".parquet") for k in keys), (
            product_id,
            keys,
        )
        assert any(k.startswith(f"{prefix}/metadata/") and k.endswith(".metadata.json") for k in keys), (
            product_id
        )

    # ... and readable through the platform (Iceberg catalog on PostgreSQL, files on S3)
    apply_env(monkeypatch, platform_stores_env(mesh.topology, mesh.home))
    from data_mesh.contract.registry import get_product
    from data_mesh.storage.products import product_storage

    for product_id in PRODUCTS:
        store = product_storage(get_product(product_id))
        assert store.uri.startswith(f"s3://{mesh.topology.bucket}/products/"), store.uri
        manifest = store.version()
        assert manifest.rows > 0 and store.read_table(manifest).num_rows == manifest.rows, product_id
        assert store.metadata_location().startswith(f"s3://{mesh.topology.bucket}/"), product_id
    sales = product_storage(get_product("sales.customer_orders"))
    assert PARTITION in sales.partitions(sales.version())

    # tasks ran on both workers, each recording its own hostname
    engine = sa.create_engine(mesh.topology.database_url(mesh.topology.airflow_db))
    try:
        with engine.connect() as conn:
            query = "SELECT DISTINCT hostname FROM task_instance WHERE state = 'success'"
            hosts = set(conn.execute(sa.text(query)).scalars())
    finally:
        engine.dispose()
    assert hosts == {f"{w}@{mesh.topology.host}" for w in mesh.topology.workers}

    # finance was triggered by its Assets: the events of both producers
    finance = runs[CONSUMER]
    assert finance["run_type"] == "asset_triggered"
    events = mesh.api.api("GET", f"/dags/{CONSUMER}/dagRuns/{finance['dag_run_id']}/upstreamAssetEvents")
    assert {e["source_dag_id"] for e in events["asset_events"]} == set(PRODUCERS), events
    assert {e["name"] for e in events["asset_events"]} == {
        "marketing.ads_performance",
        "sales.customer_orders",
    }

    # the catalog shows all three published, to a logged-in user only
    catalog_url = f"{mesh.api.url}/data-mesh/api/products"
    assert requests.get(catalog_url, timeout=30).status_code == 401
    auth = {"Authorization": f"Bearer {mesh.api.token}"}
    answer = requests.get(catalog_url, headers=auth, timeout=30)
    assert answer.status_code == 200, answer.text[:300]
    listed = {p["id"]: p for p in answer.json()["products"]}
    for product_id in PRODUCTS:
        assert (listed[product_id]["latest_version"] or 0) >= 1, listed.get(product_id)

    # the api-server reads the table on S3 too (its own lookup of the Connection): a governed download
    csv = requests.get(
        f"{catalog_url}/finance.monthly_revenue/download", params={"format": "csv"}, headers=auth, timeout=60
    )
    assert csv.status_code == 200, csv.text[:300]
    assert len(csv.text.strip().splitlines()) == 1 + listed["finance.monthly_revenue"]["latest_rows"]

    # the S3 secret is in no log, no metadata record and no Asset extra
    secret = _s3_secret(mesh).encode()
    logs = [p for p in mesh.home.rglob("*.log") if p.is_file()]
    assert any("task_id=publish" in str(p) for p in logs)
    assert [str(p) for p in logs if secret in p.read_bytes()] == []
    asset_events = mesh.api.api("GET", "/assets/events", params={"limit": 100})["asset_events"]
    assert asset_events and secret not in json.dumps([e.get("extra") for e in asset_events]).encode()
    platform = sa.create_engine(mesh.topology.database_url(mesh.topology.platform_db))
    try:
        with platform.connect() as conn:
            tables = conn.execute(
                sa.text("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
            ).scalars()
            dump = "".join(
                str(row)
                for table in list(tables)
                for row in conn.execute(sa.text(f'SELECT t::text FROM "{table}" t'))
            )
    finally:
        platform.dispose()
    assert "iceberg_tables" in dump or "s3://" in dump
    assert secret.decode() not in dump


def _started_by(mesh: Mesh) -> list[psutil.Process]:
    """The launcher, its descendants, and any process running with the run's AIRFLOW_HOME."""
    procs = {mesh.launcher.pid: psutil.Process(mesh.launcher.pid)}
    procs.update((p.pid, p) for p in psutil.Process(mesh.launcher.pid).children(recursive=True))
    for proc in psutil.process_iter():
        try:
            if proc.environ().get("AIRFLOW_HOME") == str(mesh.home):
                procs.setdefault(proc.pid, proc)
        except psutil.Error:
            pass
    return list(procs.values())


def _cmdline(proc: psutil.Process) -> list[str]:
    """A live process's command line; none for one that exited (a zombie not yet reaped, or gone)."""
    try:
        return [] if proc.status() == psutil.STATUS_ZOMBIE else proc.cmdline()
    except psutil.Error:
        return []


def test_ctrl_c_stops_every_process_it_started(mesh, runs):
    procs = _started_by(mesh)
    names = " ".join(" ".join(_cmdline(p)) for p in procs)
    assert names.count("celery") >= 2 and "moto.server" in names and "source_server" in names
    mesh.launcher.send_signal(signal.SIGINT)  # what the terminal's Ctrl-C does
    assert mesh.launcher.wait(60) == 0, mesh.log.read_text()[-2000:]
    gone, alive = psutil.wait_procs(procs, timeout=10)
    survivors = [p.pid for p in alive if p.pid not in {g.pid for g in gone} and psutil.pid_exists(p.pid)]
    assert survivors == []
    assert _started_by_home(mesh.home) == []
    assert "Stopped in" in mesh.log.read_text()
    print(f"distributed run: {time.monotonic() - mesh.started:.0f}s from launch to stopped")


def _started_by_home(home: Path) -> list[int]:
    found = []
    for proc in psutil.process_iter():
        try:
            if proc.environ().get("AIRFLOW_HOME") == str(home) and proc.status() != psutil.STATUS_ZOMBIE:
                found.append(proc.pid)
        except psutil.Error:
            pass
    return found
