"""POST /api/products/{id}/corrections on the whole plugin app (`create_app`, Airflow's auth running)."""

from __future__ import annotations

import pytest
from airflow.api_fastapi.auth.managers.simple.user import SimpleAuthManagerUser
from airflow.api_fastapi.core_api.security import get_user
from fastapi.testclient import TestClient

from data_mesh.web.app import create_app
from tests.unit.governance import test_corrections
from tests.unit.governance.test_corrections import DAY1, ORDERS, RETURNED, differences, order_id, stored

published = test_corrections.published  # the fixture: orders v1 (DAY1, 6 rows), v2 (+ DAY2, 3 rows)

pytestmark = pytest.mark.usefixtures("auth_manager")  # tests/unit/web/conftest.py

URL = f"/api/products/{ORDERS}/corrections"


def client_as(username: str | None, role: str = "viewer") -> TestClient:
    app = create_app()
    if username is not None:
        app.dependency_overrides[get_user] = lambda: SimpleAuthManagerUser(username=username, role=role)
    return TestClient(app)


def body(**changes):
    return {
        "where": {"order_id": order_id(DAY1, 3)},
        "set": {"status": "returned"},
        "reason": RETURNED,
        **changes,
    }


def test_the_owner_corrects_an_order(published):
    before = stored()
    answer = client_as("alice.sales").post(URL, json=body())
    assert answer.status_code == 201, answer.text
    result = answer.json()
    assert (result["product"], result["action"], result["previous_version"], result["version"]) == (
        ORDERS,
        "update",
        2,
        3,
    )
    assert result["where"] == {"order_id": order_id(DAY1, 3)} and result["set"] == {"status": "returned"}
    assert result["rows_matched"] == result["rows_changed"] == 1 and result["reason"] == RETURNED
    assert result["actor"] == "alice.sales" and result["run_id"].startswith("correction__")
    [part] = result["partitions"]
    assert part["partition"] == DAY1.isoformat() and part["version"] == 3 and part["validation"]["success"]
    assert differences(before, stored()) == {order_id(DAY1, 3): {"status": ("placed", "returned")}}


def test_an_admin_deletes_with_json_values_of_any_scalar_type(published):
    answer = client_as("admin", "admin").post(
        URL,
        json={"where": {"order_id": order_id(DAY1, 2), "items": 3}, "delete": True, "reason": "duplicate"},
    )
    assert answer.status_code == 201, answer.text
    assert answer.json()["rows_deleted"] == 1 and len(stored()) == 8


@pytest.mark.parametrize(
    ("user", "role", "payload", "status", "named"),
    [
        ("viewer", "viewer", body(), 403, "may not correct"),
        ("bob.other", "op", body(), 403, "owning team"),
        ("alice.sales", "viewer", body(reason=""), 400, "needs a reason"),
        ("alice.sales", "viewer", {"where": {"order_id": "x"}, "set": {"status": "returned"}}, 400, "reason"),
        ("alice.sales", "viewer", body(where={"orderid": "x"}), 400, "'orderid'"),
        ("alice.sales", "viewer", body(set={"items": "many"}), 400, "column items"),
        ("alice.sales", "viewer", body(where={"order_id": "ord-20991231-000001"}), 404, "no row"),
        ("alice.sales", "viewer", body(set={"status": "placed"}), 409, "already hold"),
        ("alice.sales", "viewer", body(set={"amount": -5}), 422, "column=amount"),
        ("alice.sales", "viewer", body(unknown=1), 422, "extra"),
    ],
)
def test_refusals_publish_nothing(published, user, role, payload, status, named):
    answer = client_as(user, role).post(URL, json=payload)
    assert answer.status_code == status, answer.text
    assert named in answer.json()["detail"].lower() or named in answer.text
    assert published.versions() == [1, 2]


def test_an_unknown_product_is_a_404_and_no_login_is_refused(published):
    answer = client_as("admin", "admin").post("/api/products/sales.nope/corrections", json=body())
    assert answer.status_code == 404 and "sales.nope" in answer.json()["detail"]
    assert client_as(None).post(URL, json=body()).status_code in (401, 403)
    assert published.versions() == [1, 2]
