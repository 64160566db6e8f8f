"""Test environment: a private AIRFLOW_HOME, product store and metadata store per test session.

Airflow reads its configuration when first imported, so the environment is set here, before any
test module imports airflow.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import sys
import tempfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SESSION_DIR = Path(tempfile.mkdtemp(prefix="data-mesh-tests-"))

os.environ.update(
    {
        "AIRFLOW_HOME": str(SESSION_DIR / "airflow"),
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
        "DATA_MESH_HOME": str(REPO),
        "DATA_MESH_STORAGE_ROOT": str(SESSION_DIR / "products"),
        "DATA_MESH_STAGING_ROOT": str(SESSION_DIR / "staging"),
        "DATA_MESH_QUARANTINE_ROOT": str(SESSION_DIR / "quarantine"),
        "DATA_MESH_CACHE_DIR": str(SESSION_DIR / "cache"),
        "DATA_MESH_METADATA_URL": f"sqlite:///{SESSION_DIR / 'metadata.db'}",
        "DATA_MESH_TASK_RETRIES": "0",
        "DATA_MESH_OPENLINEAGE_FILE": str(SESSION_DIR / "openlineage" / "events.jsonl"),
    }
)
for path in (str(REPO), str(REPO / "plugins")):
    if path not in sys.path:
        sys.path.insert(0, path)

# The PII vault's keys, as the Airflow Connection every process of the session reads (never logged).
VAULT_KEYS = {
    "password": base64.urlsafe_b64encode(os.urandom(32)).decode(),
    "hmac_secret": secrets.token_urlsafe(32),
}
os.environ["AIRFLOW_CONN_DATA_MESH_VAULT"] = json.dumps(
    {
        "conn_type": "generic",
        "password": VAULT_KEYS["password"],
        "extra": {"hmac_secret": VAULT_KEYS["hmac_secret"]},
    }
)

ARTIFACTS = REPO / "test-artifacts"


@pytest.fixture(scope="session")
def session_dir() -> Path:
    """This test session's private folder (Airflow homes, stores, logs)."""
    return SESSION_DIR


@pytest.fixture(scope="session")
def demo_sources():
    """The demo source server, and Airflow Connections pointing at it (as environment variables)."""
    from demo.launcher import DEMO_SECRETS
    from demo.source_server import start_server

    server = start_server(port=0, seed=42, scale=1)
    for conn_id, secret in DEMO_SECRETS.items():
        os.environ[f"AIRFLOW_CONN_{conn_id.upper()}"] = json.dumps(
            {"conn_type": "http", "host": server.url, **secret}
        )
    yield server
    server.stop()


@pytest.fixture(scope="module")
def server():
    """A demo source server of the test module's own: faults injected there never reach other modules."""
    from demo.source_server import start_server

    srv = start_server(port=0, seed=42, quiet=True)
    yield srv
    srv.stop()


@pytest.fixture
def no_faults(server):
    """Use with `pytest.mark.usefixtures("no_faults")`: every test starts and ends without faults."""
    server.clear_faults()
    yield
    server.clear_faults()


@pytest.fixture(scope="session")
def airflow_db():
    """Airflow's own metadata DB (SQLite) for dag.test()."""
    from airflow.utils import db

    db.resetdb()
    return True
