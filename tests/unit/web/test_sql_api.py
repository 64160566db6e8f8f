"""POST /api/sql on the whole plugin app (`create_app`, Airflow's auth check running for real)."""

from __future__ import annotations

import io

import pytest
from airflow.api_fastapi.auth.managers.simple.user import SimpleAuthManagerUser
from airflow.api_fastapi.core_api.security import get_user
from fastapi.testclient import TestClient

from data_mesh.web.app import create_app
from tests.unit.governance import test_sql
from tests.unit.governance.test_sql import ORDERS, orders

published = test_sql.published  # the fixture: orders v1 (10 rows) and v2 (60 rows), ads (5 rows)

GROUP_BY = f"SELECT region, sum(amount) AS revenue FROM {ORDERS} GROUP BY region ORDER BY region"


pytestmark = pytest.mark.usefixtures("auth_manager")  # tests/unit/web/conftest.py


def client_as(role: str | None) -> TestClient:
    app = create_app()
    if role is not None:
        app.dependency_overrides[get_user] = lambda: SimpleAuthManagerUser(username=role, role=role)
    return TestClient(app)


def expected_revenue() -> list[list]:
    frame = orders(60).to_pandas().groupby("region")["amount"].sum().sort_index()
    return [[region, pytest.approx(total)] for region, total in frame.items()]


def test_json_answer(published):
    answer = client_as("viewer").post("/api/sql", json={"sql": GROUP_BY})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["columns"] == ["region", "revenue"] and body["types"] == ["string", "double"]
    assert body["rows"] == expected_revenue() and body["truncated"] is False
    assert body["products"] == [{"id": ORDERS, "version": 2, "columns": ["region", "amount"], "rows": 60}]
    assert body["elapsed_ms"] > 0
    [event] = published.list_access_events(product_id=ORDERS).items
    assert event.principal == "viewer" and event.path == "api" and list(event.columns) == ["region", "amount"]


def test_paging_and_json_safe_values(published):
    sql = f"SELECT order_id, order_date, order_ts FROM {ORDERS} ORDER BY order_id"
    body = client_as("viewer").post("/api/sql", json={"sql": sql, "limit": 7, "offset": 3}).json()
    assert len(body["rows"]) == 7 and body["truncated"] is True and body["offset"] == 3
    assert body["rows"][0][0] == sorted(orders(60).column("order_id").to_pylist())[3]
    assert body["rows"][0][1] == "2026-11-20" and body["rows"][0][2].startswith("2026-11-20T09:")


def test_csv_and_parquet_downloads(published):
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    client = client_as("viewer")
    csv = client.post("/api/sql?format=csv", json={"sql": GROUP_BY})
    assert csv.status_code == 200 and csv.headers["content-type"].startswith("text/csv")
    assert csv.headers["content-disposition"] == 'attachment; filename="query.csv"'
    assert csv.headers["x-data-mesh-products"] == f"{ORDERS}@v2"
    table = pacsv.read_csv(io.BytesIO(csv.content))
    assert [[r["region"], r["revenue"]] for r in table.to_pylist()] == expected_revenue()
    parquet = client.post("/api/sql?format=parquet", json={"sql": GROUP_BY, "limit": 2})
    assert parquet.status_code == 200 and parquet.headers["x-data-mesh-truncated"] == "true"
    table = pq.read_table(io.BytesIO(parquet.content))
    assert table.column_names == ["region", "revenue"] and table.num_rows == 2


@pytest.mark.parametrize(
    ("role", "sql", "status", "named"),
    [
        ("viewer", f"SELECT customer_email FROM {ORDERS}", 403, "customer_email"),
        ("viewer", "SELECT * FROM sales.nope", 404, "sales.nope"),
        ("viewer", f'SELECT * FROM "{ORDERS}@v9"', 404, "9"),
        ("viewer", f"SELECT regoin FROM {ORDERS}", 400, 'Referenced column "regoin" not found'),
        ("admin", "SELECT * FROM read_csv('/etc/passwd')", 400, "disabled by configuration"),
        ("admin", "ATTACH '/tmp/x.db'", 400, "only SELECT"),
        ("admin", "SELECT 1; SELECT 2", 400, "one statement"),
    ],
)
def test_errors_name_the_problem(published, role, sql, status, named):
    answer = client_as(role).post("/api/sql", json={"sql": sql})
    assert answer.status_code == status, answer.text
    assert named in answer.json()["detail"]


def test_admin_reads_restricted_columns(published):
    answer = client_as("admin").post("/api/sql", json={"sql": f"SELECT customer_email FROM {ORDERS} LIMIT 1"})
    assert answer.status_code == 200 and "@example.com" in answer.json()["rows"][0][0]


def test_bad_bodies_are_refused(published):
    client = client_as("viewer")
    assert client.post("/api/sql", json={"sql": ""}).status_code == 422
    assert client.post("/api/sql", json={"sql": "SELECT 1", "limit": 0}).status_code == 422
    assert client.post("/api/sql?format=xlsx", json={"sql": "SELECT 1"}).status_code == 422


def test_sql_needs_a_login(published):
    answer = client_as(None).post("/api/sql", json={"sql": "SELECT 1"})
    assert answer.status_code in (401, 403)
    assert not published.list_access_events().items
