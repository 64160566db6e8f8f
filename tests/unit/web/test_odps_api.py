"""GET /api/products/{id}/odps: a product's ODPS descriptor, on the whole plugin app (real auth check)."""

from __future__ import annotations

import html
import re
from pathlib import Path

import pytest
import yaml
from fastapi.testclient import TestClient

from data_mesh.contract.registry import get_product
from data_mesh.metadata.odps import product_descriptor
from data_mesh.web.app import create_app
from tests.unit.metadata.test_odps import SECRETS, problems, secret_connections  # noqa: F401 - a fixture
from tests.unit.web.test_sql_api import client_as
from tests.unit.web.test_ui import stores  # noqa: F401 - the fixture: empty stores of the test

pytestmark = pytest.mark.usefixtures("auth_manager", "stores")  # tests/unit/web/conftest.py

ORDERS, REVENUE = "sales.customer_orders", "finance.monthly_revenue"


def publish_record(product_id: str, version: int) -> None:
    """A publication in the metadata store (what the descriptor reads of the catalog)."""
    from data_mesh.metadata.store import MetadataStore, PublicationRecord

    spec = get_product(product_id)
    store = MetadataStore()
    store.upsert_product(spec, Path(spec.contract_path).read_text())
    for v in range(1, version + 1):
        store.record_publication(PublicationRecord(product_id=spec.id, version=v, rows=3, run_id=f"r{v}"))


def test_a_signed_in_user_gets_a_valid_descriptor():
    publish_record(ORDERS, 2)
    answer = client_as("viewer").get(f"/api/products/{ORDERS}/odps")
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert problems(body) == []
    assert body == product_descriptor(ORDERS).to_dict()
    assert body["id"] == ORDERS and body["apiVersion"] == "v1.1.0"
    table = next(p for p in body["outputPorts"] if p["name"] == "iceberg-table")
    assert {"property": "latestVersion", "value": 2} in table["customProperties"]


def test_yaml_is_the_same_descriptor():
    json_body = client_as("viewer").get(f"/api/products/{REVENUE}/odps").json()
    answer = client_as("viewer").get(f"/api/products/{REVENUE}/odps", params={"format": "yaml"})
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("application/yaml")
    assert answer.text.startswith("apiVersion: v1.1.0\nkind: DataProduct\nid: finance.monthly_revenue\n")
    assert yaml.safe_load(answer.text) == json_body
    assert "latestVersion" not in answer.text  # never published in this test's stores


def test_unknown_product_bad_format_and_no_login():
    answer = client_as("viewer").get("/api/products/sales.nothing/odps")
    assert answer.status_code == 404
    assert answer.json() == {"detail": "unknown data product 'sales.nothing'", "error": "unknown_product"}
    bad = client_as("viewer").get(f"/api/products/{ORDERS}/odps", params={"format": "xml"})
    assert bad.status_code == 422 and "format" in bad.json()["detail"]
    assert TestClient(create_app()).get(f"/api/products/{ORDERS}/odps").status_code == 401


def test_no_connection_secret_in_the_answer(secret_connections):  # noqa: F811 - the fixture
    for product_id in (ORDERS, REVENUE):
        for fmt in ("json", "yaml"):
            answer = client_as("viewer").get(f"/api/products/{product_id}/odps", params={"format": fmt})
            assert answer.status_code == 200, answer.text
            assert not [s for s in SECRETS.values() if s in answer.text]


def test_the_product_page_links_to_the_descriptor():
    page = client_as("viewer").get(f"/ui/products/{ORDERS}")
    assert page.status_code == 200
    href = html.unescape(re.search(r'id="odps-link" href="([^"]+)"', page.text).group(1))
    assert href == f"/api/products/{ORDERS}/odps"  # the app's own root here; /data-mesh/... when mounted
    assert client_as("viewer").get(href).json()["id"] == ORDERS
