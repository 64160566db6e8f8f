"""`data-mesh --local-admin`: the CLI on the stores directly, run as a subprocess against stores filled here.

The API mode (the default) is tested in test_cli_api.py against the real plugin app.
"""

from __future__ import annotations

import getpass
import json
import os
import subprocess
import sys
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from data_mesh.contract.registry import get_product
from data_mesh.metadata.store import (
    AccessEvent,
    MetadataStore,
    PublicationRecord,
    ValidationRecord,
    dispose_engines,
)
from data_mesh.storage.arrow import arrow_schema
from data_mesh.storage.products import product_storage


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cli")
    url = f"sqlite:///{folder / 'metadata.db'}"
    store = MetadataStore(url)
    now = datetime.now(UTC)
    today = now.date().isoformat()  # orders: today's partition, fresh under any latency SLA
    old_month = (now - timedelta(days=90)).strftime("%Y-%m")  # revenue: a month long past, stale
    for product_id in ("sales.customer_orders", "marketing.ads_performance", "finance.monthly_revenue"):
        spec = get_product(product_id)
        store.upsert_product(spec, Path(spec.contract_path).read_text())
    orders = get_product("sales.customer_orders")
    for version in (1, 2):
        store.record_publication(PublicationRecord(
            product_id=orders.id, version=version, partition=today, rows=100 * version, bytes=4096,
            files=1, dag_id=orders.dag_id, run_id=f"manual__{version}", task_id="publish",
            published_at=now - timedelta(hours=3 - version), validation_success=True,
            validation_summary={"results": [{"expectation_type": "expect_column_values_to_not_be_null",
                                             "column": "order_id", "success": True}]},
        ))
    store.record_validation(ValidationRecord(product_id=orders.id, success=True, partition=today))
    store.record_publication(PublicationRecord(
        product_id="finance.monthly_revenue", version=1, partition=old_month, rows=4,
        published_at=now - timedelta(days=90), inputs=(("sales.customer_orders", 2),),
    ))
    store.add_lineage_edge("source", "sales_crm_api:/crm/v1/orders", "product", "sales.customer_orders")
    store.add_lineage_edge("product", "sales.customer_orders", "product", "finance.monthly_revenue")
    store.add_lineage_edge("product", "sales.customer_orders", "dag", "finance__monthly_revenue")
    store.record_access(AccessEvent(
        principal="domain:finance/dag:finance__monthly_revenue/task:transform", principal_kind="task",
        product_id=orders.id, path="task", allowed=True, version=2, columns=("order_id", "amount"), rows=200,
    ))
    store.record_access(AccessEvent(principal="viewer", principal_kind="user", product_id=orders.id,
                                    path="api", allowed=False, reason="restricted columns"))
    dispose_engines()
    return {**os.environ, "DATA_MESH_METADATA_URL": url, "DATA_MESH_STORAGE_ROOT": str(folder / "products")}


LOCAL_ADMIN = f"local-admin:{getpass.getuser()}"


def cli(env, *args: str, local: bool = True) -> subprocess.CompletedProcess:
    argv = [sys.executable, "-m", "data_mesh.cli", *(["--local-admin"] if local else []), *args]
    return subprocess.run(argv, env=env, capture_output=True, text=True, timeout=120)


def test_local_admin_says_it_bypasses_the_api(env):
    out = cli(env, "products")
    assert out.returncode == 0, out.stderr
    [warning] = out.stderr.splitlines()
    assert "--local-admin bypasses the API" in warning and LOCAL_ADMIN in warning and "admin role" in warning


@pytest.mark.parametrize("args", [["login", "--username", "x"], ["logout"], ["whoami"],
                                  ["--url", "http://h:1", "products"]])
def test_local_admin_takes_no_api_options(env, args):
    out = cli(env, *args)
    assert out.returncode == 2 and "Traceback" not in out.stderr, out.stderr


def test_products_lists_health(env):
    out = cli(env, "products")
    assert out.returncode == 0, out.stderr
    lines = {line.split()[0]: line for line in out.stdout.splitlines()[2:]}
    assert "fresh" in lines["sales.customer_orders"]
    assert "stale" in lines["finance.monthly_revenue"]  # data 90 days old, the SLA is far shorter
    assert "never published" in lines["marketing.ads_performance"]
    searched = cli(env, "products", "--search", "EMAIL")
    assert searched.returncode == 0
    assert "sales.customer_orders" in searched.stdout and "marketing" not in searched.stdout


def test_show_schema_classifications_and_versions(env):
    out = cli(env, "show", "sales.customer_orders")
    assert out.returncode == 0, out.stderr
    assert "(fresh)" in out.stdout.splitlines()[0]
    email = next(line for line in out.stdout.splitlines() if line.startswith("customer_email"))
    assert "restricted" in email
    assert "manual__2" in out.stdout and "manual__1" in out.stdout


def test_lineage_tree(env):
    out = cli(env, "lineage", "sales.customer_orders", "--depth", "2")
    assert out.returncode == 0, out.stderr
    up, down = out.stdout.split("downstream:")
    assert "source:sales_crm_api:/crm/v1/orders" in up
    assert "product:finance.monthly_revenue" in down and "dag:finance__monthly_revenue" in down


def test_access_log(env):
    out = cli(env, "access-log", "--product", "sales.customer_orders", "--limit", "10")
    assert out.returncode == 0, out.stderr
    assert "viewer" in out.stdout and "NO" in out.stdout and "(2 of 2)" in out.stdout


def test_openlineage_json_lines(env):
    out = cli(env, "openlineage", "sales.customer_orders")
    assert out.returncode == 0, out.stderr
    events = [json.loads(line) for line in out.stdout.splitlines()]
    assert len(events) == 3  # two publications, one read by a task
    assert {e["job"]["name"] for e in events} == {"sales__customer_orders.publish",
                                                  "finance__monthly_revenue.transform"}


@pytest.mark.parametrize("args", [["show", "nope.nothing"], ["lineage", "../etc"], ["openlineage", "x"],
                                  ["access-log", "--product", "sales/../../x"],
                                  ["access", "--product", "sales/../../x"]])
def test_unknown_product_exits_2(env, args):
    out = cli(env, *args)
    assert out.returncode == 2
    assert "unknown data product" in out.stderr and "Traceback" not in out.stderr


@pytest.mark.parametrize("args", [
    ["access", "sales.customer_orders"], ["requests", "--mine"], ["approve", "1"],
    ["deny", "1", "--reason", "r"], ["revoke", "1"], ["usage", "sales.customer_orders"], ["audit"],
    ["request-access", "sales.customer_orders", "--columns", "customer_email", "--purpose", "p",
     "--days", "1"],
    ["correct", "sales.customer_orders", "--where", "order_id=o-1", "--delete", "--reason", "r"],
])
def test_governance_commands_are_the_apis(env, args):
    out = cli(env, *args)
    assert out.returncode == 2 and "Traceback" not in out.stderr, out.stderr
    assert "not available in local admin mode: use the API" in out.stderr




def orders_rows(n: int) -> pa.Table:
    spec = get_product("sales.customer_orders")
    day = date(2026, 11, 20)
    rows = {
        "order_id": [f"o-{i:03d}" for i in range(n)],
        "order_date": [day] * n,
        "order_ts": [datetime(2026, 11, 20, 9, i, tzinfo=UTC) for i in range(n)],
        "customer_id": [f"c-{i}" for i in range(n)],
        "customer_email": [f"buyer{i}@example.com" for i in range(n)],
        "customer_country": ["FRA"] * n,
        "region": ["EMEA", "NA"] * (n // 2) + ["EMEA"] * (n % 2),
        "status": ["placed"] * n,
        "amount": [10.0 * (i + 1) for i in range(n)],
        "currency": ["USD"] * n,
        "items": [i + 1 for i in range(n)],
    }
    return pa.Table.from_pydict(rows, schema=arrow_schema(spec))


@pytest.fixture
def download_env(tmp_path, monkeypatch):
    """Two real versions of sales.customer_orders in product storage (3 rows, then 4), own store."""
    url = f"sqlite:///{tmp_path / 'metadata.db'}"
    root = tmp_path / "products"
    monkeypatch.setenv("DATA_MESH_METADATA_URL", url)  # the Iceberg catalog lives in the metadata DB
    monkeypatch.setenv("DATA_MESH_STORAGE_ROOT", str(root))
    store = product_storage(get_product("sales.customer_orders"), root=str(root))
    store.publish(orders_rows(3), "2026-11-20", "h", "manual__1")
    store.publish(orders_rows(4), "2026-11-20", "h", "manual__2")  # re-run replaces the partition
    dispose_engines()
    return {**os.environ, "DATA_MESH_METADATA_URL": url, "DATA_MESH_STORAGE_ROOT": str(root),
            "DATA_MESH_OPENLINEAGE_TRANSPORT": "none"}


def cli_events(env) -> list[AccessEvent]:
    store = MetadataStore(env["DATA_MESH_METADATA_URL"])
    try:
        return store.list_access_events(product_id="sales.customer_orders").items
    finally:
        dispose_engines()


def test_local_admin_reads_restricted_columns_audited_as_local_admin(download_env, tmp_path):
    target = tmp_path / "out.csv"
    out = cli(download_env, "download", "sales.customer_orders", "-o", str(target))
    assert out.returncode == 0, out.stderr  # the admin role reads PII; the OS user is only a label
    assert pacsv.read_csv(target).column("customer_email").to_pylist()[0] == "buyer0@example.com"
    [event] = cli_events(download_env)
    assert event.allowed and event.path == "cli" and event.rows == 4 and "customer_email" in event.columns
    assert event.principal == LOCAL_ADMIN and event.principal_kind == "user"


COLUMNS = ["order_id", "region", "amount"]


def test_download_of_unrestricted_columns_writes_the_published_rows(download_env, tmp_path):
    target = tmp_path / "out.parquet"
    out = cli(download_env, "download", "sales.customer_orders", "--columns", ",".join(COLUMNS),
              "--format", "parquet", "-o", str(target))
    assert out.returncode == 0, out.stderr
    assert f"sales.customer_orders v2: 4 rows -> {target}" in out.stdout
    written = pq.read_table(target)
    assert written.column_names == COLUMNS
    assert written.to_pylist() == orders_rows(4).select(COLUMNS).to_pylist()
    [event] = cli_events(download_env)
    assert event.allowed and event.path == "cli" and event.version == 2 and event.rows == 4
    assert list(event.columns) == COLUMNS


def test_download_of_an_older_version_as_csv(download_env, tmp_path):
    target = tmp_path / "v1.csv"
    out = cli(download_env, "download", "sales.customer_orders", "--version", "1", "--columns",
              "order_id,items", "-o", str(target))
    assert out.returncode == 0, out.stderr
    written = pacsv.read_csv(target)
    assert written.column_names == ["order_id", "items"]
    assert written.to_pylist() == orders_rows(3).select(["order_id", "items"]).to_pylist()


def test_download_of_a_missing_version_exits_4(download_env):
    out = cli(download_env, "download", "sales.customer_orders", "--version", "9", "--columns", "order_id")
    assert out.returncode == 4, out.stderr
    assert "no version 9" in out.stderr and "Traceback" not in out.stderr


def test_sql_answers_a_group_by_as_a_table(download_env):
    out = cli(download_env, "sql", "SELECT region, sum(amount) AS total FROM sales.customer_orders "
              "GROUP BY region ORDER BY region")
    assert out.returncode == 0, out.stderr
    header, rule, *rows = out.stdout.splitlines()
    assert header.split() == ["region", "total"] and set(rule) <= {"-", " "}
    assert [r.split() for r in rows] == [["EMEA", "40.0"], ["NA", "60.0"]]  # 10+30, 20+40 (v2: 4 rows)
    assert "from sales.customer_orders v2" in out.stderr
    [event] = cli_events(download_env)
    assert event.allowed and event.path == "cli" and list(event.columns) == ["region", "amount"]
    assert event.principal == LOCAL_ADMIN


def test_sql_time_travel_as_json_and_csv_file(download_env, tmp_path):
    out = cli(download_env, "sql", 'SELECT count(*) AS n FROM "sales.customer_orders@v1"', "--format", "json")
    assert out.returncode == 0, out.stderr
    body = json.loads(out.stdout)
    assert body["rows"] == [[3]] and body["products"][0]["version"] == 1
    target = tmp_path / "page.csv"
    out = cli(download_env, "sql", "SELECT order_id FROM sales.customer_orders ORDER BY 1", "--format", "csv",
              "--limit", "2", "--offset", "1", "-o", str(target))
    assert out.returncode == 0, out.stderr
    assert pacsv.read_csv(target).column("order_id").to_pylist() == ["o-001", "o-002"]
    assert "more rows follow: --offset 3" in out.stderr


@pytest.mark.parametrize(("query", "code", "message"), [
    ('SELECT count(*) FROM "sales.customer_orders@v9"', 4, "no version 9"),
    ("SELECT * FROM sales.nope", 2, "unknown data product 'sales.nope'"),
    ("SELECT * FROM read_csv('/etc/passwd')", 2, "disabled by configuration"),
    ("SELEC 1", 2, "syntax error"),
])
def test_sql_errors_exit_with_the_reason(download_env, query, code, message):
    out = cli(download_env, "sql", query)
    assert out.returncode == code, out.stderr
    assert message in out.stderr and "Traceback" not in out.stderr


def test_table_shows_the_iceberg_table_and_engine_snippets(download_env):
    out = cli(download_env, "table", "sales.customer_orders")
    assert out.returncode == 0, out.stderr
    assert "Iceberg table sales.customer_orders in catalog mesh, v2" in out.stdout
    lines = out.stdout.splitlines()
    metadata = next(line.split()[-1] for line in lines if line.strip().startswith("metadata:"))
    assert metadata.endswith(".metadata.json") and f"iceberg_scan('{metadata}')" in out.stdout
    assert "spark.sql.catalog.mesh.type=jdbc" in out.stdout and "iceberg.catalog.type=jdbc" in out.stdout


def test_download_travels_in_time(download_env, tmp_path):
    target = tmp_path / "v1.parquet"
    out = cli(download_env, "download", "sales.customer_orders", "--version", "1", "--columns", "order_id",
              "--format", "parquet", "-o", str(target))
    assert out.returncode == 0, out.stderr
    assert pq.read_table(target).num_rows == 3
    bad = cli(download_env, "download", "sales.customer_orders", "--as-of", "yesterday")
    assert bad.returncode != 0 and "is not an ISO date or time" in bad.stderr


def test_local_admin_erases_with_a_receipt(download_env):
    subject = ["--subject", "customer_email=buyer3@example.com", "--reason", "GDPR #9"]  # in v2 only
    out = cli(download_env, "erase", *subject)
    assert out.returncode == 0, out.stderr
    assert f"customer_email erased by {LOCAL_ADMIN}" in out.stdout
    held = next(line for line in out.stdout.splitlines() if line.startswith("sales.customer_orders"))
    assert "v2" in held and "v1" not in held
    again = cli(download_env, "erase", *subject)
    assert again.returncode == 2 and "already erased" in again.stderr, again.stderr
    assert all("buyer3@example.com" not in o.stdout + o.stderr for o in (out, again))
