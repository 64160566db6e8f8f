"""docker-compose.yml runs what `make run-distributed` ran (demo.distributed), and the Dockerfile the lock.

The launcher's `distributed_settings()` is the reference: every setting it gives the components
(executor, broker, result backend, databases, storage root, S3 Connection, queue, JWT secret,
execution API URL) must be in every Airflow service of the compose file, equal up to the host names
and credentials that differ between one machine and containers. No Docker engine is needed.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml
from sqlalchemy.engine import make_url

from demo.distributed import COMPONENTS, INIT_COMMAND, S3_CONN_ENV, S3_CONN_ID, Topology, distributed_settings

REPO = Path(__file__).resolve().parents[2]
TOPOLOGY = Topology()
SETTINGS = distributed_settings(TOPOLOGY, jwt_secret="launcher-secret")
VARIABLE = re.compile(r"^\$\{[A-Z0-9_]+(:\?[^}]*)?\}$")  # ${NAME} or ${NAME:?message}: no default value


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((REPO / "docker-compose.yml").read_text())


def _airflow_services(compose: dict) -> dict[str, dict]:
    """The services running `airflow ...`: name -> service (YAML merges applied by the loader)."""
    return {
        name: service
        for name, service in compose["services"].items()
        if list(service.get("command") or [])[:1] == ["airflow"]
    }


def _service_running(compose: dict, argv: list[str]) -> str:
    found = [name for name, s in _airflow_services(compose).items() if s["command"] == ["airflow", *argv]]
    assert len(found) == 1, f"one service must run `airflow {' '.join(argv)}`, found {found}"
    return found[0]


def _sql(url: str) -> tuple[str, str | None, int | None]:
    parsed = make_url(re.sub(r"\$\{[^}]*\}", "x", url))
    return parsed.drivername, parsed.database, parsed.port or 5432


def test_every_component_of_the_launcher_is_a_service(compose):
    for argv in COMPONENTS.values():
        _service_running(compose, argv)
    _service_running(compose, INIT_COMMAND)
    assert set(_airflow_services(compose)) == {
        _service_running(compose, argv) for argv in [*COMPONENTS.values(), INIT_COMMAND]
    }


def test_the_worker_scales(compose):
    worker = compose["services"][_service_running(compose, COMPONENTS["worker"])]
    assert not {"container_name", "hostname", "ports"} & set(worker), "a fixed name or port stops --scale"


@pytest.mark.parametrize("key", sorted(SETTINGS))
def test_every_airflow_service_has_the_launchers_setting(compose, key):
    services = _airflow_services(compose)
    api = _service_running(compose, COMPONENTS["api-server"])
    api_port = int(compose["services"][api]["ports"][0].rsplit(":", 1)[-1])
    for name, service in services.items():
        env = service.get("environment") or {}
        assert key in env, f"{name} lacks {key}"
        mine, theirs = SETTINGS[key], str(env[key])
        if key in ("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", "DATA_MESH_METADATA_URL"):
            assert _sql(theirs) == _sql(mine), (name, key)
            assert make_url(re.sub(r"\$\{[^}]*\}", "x", theirs)).host in compose["services"]
        elif key == "AIRFLOW__CELERY__RESULT_BACKEND":
            assert theirs.startswith("db+") and _sql(theirs[3:]) == _sql(mine[3:]), (name, key)
        elif key == "AIRFLOW__CELERY__BROKER_URL":
            ours, compose_url = urlsplit(mine), urlsplit(theirs)
            assert (compose_url.scheme, compose_url.port, compose_url.path) == (
                ours.scheme,
                ours.port,
                ours.path,
            )
            assert compose_url.hostname in compose["services"]
        elif key == "AIRFLOW__API_AUTH__JWT_SECRET":
            assert VARIABLE.match(theirs), f"{name}: the JWT secret must come from .env, not {theirs!r}"
        elif key == "AIRFLOW__CORE__EXECUTION_API_SERVER_URL":
            ours, compose_url = urlsplit(mine), urlsplit(theirs)
            assert (
                (compose_url.scheme, compose_url.path) == (ours.scheme, ours.path) == ("http", "/execution/")
            )
            assert (compose_url.hostname, compose_url.port) == (api, api_port), name
        else:
            assert theirs == mine, (name, key)


def test_one_jwt_secret_shared_by_all_components(compose):
    secrets = {
        str(s["environment"]["AIRFLOW__API_AUTH__JWT_SECRET"]) for s in _airflow_services(compose).values()
    }
    assert len(secrets) == 1


def test_the_bucket_of_the_storage_root_is_created_and_the_s3_connection_points_at_the_store(compose):
    services = compose["services"]
    bucket = urlsplit(SETTINGS["DATA_MESH_STORAGE_ROOT"]).hostname
    assert SETTINGS["DATA_MESH_S3_CONN_ID"] == S3_CONN_ID
    assert f"/{bucket}" in str(services["object-store-init"]["entrypoint"])
    for name, service in _airflow_services(compose).items():
        raw = service["environment"][S3_CONN_ENV]
        conn = json.loads(re.sub(r"\$\{[A-Z0-9_]+:-([^}]*)\}", r"\1", raw))  # defaults in place of variables
        assert conn["conn_type"] == "aws", name
        assert VARIABLE.match(conn["password"]), f"{name}: the S3 secret must come from .env"
        endpoint = urlsplit(conn["extra"]["endpoint_url"])
        assert endpoint.hostname in services and endpoint.port == 9000, name


def test_both_databases_are_created(compose):
    postgres = compose["services"]["postgres"]
    assert postgres["environment"]["POSTGRES_DB"] == TOPOLOGY.airflow_db
    assert f"CREATE DATABASE {TOPOLOGY.platform_db};" in postgres["command"]


def test_the_dockerfile_installs_the_lock():
    text = (REPO / "Dockerfile").read_text()
    installs = [line for line in text.splitlines() if "pip install" in line]
    assert any("-r requirements.lock" in line for line in installs)
    # besides uv itself (pinned) only the project, without resolving anything the lock did not pin
    others = [line for line in installs if "-r requirements.lock" not in line and '"uv==' not in line]
    assert others and all("--no-deps" in line for line in others), others
