"""Access requests end to end on the whole plugin app: request, decide, read, expire, revoke, audit.

Each step tries to break a rule: a viewer with no grant, a requester approving their own request,
someone outside the owning team deciding, a read after the expiry or the revocation.
"""

from __future__ import annotations

import io
import time

import pyarrow.parquet as pq
import pytest
from airflow.api_fastapi.auth.managers.simple.user import SimpleAuthManagerUser
from airflow.api_fastapi.core_api.security import get_user
from fastapi.testclient import TestClient

from data_mesh.web.app import create_app
from tests.unit.governance import test_sql
from tests.unit.governance.test_sql import ORDERS

published = test_sql.published  # orders v1 (10 rows) and v2 (60 rows), ads (5 rows)
pytestmark = pytest.mark.usefixtures("auth_manager")  # tests/unit/web/conftest.py

EMAIL_DOWNLOAD = f"/api/products/{ORDERS}/download?format=parquet&columns=order_id,customer_email"


def client_as(name: str, role: str = "viewer") -> TestClient:
    app = create_app()
    app.dependency_overrides[get_user] = lambda: SimpleAuthManagerUser(username=name, role=role)
    return TestClient(app)


def request_emails(client: TestClient, days: float = 7) -> dict:
    body = {"columns": ["customer_email"], "purpose": "fraud review", "duration_days": days}
    answer = client.post(f"/api/products/{ORDERS}/access-requests", json=body)
    assert answer.status_code == 201, answer.text
    return answer.json()


def emails(answer) -> list[str]:
    assert answer.status_code == 200, answer.text
    return pq.read_table(io.BytesIO(answer.content)).column("customer_email").to_pylist()


def test_request_approve_read_revoke(published):
    viewer, alice = client_as("viewer"), client_as("alice.sales", "user")
    assert viewer.get(EMAIL_DOWNLOAD).status_code == 403
    request = request_emails(viewer)
    assert request["status"] == "pending" and request["requester"] == "viewer"

    # nobody decides their own request; nobody outside the owning team (or admins) decides at all
    assert viewer.post(f"/api/access-requests/{request['id']}/approve").status_code == 403
    assert (
        client_as("carol.marketing", "user").post(f"/api/access-requests/{request['id']}/approve").status_code
        == 403
    )
    assert viewer.get(EMAIL_DOWNLOAD).status_code == 403

    approved = alice.post(f"/api/access-requests/{request['id']}/approve", json={"reason": "ok"}).json()
    assert (
        approved["status"] == "approved"
        and approved["decided_by"] == "alice.sales"
        and approved["expires_at"]
    )
    values = emails(viewer.get(EMAIL_DOWNLOAD))
    assert len(values) == 60 and all("@" in v for v in values)  # re-identified from the vault
    sql = viewer.post("/api/sql", json={"sql": f"SELECT customer_email FROM {ORDERS} LIMIT 3"}).json()
    assert all("@" in row[0] for row in sql["rows"])
    used = published.list_access_events(principal="viewer", allowed=True).items
    assert used and all(e.grant_id == request["id"] for e in used if "customer_email" in e.columns)

    overview = viewer.get(f"/api/products/{ORDERS}/access").json()
    assert [g["id"] for g in overview["grants"]] == [request["id"]]
    assert "customer_email" in overview["me"]["readable_columns"] and not overview["me"]["may_steward"]

    assert alice.post(f"/api/access-requests/{request['id']}/revoke").json()["status"] == "revoked"
    assert viewer.get(EMAIL_DOWNLOAD).status_code == 403  # effective on the very next read
    actions = [
        e["action"] for e in viewer.get("/api/audit-events", params={"product_id": ORDERS}).json()["items"]
    ]
    assert actions[:3] == ["access.revoked", "access.approved", "access.request"]


def test_a_grant_expires(published):
    viewer, admin = client_as("viewer"), client_as("admin", "admin")
    request = request_emails(viewer, days=2 / 86400)  # two seconds
    assert admin.post(f"/api/access-requests/{request['id']}/approve").status_code == 200
    assert viewer.get(EMAIL_DOWNLOAD).status_code == 200
    time.sleep(2.5)
    refused = viewer.get(EMAIL_DOWNLOAD)
    assert refused.status_code == 403 and "customer_email" in refused.json()["detail"]
    assert viewer.get(f"/api/products/{ORDERS}/access").json()["history"][0]["status"] == "expired"


def test_a_denial_needs_a_reason_and_bad_requests_name_the_problem(published):
    viewer, alice = client_as("viewer"), client_as("alice.sales", "user")
    request = request_emails(viewer)
    assert alice.post(f"/api/access-requests/{request['id']}/deny", json={}).status_code == 400
    denied = alice.post(f"/api/access-requests/{request['id']}/deny", json={"reason": "no need"}).json()
    assert denied["status"] == "denied" and viewer.get(EMAIL_DOWNLOAD).status_code == 403
    assert alice.post(f"/api/access-requests/{request['id']}/approve").status_code == 400  # decided already
    bad = viewer.post(
        f"/api/products/{ORDERS}/access-requests",
        json={"columns": ["salary"], "purpose": "x", "duration_days": 1},
    )
    assert bad.status_code == 400 and "salary" in bad.json()["detail"]
    assert viewer.post("/api/access-requests/999/approve").status_code == 404


def test_a_domain_owner_requests_for_the_domain_dags(published):
    from data_mesh.contract.registry import get_product
    from data_mesh.governance.access import Principal, active_grants, domain_decision

    body = {"columns": ["customer_email"], "purpose": "campaign matching", "duration_days": 30}
    path = f"/api/products/{ORDERS}/access-requests"
    assert client_as("viewer").post(path, json={**body, "domain": "marketing"}).status_code == 403
    carol = client_as("carol.marketing", "user")  # an owner of the marketing domain's contract
    request = carol.post(path, json={**body, "domain": "marketing"}).json()
    assert request["requester_kind"] == "domain" and request["requester"] == "marketing"
    spec = get_product(ORDERS)
    task = Principal.for_task("marketing__ads_performance", "transform", "marketing")
    assert not domain_decision(spec, "marketing", ["customer_email"], active_grants(spec, task)).allowed
    client_as("alice.sales", "user").post(f"/api/access-requests/{request['id']}/approve")
    assert domain_decision(spec, "marketing", ["customer_email"], active_grants(spec, task)).allowed
    usage = carol.get(f"/api/products/{ORDERS}/usage").json()
    assert usage["product_id"] == ORDERS
