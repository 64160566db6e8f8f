"""`data-mesh` as a client of the API: the CLI (a subprocess) against the real plugin app and Airflow's
own login, served in this process with Airflow's real JWT checks (SimpleAuthManager: admin, viewer).

The CLI's environment points the stores at a folder that does not exist: whatever it shows came
through the API, as the user its token names.
"""

from __future__ import annotations

import json
import os
import socket
import stat
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
import requests

from data_mesh.contract.registry import get_product
from data_mesh.metadata.store import AccessEvent, MetadataStore, PublicationRecord, dispose_engines
from data_mesh.storage.products import product_storage
from tests.unit.test_cli import orders_rows

ORDERS = "sales.customer_orders"
# SimpleAuthManager's users (name -> role); alice.sales owns ORDERS in its contract, carol.marketing
# owns the marketing domain's
USERS = {"admin": "admin", "viewer": "viewer", "alice.sales": "user", "carol.marketing": "user"}


def _serve(app) -> tuple[str, object, threading.Thread]:
    import uvicorn

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the test api-server did not start"
        time.sleep(0.05)
    return f"http://127.0.0.1:{sock.getsockname()[1]}", server, thread


@pytest.fixture(scope="module")
def api(airflow_db, tmp_path_factory):
    """orders v1 (3 rows) and v2 (4 rows) published; Airflow's /auth and the plugin at /data-mesh."""
    from airflow.api_fastapi import app as airflow_app
    from airflow.api_fastapi.auth.managers.simple.user import SimpleAuthManagerUser
    from fastapi import FastAPI

    from data_mesh.web.app import create_app

    folder = tmp_path_factory.mktemp("cli-api")
    passwords = folder / "passwords.json"
    passwords.write_text(json.dumps({name: name for name in USERS}))  # each password is the user's name
    before = airflow_app._AuthManagerState.instance
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DATA_MESH_METADATA_URL", f"sqlite:///{folder / 'metadata.db'}")
        patch.setenv("DATA_MESH_STORAGE_ROOT", str(folder / "products"))
        patch.setenv("DATA_MESH_OPENLINEAGE_TRANSPORT", "none")
        users = ",".join(f"{name}:{role}" for name, role in USERS.items())
        patch.setenv("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS", users)
        patch.setenv("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE", str(passwords))
        spec = get_product(ORDERS)
        store = MetadataStore()
        store.upsert_product(spec, Path(spec.contract_path).read_text())
        storage = product_storage(spec)
        for run, rows in (("manual__1", 3), ("manual__2", 4)):
            v = storage.publish(orders_rows(rows), "2026-11-20", "h", run)
            store.record_publication(PublicationRecord(
                product_id=ORDERS, version=v.version, partition="2026-11-20", rows=rows, run_id=run,
                dag_id=spec.dag_id, task_id="publish", validation_success=True,
            ))
        store.add_lineage_edge("product", ORDERS, "product", "finance.monthly_revenue")
        store.record_access(AccessEvent(principal="someone", principal_kind="user", product_id=ORDERS,
                                        path="api", allowed=True, version=1, rows=3))
        root = FastAPI()
        manager = airflow_app.init_auth_manager(root)
        root.mount("/data-mesh", create_app())
        url, server, thread = _serve(root)

        def token(name: str, seconds: int = 3600) -> str:
            user = SimpleAuthManagerUser(username=name, role=USERS.get(name, name))
            return manager.generate_jwt(user, expiration_time_in_seconds=seconds)

        try:
            yield {"url": url, "folder": folder, "token": token, "store": store}
        finally:
            server.should_exit = True
            thread.join(10)
            airflow_app._AuthManagerState.instance = before
            dispose_engines()


@pytest.fixture
def env(api, tmp_path) -> dict[str, str]:
    """The CLI's environment: the API's URL, a credentials file of its own, no way to the stores."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("DATA_MESH_")}
    nowhere = tmp_path / "no-such-folder"
    return {
        **clean,
        "DATA_MESH_API_URL": api["url"],
        "DATA_MESH_CREDENTIALS_FILE": str(tmp_path / "config" / "credentials.json"),
        "DATA_MESH_METADATA_URL": f"sqlite:///{nowhere / 'metadata.db'}",
        "DATA_MESH_STORAGE_ROOT": str(nowhere / "products"),
    }


def cli(env, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "data_mesh.cli", *args], env=env, input=stdin,
                          capture_output=True, text=True, timeout=120)


def as_user(api, env, name: str, seconds: int = 3600) -> dict[str, str]:
    return {**env, "DATA_MESH_API_TOKEN": api["token"](name, seconds)}


def events(api, **filters) -> list[AccessEvent]:
    return api["store"].list_access_events(product_id=ORDERS, limit=100, **filters).items


def test_login_stores_the_token_privately_and_never_prints_it(api, env):
    out = cli(env, "login", "--username", "viewer", "--password-stdin", stdin="viewer\n")
    assert out.returncode == 0, out.stderr
    path = Path(env["DATA_MESH_CREDENTIALS_FILE"])
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    stored = json.loads(path.read_text())
    token = stored[api["url"]]["access_token"]
    assert token.count(".") == 2 and stored[api["url"]]["username"] == "viewer"
    assert f"Logged in to {api['url']} as viewer" in out.stdout
    assert token not in out.stdout + out.stderr
    who = cli(env, "whoami")
    assert who.returncode == 0 and "viewer (role viewer)" in who.stdout and token not in who.stdout
    listed = cli(env, "products")
    assert listed.returncode == 0, listed.stderr
    assert ORDERS in listed.stdout and token not in listed.stdout + listed.stderr
    assert cli(env, "logout").returncode == 0 and not path.exists()
    after = cli(env, "products")
    assert after.returncode == 5 and "data-mesh login" in after.stderr, after.stderr


def test_a_wrong_password_stores_nothing(api, env):
    out = cli(env, "--url", api["url"], "login", "--username", "viewer", "--password-stdin", stdin="nope\n")
    assert out.returncode == 5, out.stderr
    assert f"data-mesh: login to {api['url']} failed: Invalid credentials" in out.stderr
    assert not Path(env["DATA_MESH_CREDENTIALS_FILE"]).exists()


def test_catalog_commands_through_the_api(api, env):
    viewer = as_user(api, env, "viewer")
    show = cli(viewer, "show", ORDERS)
    assert show.returncode == 0, show.stderr
    email = next(line for line in show.stdout.splitlines() if line.startswith("customer_email"))
    assert "restricted" in email and "manual__2" in show.stdout and "manual__1" in show.stdout
    lineage = cli(viewer, "lineage", ORDERS, "--depth", "2")
    assert lineage.returncode == 0, lineage.stderr
    assert "product:finance.monthly_revenue" in lineage.stdout.split("downstream:")[1]
    access = cli(viewer, "access-log", "--product", ORDERS, "--principal", "someone")
    assert access.returncode == 0 and "someone" in access.stdout and "(1 of 1)" in access.stdout
    old = cli(viewer, "access", "--product", ORDERS, "--principal", "someone")  # the former name
    assert old.returncode == 0 and old.stdout == access.stdout
    assert "the access log is `data-mesh access-log` now" in old.stderr
    table = cli(viewer, "table", ORDERS)
    assert table.returncode == 0, table.stderr
    assert f"Iceberg table {ORDERS} in catalog mesh, v2" in table.stdout
    metadata = next(line.split()[-1] for line in table.stdout.splitlines() if "metadata:" in line)
    assert metadata.endswith(".metadata.json") and f"iceberg_scan('{metadata}')" in table.stdout
    lines = cli(viewer, "openlineage", ORDERS)
    assert lines.returncode == 0 and all(json.loads(line) for line in lines.stdout.splitlines())


@pytest.mark.parametrize(("args", "code", "message"), [
    (["show", "nope.nothing"], 2, "unknown data product 'nope.nothing'"),
    (["lineage", "../etc"], 2, "unknown data product '../etc'"),
    (["access-log", "--product", "sales/../../x"], 2, "unknown data product"),
    (["access-log", "--limit", "501"], 2, "--limit must be between 1 and 500"),
    (["access", "--product", "sales/../../x"], 2, "unknown data product"),
    (["download", ORDERS, "--version", "9", "--columns", "order_id"], 4, "no version 9"),
    (["download", ORDERS, "--as-of", "yesterday"], 2, "is not an ISO date or time"),
    (["download", "marketing.ads_performance"], 4, "nothing has been published yet"),
    (["table", "marketing.ads_performance"], 4, "nothing has been published yet"),
    (["sql", "SELECT * FROM sales.nope"], 2, "unknown data product 'sales.nope'"),
    (["sql", "SELEC 1"], 2, "syntax error"),
    (["sql", "SELECT * FROM read_csv('/etc/passwd')"], 2, "disabled by configuration"),
    (["sql", f'SELECT count(*) FROM "{ORDERS}@v9"'], 4, "no version 9"),
    (["sql", f"SELECT customer_email FROM {ORDERS}"], 3, "access denied: viewer may not read"),
    (["sql", "SELECT 1", "--timeout", "60"], 2, "timeout_s"),
])
def test_errors_exit_with_the_servers_reason(api, env, args, code, message):
    out = cli(as_user(api, env, "viewer"), *args)
    assert out.returncode == code, (out.returncode, out.stderr)
    assert message in out.stderr and "Traceback" not in out.stderr


COLUMNS = ["order_id", "region", "amount"]


def test_download_is_a_governed_read_as_the_tokens_user(api, env, tmp_path):
    target = tmp_path / "out.parquet"
    viewer = {**as_user(api, env, "viewer"), "USER": "admin", "LOGNAME": "admin"}  # names, not identities
    out = cli(viewer, "download", ORDERS, "--columns", ",".join(COLUMNS), "--format", "parquet",
              "-o", str(target))
    assert out.returncode == 0, out.stderr
    assert f"{ORDERS} v2: 4 rows -> {target}" in out.stdout
    assert pq.read_table(target).to_pylist() == orders_rows(4).select(COLUMNS).to_pylist()
    old = cli(viewer, "download", ORDERS, "--version", "1", "--columns", "order_id,items")  # CSV on stdout
    assert old.returncode == 0, old.stderr
    assert old.stdout.replace('"', "").splitlines() == ["order_id,items", "o-000,1", "o-001,2", "o-002,3"]
    [latest, first] = events(api, principal="viewer", path="cli", allowed=True)[:2]
    assert latest.version == 1 and first.version == 2 and list(first.columns) == COLUMNS and first.rows == 4

    refused = tmp_path / "pii.csv"
    denied = cli(viewer, "download", ORDERS, "--columns", "order_id,customer_email", "-o", str(refused))
    assert denied.returncode == 3, denied.stderr
    assert "access denied: viewer may not read" in denied.stderr and "customer_email" in denied.stderr
    assert not refused.exists() and not Path(f"{refused}.part").exists()
    [event] = events(api, principal="viewer", path="cli", allowed=False)[:1]
    assert "customer_email" in event.columns and event.principal_kind == "user"
    assert not events(api, principal="admin")


def test_a_header_labels_the_path_but_never_changes_the_user(api):
    url = f"{api['url']}/data-mesh/api/products/{ORDERS}/download"
    forged = {"Authorization": f"Bearer {api['token']('viewer')}", "X-Data-Mesh-Client": "cli",
              "X-Data-Mesh-User": "admin", "X-Forwarded-User": "admin", "Remote-User": "admin"}
    answer = requests.get(url, headers=forged, params={"columns": "customer_email"}, timeout=60)
    assert answer.status_code == 403 and answer.json()["error"] == "access_denied"
    plain = {"Authorization": forged["Authorization"]}
    assert requests.get(url, headers=plain, params={"columns": "order_id"}, timeout=60).status_code == 200
    [api_read, cli_denied] = events(api, principal="viewer")[:2]
    assert api_read.path == "api" and api_read.allowed
    assert cli_denied.path == "cli" and not cli_denied.allowed
    assert not events(api, principal="admin")


def test_sql_as_a_table_json_and_paged_csv(api, env, tmp_path):
    viewer = as_user(api, env, "viewer")
    out = cli(viewer, "sql", f"SELECT region, sum(amount) AS total FROM {ORDERS} GROUP BY 1 ORDER BY 1")
    assert out.returncode == 0, out.stderr
    header, rule, *rows = out.stdout.splitlines()
    assert header.split() == ["region", "total"] and set(rule) <= {"-", " "}
    assert [r.split() for r in rows] == [["EMEA", "40.0"], ["NA", "60.0"]]
    assert f"from {ORDERS} v2 in" in out.stderr
    [event] = events(api, principal="viewer", path="cli")[:1]
    assert event.allowed and list(event.columns) == ["region", "amount"]
    as_json = cli(viewer, "sql", f'SELECT count(*) AS n FROM "{ORDERS}@v1"', "--format", "json")
    body = json.loads(as_json.stdout)
    assert body["rows"] == [[3]] and body["products"][0]["version"] == 1
    target = tmp_path / "page.csv"
    page = cli(viewer, "sql", f"SELECT order_id FROM {ORDERS} ORDER BY 1", "--format", "csv",
               "--limit", "2", "--offset", "1", "-o", str(target))
    assert page.returncode == 0, page.stderr
    assert pacsv.read_csv(target).column("order_id").to_pylist() == ["o-001", "o-002"]
    assert f"(2 rows from {ORDERS} v2 in" in page.stderr and "more rows follow: --offset 3" in page.stderr


def test_no_expired_or_forged_token_is_not_logged_in(api, env):
    hint = f"run `data-mesh login --url {api['url']}`"  # not the default URL: the hint names it
    for environment, detail in [
        (env, "Not authenticated"),
        ({**env, "DATA_MESH_API_TOKEN": api["token"]("viewer", seconds=-120)}, "Token Expired"),
        ({**env, "DATA_MESH_API_TOKEN": "not-a-jwt"}, "Invalid JWT token"),
    ]:
        out = cli(environment, "products")
        assert out.returncode == 5, out.stderr
        assert detail in out.stderr and "data-mesh login" in out.stderr and "Traceback" not in out.stderr
    assert hint in cli(env, "products").stderr


def test_the_environment_token_wins_over_the_stored_one(api, env):
    stored = cli(env, "login", "--username", "admin", "--password-stdin", stdin="admin\n")
    assert stored.returncode == 0, stored.stderr
    assert cli(env, "products").returncode == 0
    forged = cli({**env, "DATA_MESH_API_TOKEN": "not-a-jwt"}, "products")
    assert forged.returncode == 5 and "DATA_MESH_API_TOKEN" in forged.stderr, forged.stderr
    who = cli(as_user(api, env, "viewer"), "whoami")
    assert "viewer (role viewer)" in who.stdout and "from DATA_MESH_API_TOKEN" in who.stdout


def test_an_unreachable_api_server_is_named(env):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{sock.getsockname()[1]}"  # nothing listens
    out = cli({**env, "DATA_MESH_API_TOKEN": "x"}, "--url", url, "products")
    assert out.returncode == 6, out.stderr
    assert f"the api-server at {url} is not reachable" in out.stderr and "Connection refused" in out.stderr
    assert "Traceback" not in out.stderr


def test_whoami_shows_the_expiry(api, env):
    before = datetime.now(UTC) - timedelta(seconds=120)
    out = cli(as_user(api, env, "admin", seconds=-120), "whoami")
    after = datetime.now(UTC) - timedelta(seconds=120)
    assert out.returncode == 0 and "admin (role admin)" in out.stdout
    # the token is made between the two clock reads: its minute is one of theirs
    assert any(f"expired {t:%Y-%m-%d %H:%M}" in out.stdout for t in (before, after)), out.stdout


def test_odps_prints_what_the_api_answers(api, env, tmp_path):
    """`data-mesh odps` through the API and with --local-admin on the same stores: the API's text."""
    from tests.unit.metadata.test_odps import problems

    url = f"{api['url']}/data-mesh/api/products/{ORDERS}/odps"
    auth = {"Authorization": f"Bearer {api['token']('viewer')}"}
    served = {f: requests.get(url, headers=auth, params={"format": f}, timeout=60) for f in ("json", "yaml")}
    assert served["json"].status_code == 200 and served["yaml"].status_code == 200
    # this checkout's code in the subprocess (a venv shared between checkouts may point elsewhere)
    repo = Path(__file__).resolve().parents[2]
    env = {**env, "PYTHONPATH": os.pathsep.join([str(repo / "plugins"), str(repo)])}
    viewer = as_user(api, env, "viewer")
    as_json = cli(viewer, "odps", ORDERS)
    assert as_json.returncode == 0, as_json.stderr
    assert json.loads(as_json.stdout) == served["json"].json() and problems(json.loads(as_json.stdout)) == []
    as_yaml = cli(viewer, "odps", ORDERS, "--format", "yaml")
    assert as_yaml.returncode == 0 and as_yaml.stdout == served["yaml"].text
    out = tmp_path / "orders.odps.yaml"
    written = cli(viewer, "odps", ORDERS, "--format", "yaml", "-o", str(out))
    assert written.returncode == 0 and written.stdout == "" and out.read_text() == served["yaml"].text
    local_env = {**env, "DATA_MESH_METADATA_URL": f"sqlite:///{api['folder'] / 'metadata.db'}",
                 "DATA_MESH_STORAGE_ROOT": str(api["folder"] / "products")}
    local = cli(local_env, "--local-admin", "odps", ORDERS, "--format", "yaml")
    assert local.returncode == 0, local.stderr
    assert local.stdout == served["yaml"].text and "latestVersion" in local.stdout  # v2 read from the store
    unknown = cli(viewer, "odps", "sales.nothing")
    assert unknown.returncode == 2 and "unknown data product 'sales.nothing'" in unknown.stderr
