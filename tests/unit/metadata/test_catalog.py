"""The catalog survives an invalid contract: that product shows its error, every other product works."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from data_mesh.contract import registry
from data_mesh.exceptions import ContractError
from data_mesh.governance.access import Principal
from data_mesh.metadata.catalog import product_detail, product_summaries
from tests.unit.web.test_ui import client_as

REPO = Path(__file__).resolve().parents[3]
ANALYST = Principal("carol.analyst", "user", roles=frozenset({"viewer"}))


@pytest.fixture
def broken_mesh(tmp_path, monkeypatch):
    """The three real domains, plus hr.headcount whose contract has no owner."""
    domains = tmp_path / "domains"
    shutil.copytree(REPO / "domains", domains)
    text = (domains / "sales" / "customer_orders.odcs.yaml").read_text(encoding="utf-8")
    (domains / "hr").mkdir()
    broken = text.replace("domain: sales", "domain: hr").replace("customer_orders", "headcount")
    broken = "\n".join(line for line in broken.splitlines() if not line.startswith("team:"))
    (domains / "hr" / "headcount.odcs.yaml").write_text(broken, encoding="utf-8")
    monkeypatch.setenv("DATA_MESH_DOMAINS_FOLDER", str(domains))
    monkeypatch.setenv("DATA_MESH_STORAGE_ROOT", str(tmp_path / "products"))
    monkeypatch.setenv("DATA_MESH_METADATA_URL", f"sqlite:///{tmp_path / 'metadata.db'}")
    registry._cache.clear()
    yield domains
    registry._cache.clear()


def test_the_broken_product_is_listed_with_its_error(broken_mesh):
    lines = {line["id"]: line for line in product_summaries(principal=ANALYST)}
    assert set(lines) == {
        "hr.headcount", "marketing.ads_performance", "sales.customer_orders", "finance.monthly_revenue"
    }  # fmt: skip
    broken = lines["hr.headcount"]
    assert broken["status"] == "invalid contract"
    assert "headcount.odcs.yaml" in broken["error"]
    assert broken["contract_path"].endswith("headcount.odcs.yaml")
    assert lines["sales.customer_orders"]["status"] == "never published"
    assert product_detail("sales.customer_orders", principal=ANALYST)["id"] == "sales.customer_orders"
    with pytest.raises(ContractError, match="headcount"):
        product_detail("hr.headcount", principal=ANALYST)


def test_the_ui_shows_it_and_every_other_page_works(broken_mesh):
    viewer = client_as("viewer")
    catalog = viewer.get("/ui/")
    assert catalog.status_code == 200
    assert 'data-product="hr.headcount"' in catalog.text and "status-invalid-contract" in catalog.text
    assert 'data-product="sales.customer_orders"' in catalog.text
    page = viewer.get("/ui/products/hr.headcount")
    assert page.status_code == 200 and "invalid contract" in page.text and "headcount.odcs.yaml" in page.text
    assert viewer.get("/ui/products/sales.customer_orders").status_code == 200
    assert viewer.get("/ui/domains/hr").status_code == 200
