"""The product page's Query panel and "Use this product" box, rendered by the whole plugin app."""

from __future__ import annotations

import html
import re

import pytest
from fastapi.testclient import TestClient

from tests.unit.governance import test_sql
from tests.unit.governance.test_sql import ORDERS
from tests.unit.web.test_sql_api import client_as

published = test_sql.published

pytestmark = pytest.mark.usefixtures("auth_manager")  # tests/unit/web/conftest.py


def test_query_panel_posts_to_the_sql_port_of_its_mount_point(published):
    app = client_as("viewer").app
    page = TestClient(app, root_path="/data-mesh").get(f"/ui/products/{ORDERS}")  # as Airflow mounts it
    assert page.status_code == 200
    [url] = re.findall(r'<section id="query"[^>]*data-sql-url="([^"]+)"', page.text)
    assert url == "/data-mesh/api/sql"
    [prefilled] = re.findall(r'<textarea id="query-sql"[^>]*>([^<]*)</textarea>', page.text)
    assert html.unescape(prefilled) == f"SELECT * FROM {ORDERS} LIMIT 20"
    # what the panel sends, with the same session: the viewer's SELECT * leaves out the PII column
    answer = client_as("viewer").post("/api/sql", json={"sql": html.unescape(prefilled), "limit": 500})
    assert answer.status_code == 200 and len(answer.json()["rows"]) == 20
    assert "customer_email" not in answer.json()["columns"]


def test_use_this_product_snippets(published):
    page = client_as("viewer").get(f"/ui/products/{ORDERS}")
    snippets = html.unescape(re.search(r'<section id="use".*?</section>', page.text, re.S).group(0))
    assert f'read_product("{ORDERS}", purpose=' in snippets
    assert f'data-mesh sql "SELECT * FROM {ORDERS} LIMIT 20"' in snippets
    assert "/api/sql?format=csv" in snippets and "pd.read_parquet" in snippets
    assert "{#" not in page.text  # the marked spot for the Iceberg snippets is a template comment
