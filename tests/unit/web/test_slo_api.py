"""A product's freshness SLO through the API (signed in), the CLI on the API and the CLI --local-admin.

The history is recorded relative to the real clock (the API measures up to now), and built so that
the figures do not depend on how long the test takes. Each state holds until the next evaluation, at
most 3 intervals of 5 min (15 min):

    now - 120 min  violated  -> holds 15 min (the next is 60 min later)
    now -  60 min  met       -> holds 10 min (the next comes then)
    now -  50 min  met       -> holds 15 min

met 25 min, violated 15 min: attainment 25 / 40 = 0.625 over 7 and over 30 days.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient

from data_mesh.cli import main
from data_mesh.metadata.store.slo import SloEvaluation, SloStore
from data_mesh.web.app import create_app
from tests.unit.test_cli_api import _serve
from tests.unit.web.test_sql_api import client_as

pytestmark = pytest.mark.usefixtures("auth_manager")  # tests/unit/web/conftest.py
ADS = "marketing.ads_performance"


@pytest.fixture
def history(tmp_path, monkeypatch):
    """A metadata store of this test's own holding the history above."""
    monkeypatch.setenv("DATA_MESH_METADATA_URL", f"sqlite:///{tmp_path / 'metadata.db'}")
    monkeypatch.setenv("DATA_MESH_SLO_INTERVAL_MINUTES", "5")
    now = datetime.now(UTC)
    SloStore().record(
        [
            SloEvaluation(
                ADS,
                now - timedelta(minutes=120),
                "violated",
                40.0,
                36.0,
                "2026-11-01",
                None,
                "violation",
                "sent",
            ),
            SloEvaluation(
                ADS, now - timedelta(minutes=60), "met", 2.0, 36.0, "2026-11-02", None, "recovery", "sent"
            ),
            SloEvaluation(ADS, now - timedelta(minutes=50), "met", 2.2, 36.0, "2026-11-02"),
        ]
    )
    return now


def test_the_api_answers_attainment_for_signed_in_users(history):
    answer = client_as("viewer").get(f"/api/products/{ADS}/slo")
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["sla_hours"] == 36.0 and body["current"]["state"] == "met"
    for window in ("7d", "30d"):
        assert body["attainment"][window]["attainment"] == 0.625
        assert body["attainment"][window]["met_hours"] == round(25 / 60, 4)
        assert body["attainment"][window]["violated_hours"] == 0.25
    assert len(body["series"]) == 30 and sum(p["violated_hours"] for p in body["series"]) == pytest.approx(
        0.25
    )
    assert [a["alert"] for a in body["alerts"]] == ["recovery", "violation"]


def test_unknown_product_is_404_and_no_login_is_401(history):
    missing = client_as("viewer").get("/api/products/sales.nothing/slo")
    assert missing.status_code == 404 and missing.json()["error"] == "unknown_product"
    assert TestClient(create_app()).get(f"/api/products/{ADS}/slo").status_code == 401


def test_the_cli_on_the_api_and_local_admin_print_the_attainment(history, monkeypatch, capsys):
    from airflow.api_fastapi.auth.managers.simple.user import SimpleAuthManagerUser
    from airflow.api_fastapi.core_api.security import get_user
    from fastapi import FastAPI

    app = create_app()
    app.dependency_overrides[get_user] = lambda: SimpleAuthManagerUser(username="viewer", role="viewer")
    root = FastAPI()
    root.mount("/data-mesh", app)  # where the plugin mounts it on the api-server
    url, server, thread = _serve(root)
    monkeypatch.setenv("DATA_MESH_API_TOKEN", "a-token-the-overridden-login-accepts")
    try:
        assert main(["--url", url, "slo", ADS, "--format", "json"]) == 0
        through_api = json.loads(capsys.readouterr().out)
        assert through_api["attainment"]["30d"]["attainment"] == 0.625
        assert main(["--url", url, "slo", ADS]) == 0
        text = capsys.readouterr().out
        assert (
            "attainment: 7 d 62.5 %, 30 d 62.5 %" in text and "now: met (newest partition 2026-11-02" in text
        )
        assert main(["--url", url, "slo", "sales.nothing"]) == 2
        assert "sales.nothing" in capsys.readouterr().err
    finally:
        server.should_exit = True
        thread.join(timeout=10)
    assert main(["--local-admin", "slo", ADS, "--format", "json"]) == 0
    local = json.loads(capsys.readouterr().out)
    assert local["attainment"]["7d"]["attainment"] == 0.625 and local["current"]["state"] == "met"


def test_the_product_page_shows_the_slo_panel_with_its_chart(history):
    page = client_as("viewer").get(f"/ui/products/{ADS}")
    assert page.status_code == 200, page.text[:500]
    html = page.text
    assert '<dd id="slo-7d">62.5 %</dd>' in html and '<dd id="slo-30d">62.5 %</dd>' in html
    assert 'id="slo-state">met</span>' in html
    chart = html[html.index('<svg xmlns="http://www.w3.org/2000/svg" class="slo-chart"') :]
    chart = chart[: chart.index("</svg>")]
    assert chart.count('class="slo-bar') == 30 and "<script" not in chart
    assert f'data-day="{history.date().isoformat()}"' in chart
    if (history - timedelta(minutes=120)).date() == history.date():  # the whole history is today's
        assert f'data-day="{history.date().isoformat()}" ' in chart and "62.5 % met" in chart
    assert "<td>violation</td>" in html and "<td>recovery</td>" in html
