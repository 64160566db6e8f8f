"""Lifecycle on the API (the whole plugin app, Airflow's auth check running) and the UI pages."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest

from tests.unit.governance import test_lifecycle
from tests.unit.governance.test_lifecycle import ORDERS, SUCCESSOR, set_lifecycle
from tests.unit.web.test_sql_api import client_as
from tests.unit.web.test_ui import client_as as ui_as

domains = test_lifecycle.domains  # fixtures: a copy of the domains, orders v1/v2 published
published = test_lifecycle.published

pytestmark = pytest.mark.usefixtures("auth_manager")  # tests/unit/web/conftest.py

PRODUCT_PATHS = [
    "",
    "/versions",
    "/lineage",
    "/metrics",
    "/quality",
    "/policies",
    "/openlineage",
    "/table",
    "/slo",
    "/odps",
]


def owner_client():
    """alice.sales (the contract's owner), with Airflow's viewer role only."""
    from airflow.api_fastapi.auth.managers.simple.user import SimpleAuthManagerUser
    from airflow.api_fastapi.core_api.security import get_user

    client = client_as(None)
    client.app.dependency_overrides[get_user] = lambda: SimpleAuthManagerUser(
        username="alice.sales", role="viewer"
    )
    return client


def listed(client) -> set[str]:
    return {p["id"] for p in client.get("/api/products").json()["products"]}


def test_a_draft_is_a_404_for_everyone_but_its_owners(published, domains):
    set_lifecycle(domains, "draft")
    viewer, admin = client_as("viewer"), client_as("admin")
    assert ORDERS not in listed(viewer) and "marketing.ads_performance" in listed(viewer)
    assert ORDERS in listed(admin) and ORDERS in listed(owner_client())  # admins, and its owner
    assert owner_client().get(f"/api/products/{ORDERS}").status_code == 200
    for path in PRODUCT_PATHS:
        answer = viewer.get(f"/api/products/{ORDERS}{path}")
        assert answer.status_code == 404 and answer.json()["error"] == "unknown_product", path
        assert admin.get(f"/api/products/{ORDERS}{path}").status_code == 200, path
    assert viewer.get(f"/api/products/{ORDERS}/download?columns=region").status_code == 404
    sql = {"sql": f"SELECT count(*) FROM {ORDERS}"}
    assert viewer.post("/api/sql", json=sql).status_code == 404
    assert admin.post("/api/sql", json=sql).json()["rows"] == [[60]]
    # the UI: not in the catalog nor the domain page, and its page is the unknown-product page
    page = ui_as("viewer").get("/ui/")
    assert (
        f'data-product="{ORDERS}"' not in page.text
        and 'data-product="marketing.ads_performance"' in page.text
    )
    assert f"/products/{ORDERS}" not in ui_as("viewer").get("/ui/domains/sales").text
    assert ui_as("viewer").get(f"/ui/products/{ORDERS}").status_code == 404
    page = ui_as("admin").get("/ui/")
    card = re.search(rf'data-product="{ORDERS}".*?</article>', page.text, re.S).group(0)
    assert "lifecycle-draft" in card


def test_a_deprecated_product_warns_and_its_page_lists_who_reads_it(published, domains):
    end = datetime.now(UTC).date() + timedelta(days=20)
    set_lifecycle(domains, "deprecated", successor=SUCCESSOR, end_of_life=end)
    viewer = client_as("viewer")
    answer = viewer.get(f"/api/products/{ORDERS}/download?columns=region,amount&format=csv")
    assert answer.status_code == 200 and len(answer.text.splitlines()) == 61
    assert answer.headers["x-data-mesh-warning"].startswith(f"{ORDERS} is deprecated")
    assert SUCCESSOR in answer.headers["x-data-mesh-warning"]
    assert answer.headers["sunset"] == datetime.combine(end, datetime.min.time()).strftime(
        "%a, %d %b %Y %H:%M:%S GMT"
    )
    assert answer.headers["link"] == f'</data-mesh/api/products/{SUCCESSOR}>; rel="successor-version"'
    body = viewer.post("/api/sql", json={"sql": f"SELECT count(*) FROM {ORDERS}"}).json()
    assert body["rows"] == [[60]] and SUCCESSOR in body["warnings"][0]
    detail = viewer.get(f"/api/products/{ORDERS}").json()
    assert detail["status"] == "deprecated" and detail["lifecycle"]["state"] == "deprecated"
    assert detail["lifecycle"]["successor"] == SUCCESSOR and detail["lifecycle"]["end_of_life"] == str(end)
    consumers = {(c["kind"], c["name"]) for c in detail["lifecycle"]["consumers"]}
    assert consumers == {("dag", "finance__monthly_revenue"), ("reader", "viewer")}
    page = ui_as("viewer").get(f"/ui/products/{ORDERS}")
    panel = re.search(r'<section id="lifecycle".*?</section>', page.text, re.S).group(0)
    assert "Who still reads it" in panel and "finance__monthly_revenue" in panel and "viewer" in panel
    assert SUCCESSOR in panel and str(end) in panel


def test_a_retired_product_is_gone_with_a_410_naming_its_successor(published, domains):
    set_lifecycle(domains, "retired", successor=SUCCESSOR)
    viewer = client_as("viewer")
    for answer in (
        viewer.get(f"/api/products/{ORDERS}/download?columns=region"),
        viewer.get(f"/api/products/{ORDERS}/versions/1/download?columns=region"),
        viewer.post("/api/sql", json={"sql": f"SELECT count(*) FROM {ORDERS}"}),
    ):
        assert answer.status_code == 410, answer.text
        assert answer.json() == {
            "detail": f"{ORDERS} is retired: read its successor {SUCCESSOR}",
            "error": "product_retired",
        }
    line = next(p for p in viewer.get("/api/products").json()["products"] if p["id"] == ORDERS)
    assert line["status"] == "retired" and line["successor"] == SUCCESSOR  # still listed, to find it
    page = ui_as("viewer").get(f"/ui/products/{ORDERS}")
    assert page.status_code == 200 and "status-retired" in page.text
    assert f"{ORDERS} is retired: read its successor {SUCCESSOR}" in page.text  # the sample says why
