"""GET /api/products/{id}/policies: the policies applied to a product and their findings (signed in)."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from data_mesh.web.app import create_app
from tests.unit.web.test_sql_api import client_as

pytestmark = pytest.mark.usefixtures("auth_manager")  # tests/unit/web/conftest.py


def test_a_product_lists_its_global_and_domain_policies():
    answer = client_as("viewer").get("/api/products/sales.customer_orders/policies")
    assert answer.status_code == 200, answer.text
    body = answer.json()
    scopes = {p["id"]: p["scope"] for p in body["policies"]}
    assert scopes["global.pii-restricted"] == "global" and scopes["sales.amount-has-currency"] == "sales"
    assert body["findings"] == [] and body["warnings"] == 0


def test_a_finance_product_gets_no_sales_policy():
    body = client_as("viewer").get("/api/products/finance.monthly_revenue/policies").json()
    assert not any(p["id"].startswith("sales.") for p in body["policies"])


def test_unknown_product_and_no_login():
    assert client_as("viewer").get("/api/products/sales.nothing/policies").status_code == 404
    assert TestClient(create_app()).get("/api/products/sales.customer_orders/policies").status_code == 401
