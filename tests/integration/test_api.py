"""The Data Mesh API on a real `airflow standalone`: authentication, roles, governed downloads, errors."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from pathlib import Path

import pytest
import requests

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
# Today's and this month's partitions: the data is as new as it gets, so every product is fresh
# (health measures the newest partition's end against the contract's latency SLA).
NOW = datetime.now(UTC)
DAY = NOW.strftime("%Y-%m-%d")
MONTH = NOW.strftime("%Y-%m")
ORDERS = "sales.customer_orders"
ENDPOINTS = [
    "/api/products",
    f"/api/products/{ORDERS}",
    f"/api/products/{ORDERS}/versions",
    f"/api/products/{ORDERS}/lineage?depth=2",
    "/api/access-events",
    f"/api/products/{ORDERS}/metrics",
    f"/api/products/{ORDERS}/quality",
    f"/api/products/{ORDERS}/openlineage",
    f"/api/products/{ORDERS}/versions/1/download",
    "/openapi.json",
    "/docs",
    "/ui/",
]


@pytest.fixture(scope="module")
def published(demo_sources, airflow_db):
    """Publish every product in-process (same DATA_MESH_* stores as the api-server): the producers
    for DAY, then their consumer for MONTH."""
    from airflow.dag_processing.dagbag import DagBag

    demo_sources.clear_faults()
    bag = DagBag(dag_folder=str(REPO / "dags"))
    for dag_id, partition in (("sales__customer_orders", DAY), ("marketing__ads_performance", DAY),
                              ("finance__monthly_revenue", MONTH)):
        assert bag.get_dag(dag_id).test(run_conf={"partition": partition}).state == "success", dag_id
    from data_mesh.contract.registry import get_product
    from data_mesh.storage.products import product_storage

    return product_storage(get_product(ORDERS)).version().version


@pytest.fixture(scope="module")
def client(airflow_server, published):
    class Client:
        url = f"{airflow_server.url}/data-mesh"
        tokens = {
            "admin": airflow_server.login("admin", "admin"),
            "viewer": airflow_server.login("viewer", "viewer"),
        }

        def get(self, path: str, user: str | None = "admin", **kwargs) -> requests.Response:
            headers = {"Authorization": f"Bearer {self.tokens[user]}"} if user else {}
            answer = requests.get(f"{self.url}{path}", headers=headers, timeout=60, **kwargs)
            assert answer.status_code < 500, (path, answer.status_code, answer.text[:500])
            return answer

    return Client()


@pytest.mark.parametrize("path", ENDPOINTS)
def test_every_endpoint_needs_credentials(client, path):
    assert client.get(path, user=None).status_code == 401
    assert client.get(path, user=None, cookies={"_token": "not-a-jwt"}).status_code in (401, 403)


@pytest.mark.parametrize("path", [p for p in ENDPOINTS if "download" not in p])
@pytest.mark.parametrize("user", ["admin", "viewer"])
def test_browsing_works_for_admin_and_viewer(client, path, user):
    assert client.get(path, user=user).status_code == 200


def test_catalog_content(client, published):
    products = {p["id"]: p for p in client.get("/api/products").json()["products"]}
    # all three published just now for the current day / month and validated: each one is fresh
    assert {pid: p["status"] for pid, p in products.items()} == {
        ORDERS: "fresh",
        "marketing.ads_performance": "fresh",
        "finance.monthly_revenue": "fresh",
    }
    assert products[ORDERS]["latest_version"] == published
    found = client.get("/api/products", params={"search": "customer_email"}).json()["products"]
    assert [p["id"] for p in found] == [ORDERS]
    assert client.get("/api/products", params={"domain": "marketing"}).json()["total"] == 1
    detail = client.get(f"/api/products/{ORDERS}").json()
    assert {c["name"]: c["classification"] for c in detail["columns"]}["customer_email"] == "restricted"
    assert detail["owner"] == "alice.sales" and detail["sla"]["latency_hours"] == 36
    assert detail["latest_publication"]["version"] == published and "kind: DataContract" in detail["contract"]
    versions = client.get(f"/api/products/{ORDERS}/versions", params={"limit": 5}).json()
    assert versions["items"][0]["version"] == published and versions["items"][0]["available"]
    quality = client.get(f"/api/products/{ORDERS}/quality").json()
    # other modules of the session may have quarantined batches of it: the newest validation passed
    assert quality["runs"] >= 1 and quality["history"][-1]["success"] is True
    assert quality["pass_rate"] == quality["passed"] / quality["runs"]
    metrics = client.get(f"/api/products/{ORDERS}/metrics").json()
    assert metrics["publications"][-1]["rows"] > 0
    assert {"fetch", "transform", "validate", "publish"} <= set(metrics["tasks"])  # the listener's records
    lineage = client.get(f"/api/products/{ORDERS}/lineage", params={"depth": 3}).json()
    assert any(e["upstream_kind"] == "source" for e in lineage["edges"])
    events = client.get(f"/api/products/{ORDERS}/openlineage").json()["events"]
    assert any(e["job"]["name"] == "sales__customer_orders.publish" for e in events)
    paths = client.get("/openapi.json").json()["paths"]
    assert "/api/products/{product_id}/versions/{version}/download" in paths


def _access(client, **params) -> list[dict]:
    return client.get("/api/access-events", params={"product_id": ORDERS, **params}).json()["items"]


def test_viewer_may_not_download_restricted_columns(client, published):
    answer = client.get(f"/api/products/{ORDERS}/versions/{published}/download", user="viewer")
    assert answer.status_code == 403 and "restricted" in answer.json()["detail"]
    denied = _access(client, principal="viewer", allowed="false", path="api")
    assert denied and denied[0]["version"] is None and "customer_email" in denied[0]["columns"]
    # without the restricted column the viewer may read
    public = client.get(
        f"/api/products/{ORDERS}/versions/{published}/download",
        user="viewer",
        params={"format": "csv", "columns": "order_id,region,amount"},
    )
    assert public.status_code == 200
    assert public.text.splitlines()[0].replace('"', "") == "order_id,region,amount"


def test_admin_downloads_parquet_and_csv(client, published):
    import pyarrow.parquet as pq

    answer = client.get(f"/api/products/{ORDERS}/versions/{published}/download", params={"format": "parquet"})
    assert answer.status_code == 200
    table = pq.read_table(io.BytesIO(answer.content))
    assert table.num_rows > 1000 and "customer_email" in table.column_names
    csv = client.get(f"/api/products/{ORDERS}/versions/{published}/download", params={"format": "csv"})
    assert csv.status_code == 200
    assert csv.text.splitlines()[0].replace('"', "").startswith("order_id,order_date")
    allowed = _access(client, principal="admin", allowed="true", path="api")
    assert len(allowed) >= 2 and allowed[0]["version"] == published and allowed[0]["rows"] == table.num_rows


@pytest.mark.parametrize(
    ("path", "statuses"),
    [
        ("/api/products/nope.nothing", {404}),
        ("/api/products/sales", {404}),
        ("/api/products/..%2F..%2Fetc%2Fpasswd", {400, 404, 422}),
        ("/api/products/..%252F..%252Fetc%252Fpasswd", {400, 404, 422}),
        ("/api/products/sales.customer_orders%2F..%2F..%2Fetc/versions", {400, 404, 422}),
        ("/api/products/..%2Fsales.customer_orders/versions/1/download", {400, 404, 422}),
        (f"/api/products/{ORDERS}/versions/999999/download", {404}),
        (f"/api/products/{ORDERS}/versions/abc/download", {422}),
        (f"/api/products/{ORDERS}/versions/0/download", {422}),
        (f"/api/products/{ORDERS}/versions/1/download?format=exe", {422}),
        (f"/api/products/{ORDERS}/lineage?depth=0", {422}),
        (f"/api/products/{ORDERS}/lineage?depth=11", {422}),
        ("/api/access-events?page=-1", {422}),
        ("/api/access-events?page=0", {422}),
        ("/api/access-events?page_size=501", {422}),
        ("/api/access-events?path=ftp", {422}),
        (f"/api/products/{ORDERS}/versions?limit=-5", {422}),
    ],
)
def test_bad_requests_are_4xx_with_a_detail(client, path, statuses):
    answer = client.get(path)
    assert answer.status_code in statuses, (answer.status_code, answer.text[:300])
    if answer.headers.get("content-type", "").startswith("application/json"):
        assert answer.json()["detail"]


def test_access_log_is_paged(client, published):
    first = client.get("/api/access-events", params={"page": 1, "page_size": 1}).json()
    assert first["total"] >= 2 and len(first["items"]) == 1 and first["pages"] == first["total"]
    second = client.get("/api/access-events", params={"page": 2, "page_size": 1}).json()
    assert second["items"][0]["id"] != first["items"][0]["id"]
