"""POST/GET /api/erasures on the whole plugin app (`create_app`, Airflow's auth check running for real)."""

from __future__ import annotations

import pytest
from airflow.api_fastapi.auth.managers.simple.user import SimpleAuthManagerUser
from airflow.api_fastapi.core_api.security import get_user
from fastapi.testclient import TestClient

from data_mesh.governance.vault import Vault
from data_mesh.web.app import create_app
from tests.unit.governance import test_erasure
from tests.unit.governance.test_erasure import ORDERS, SUBJECT

published = test_erasure.published  # the fixture: orders v1 (DAY1) and v2 (DAY1 + DAY2), the subject in both

pytestmark = pytest.mark.usefixtures("auth_manager")  # tests/unit/web/conftest.py

BODY = {"column": "customer_email", "value": SUBJECT, "delete_rows": False, "reason": "GDPR request #123"}


def client_as(role: str | None) -> TestClient:
    app = create_app()
    if role is not None:
        app.dependency_overrides[get_user] = lambda: SimpleAuthManagerUser(username=role, role=role)
    return TestClient(app)


def test_an_admin_erases_and_gets_the_receipt(published):
    token = Vault().token_of(SUBJECT)
    answer = client_as("admin").post("/api/erasures", json=BODY)
    assert answer.status_code == 201, answer.text
    receipt = answer.json()
    assert receipt["requested_by"] == "admin" and receipt["subject_column"] == "customer_email"
    assert receipt["token"] == token and receipt["reason"] == "GDPR request #123"
    assert receipt["holdings"] == [{"product": ORDERS, "column": "customer_email", "versions": [1, 2]}]
    assert (
        receipt["deleted_rows"] is None
        and isinstance(receipt["id"], int)
        and receipt["at"].endswith("+00:00")
    )
    assert SUBJECT not in answer.text and Vault().token_of(SUBJECT) is None

    listed = client_as("admin").get("/api/erasures").json()
    assert listed["total"] == 1 and listed["items"][0]["id"] == receipt["id"]

    again = client_as("admin").post("/api/erasures", json=BODY)
    assert again.status_code == 409 and f"receipt #{receipt['id']}" in again.json()["detail"]
    assert "already erased on" in again.json()["detail"] and SUBJECT not in again.text


def test_delete_rows_through_the_api(published):
    answer = client_as("admin").post("/api/erasures", json={**BODY, "delete_rows": True})
    assert answer.status_code == 201, answer.text
    assert answer.json()["deleted_rows"] == [{"product": ORDERS, "version": 3, "rows": 2}]
    versions = client_as("admin").get(f"/api/products/{ORDERS}/versions").json()
    assert versions["items"][0]["version"] == 3 and versions["items"][0]["operation"] == "delete"


def test_a_viewer_is_refused_and_learns_nothing(published):
    viewer = client_as("viewer")
    for value in (SUBJECT, "nobody@example.com"):
        answer = viewer.post("/api/erasures", json={**BODY, "value": value})
        assert (
            answer.status_code == 403 and "admin role" in answer.json()["detail"] and value not in answer.text
        )
    assert viewer.get("/api/erasures").status_code == 403
    assert Vault().token_of(SUBJECT) is not None
    assert client_as(None).post("/api/erasures", json=BODY).status_code in (401, 403)  # not logged in


def test_an_unknown_subject_and_bad_input_never_echo_the_value(published):
    admin = client_as("admin")
    unknown = admin.post("/api/erasures", json={**BODY, "value": "nobody@example.com"})
    assert unknown.status_code == 404 and "nothing to erase" in unknown.json()["detail"]
    assert "nobody" not in unknown.text
    column = admin.post("/api/erasures", json={**BODY, "column": "email"})
    assert column.status_code == 400 and "not a restricted column" in column.json()["detail"]
    invalid = admin.post("/api/erasures", json={**BODY, "delete_rows": "perhaps"})
    assert invalid.status_code == 422 and SUBJECT not in invalid.text
    assert admin.get("/api/erasures").json() == {"items": [], "total": 0}
