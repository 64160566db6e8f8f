"""A real Airflow (standalone: scheduler, dag-processor, api-server, triggerer) for integration tests."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from tests.integration.mesh_runs import CONSUMER, PRODUCERS, run_mesh


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


@pytest.fixture(scope="session")
def mesh_published(airflow_server) -> dict:
    """Both producers triggered through the REST API for PARTITION, and the consumer run their Assets caused.

    Returns the finished runs: {dag_id: run} for the producers and CONSUMER.
    """
    airflow_server.wait_for_dags([*PRODUCERS, CONSUMER])
    return run_mesh(airflow_server)
