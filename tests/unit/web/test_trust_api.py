"""Trust scores on every surface: the API (whole app, Airflow's auth check), the pages and the CLI."""

from __future__ import annotations

import json
import re

import pytest

from tests.unit.web import test_ui
from tests.unit.web.test_sql_api import client_as
from tests.unit.web.test_ui import client_as as ui_as

stores = test_ui.stores  # fixtures: empty stores; sales.customer_orders published twice, read once
published = test_ui.published

pytestmark = pytest.mark.usefixtures("auth_manager")  # tests/unit/web/conftest.py
ORDERS = "sales.customer_orders"


def test_the_api_scores_a_product_and_ranks_a_domain(published):
    answer = client_as("viewer").get(f"/api/products/{ORDERS}/trust")
    assert answer.status_code == 200, answer.text
    trust = answer.json()
    parts = {c["name"]: c for c in trust["components"]}
    assert sum(c["weight"] for c in trust["components"]) == 100
    assert (
        parts["quality"]["detail"] == "2 of 2 validations passed in 30 days"
        and parts["quality"]["points"] == 25
    )
    assert parts["slo"]["points"] == 0  # the SLO DAG never ran here
    assert trust["score"] == pytest.approx(sum(c["points"] for c in trust["components"]), abs=0.2)
    assert trust["steps"][0] == {
        "component": "slo",
        "gain": 20.0,
        "step": "publish: the data_mesh__slo DAG has measured nothing in 30 days",
    }
    domain = client_as("viewer").get("/api/domains/sales/trust").json()
    assert domain["products"] == [{"product_id": ORDERS, "score": trust["score"], "level": trust["level"]}]
    missing = client_as("viewer").get("/api/domains/hr/trust")
    assert missing.status_code == 404 and "unknown domain 'hr'" in missing.json()["detail"]
    assert client_as(None).get(f"/api/products/{ORDERS}/trust").status_code == 401


def test_the_pages_show_the_score_the_steps_and_the_ranking(published):
    page = ui_as("viewer").get(f"/ui/products/{ORDERS}").text  # its sample read makes viewer a consumer
    trust = client_as("viewer").get(f"/api/products/{ORDERS}/trust").json()
    assert {c["name"]: c for c in trust["components"]}["consumers"]["points"] == 10  # finance, carol, viewer
    assert re.search(r'id="trust-score">([\d.]+)<', page).group(1) == f"{trust['score']:.1f}"
    assert f'id="trust-level">{trust["level"]}<' in page
    steps = re.search(r'<ol id="trust-steps">(.*?)</ol>', page, re.S).group(1)
    assert "data_mesh__slo DAG has measured nothing" in steps
    domain = ui_as("viewer").get("/ui/domains/sales").text
    assert f'id="domain-trust">{trust["score"]:.1f}<' in domain
    assert (
        re.search(r'class="num trust-score">.*?#trust">([\d.]+)<', domain, re.S).group(1)
        == f"{trust['score']:.1f}"
    )


def test_the_cli_prints_the_same_figures(published, capsys):
    from data_mesh.cli import main

    assert main(["--local-admin", "trust", ORDERS, "--format", "json"]) == 0
    trust = json.loads(capsys.readouterr().out)
    assert main(["--local-admin", "trust", ORDERS]) == 0
    text = capsys.readouterr().out
    assert text.startswith(f"{ORDERS}: trust {trust['score']:.1f} / 100 ({trust['level']})")
    assert "+20.0  publish: the data_mesh__slo DAG has measured nothing in 30 days" in text
    assert main(["--local-admin", "trust", "sales"]) == 0
    assert f"1. {ORDERS}" in capsys.readouterr().out
    assert main(["--local-admin", "trust", "hr"]) == 2
