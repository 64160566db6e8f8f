"""`data-mesh` against a real `airflow standalone`: log in as viewer, browse, download, SQL, refusals.

The CLI runs as a subprocess whose stores point at a folder that does not exist, so everything it
shows came through the api-server; the access log (read through the API as admin) must name the
Airflow user `viewer` and the path `cli` for its reads, whatever the OS user or the headers say.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pyarrow.csv as pacsv
import pytest
import requests

pytestmark = pytest.mark.integration

ORDERS = "sales.customer_orders"
COLUMNS = ["order_id", "region", "amount"]


@pytest.fixture(scope="module")
def published(mesh_published) -> dict:
    assert mesh_published["sales__customer_orders"]["state"] == "success", mesh_published
    return mesh_published


@pytest.fixture(scope="module")
def cli_env(airflow_server, tmp_path_factory) -> dict[str, str]:
    folder = tmp_path_factory.mktemp("cli-standalone")
    clean = {k: v for k, v in os.environ.items() if not k.startswith("DATA_MESH_")}
    return {
        **clean,
        "DATA_MESH_API_URL": airflow_server.url,
        "DATA_MESH_CREDENTIALS_FILE": str(folder / "credentials.json"),
        "DATA_MESH_METADATA_URL": f"sqlite:///{folder / 'nowhere' / 'metadata.db'}",
        "DATA_MESH_STORAGE_ROOT": str(folder / "nowhere" / "products"),
    }


def cli(env: dict[str, str], *args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "data_mesh.cli", *args], env=env, input=stdin,
                          capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def viewer(cli_env, published) -> dict[str, str]:
    """Logged in as viewer with `data-mesh login --password-stdin` (the token in the credentials file)."""
    out = cli(cli_env, "login", "--username", "viewer", "--password-stdin", stdin="viewer\n")
    assert out.returncode == 0, out.stderr
    path = Path(cli_env["DATA_MESH_CREDENTIALS_FILE"])
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    token = json.loads(path.read_text())[cli_env["DATA_MESH_API_URL"]]["access_token"]
    assert token not in out.stdout + out.stderr
    return cli_env


def access_events(airflow_server, **params) -> list[dict]:
    answer = requests.get(
        f"{airflow_server.url}/data-mesh/api/access-events",
        headers={"Authorization": f"Bearer {airflow_server.login('admin', 'admin')}"},
        params={"product_id": ORDERS, "page_size": 500, **params},
        timeout=60,
    )
    assert answer.status_code == 200, answer.text
    return answer.json()["items"]


def test_browse_download_and_sql_as_viewer(viewer, airflow_server, tmp_path):
    products = cli(viewer, "products")
    assert products.returncode == 0, products.stderr
    assert ORDERS in {line.split()[0] for line in products.stdout.splitlines()[2:]}
    show = cli(viewer, "show", ORDERS)
    assert show.returncode == 0, show.stderr
    assert show.stdout.startswith(f"{ORDERS}  (")
    email = next(line for line in show.stdout.splitlines() if line.startswith("customer_email"))
    assert "restricted" in email and "never published" not in show.stdout

    target = tmp_path / "orders.csv"
    download = cli(viewer, "download", ORDERS, "--columns", ",".join(COLUMNS), "-o", str(target))
    assert download.returncode == 0, download.stderr
    written = pacsv.read_csv(target)
    assert written.column_names == COLUMNS and written.num_rows > 0
    assert f": {written.num_rows} rows -> {target}" in download.stdout

    sql = cli(viewer, "sql", f"SELECT region, count(*) FROM {ORDERS} GROUP BY 1")
    assert sql.returncode == 0, sql.stderr
    header, _, *rows = sql.stdout.splitlines()
    assert header.split()[0] == "region" and rows
    assert sum(int(row.split()[-1]) for row in rows) == written.num_rows

    events = access_events(airflow_server, principal="viewer", path="cli", allowed="true")
    assert [e["columns"] for e in events[:2]] == [["region"], COLUMNS]  # newest first: the SQL read
    assert events[1]["rows"] == written.num_rows and all(e["principal_kind"] == "user" for e in events[:2])


def test_restricted_columns_are_refused_whatever_the_os_user(viewer, airflow_server, tmp_path):
    before = len(access_events(airflow_server, principal="viewer", path="cli", allowed="false"))
    for env in (viewer, {**viewer, "USER": "admin", "LOGNAME": "admin"}):
        target = tmp_path / "pii.csv"
        out = cli(env, "download", ORDERS, "--columns", "customer_email", "-o", str(target))
        assert out.returncode == 3, out.stderr
        assert "access denied: viewer may not read" in out.stderr and "customer_email" in out.stderr
        assert not target.exists()
    denied = access_events(airflow_server, principal="viewer", path="cli", allowed="false")
    assert len(denied) == before + 2 and all(e["columns"] == ["customer_email"] for e in denied[:2])
    assert not access_events(airflow_server, principal="admin", path="cli")


def test_a_header_never_changes_the_user(viewer, airflow_server):
    token = airflow_server.login("viewer", "viewer")
    forged = {"Authorization": f"Bearer {token}", "X-Data-Mesh-Client": "cli", "X-Data-Mesh-User": "admin",
              "X-Forwarded-User": "admin", "Remote-User": "admin"}
    answer = requests.get(f"{airflow_server.url}/data-mesh/api/products/{ORDERS}/download", headers=forged,
                          params={"columns": "customer_email"}, timeout=60)
    assert answer.status_code == 403, answer.text
    [event] = access_events(airflow_server, path="cli", allowed="false", page_size=1)
    assert event["principal"] == "viewer" and event["columns"] == ["customer_email"]
    assert not access_events(airflow_server, principal="admin", path="cli")


def test_a_refused_token_asks_to_log_in(viewer):
    out = cli({**viewer, "DATA_MESH_API_TOKEN": "not-a-jwt"}, "products")
    assert out.returncode == 5 and "Invalid JWT token" in out.stderr and "DATA_MESH_API_TOKEN" in out.stderr
    assert cli(viewer, "logout").returncode == 0
    out = cli(viewer, "products")
    assert out.returncode == 5 and "data-mesh login" in out.stderr and "Not authenticated" in out.stderr
