"""A real Airflow (standalone: scheduler, dag-processor, api-server, triggerer) for integration tests."""

from __future__ import annotations

import socket
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def airflow_server(demo_sources, session_dir):
    """`airflow standalone` on a free port, its own AIRFLOW_HOME, the session's product and metadata stores.

    Users: admin/admin (admin role) and viewer/viewer (viewer role). Logs in test-artifacts/.
    """
    from demo.launcher import Airflow, airflow_environment

    home = session_dir / "airflow-standalone"
    home.mkdir(parents=True, exist_ok=True)
    port = _free_port()
    env = airflow_environment(home, demo_sources.url, api_port=port)
    env["DATA_MESH_TASK_RETRIES"] = "0"
    log_dir = Path(__file__).resolve().parents[2] / "test-artifacts"
    log_dir.mkdir(exist_ok=True)
    airflow = Airflow(env, api_port=port, log_path=log_dir / "airflow-standalone.log")
    try:
        airflow.wait_ready()
        yield airflow
    finally:
        airflow.stop()


PRODUCERS = ("marketing__ads_performance", "sales__customer_orders")
CONSUMER = "finance__monthly_revenue"
# The latest complete day: the very partition the producers' scheduled runs build once unpaused, so
# every Asset event the consumer sees is of one month (a mix made it build a month with no ads).
PARTITION = (datetime.now(UTC).date() - timedelta(days=1)).isoformat()


@pytest.fixture(scope="session")
def mesh_published(airflow_server) -> dict:
    """Both producers triggered through the REST API for PARTITION, and the consumer run their Assets caused.

    Returns the finished runs: {dag_id: run} for the producers and CONSUMER.
    """
    airflow_server.wait_for_dags([*PRODUCERS, CONSUMER])
    airflow_server.unpause(CONSUMER)
    run_ids = {dag_id: airflow_server.trigger(dag_id, {"partition": PARTITION}) for dag_id in PRODUCERS}
    for dag_id in PRODUCERS:
        airflow_server.unpause(dag_id)
    runs = {
        dag_id: airflow_server.wait_for_run(dag_id, lambda r, run_id=run_id: r["dag_run_id"] == run_id)
        for dag_id, run_id in run_ids.items()
    }
    runs[CONSUMER] = airflow_server.wait_for_run(CONSUMER, lambda r: r["run_type"] == "asset_triggered")
    return runs
