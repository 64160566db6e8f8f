"""The Data Products pages, rendered without a browser: the UI router in a bare FastAPI app.

Each test gets its own product store and metadata store (tmp folders); the Airflow user is a
dependency override, so no Airflow server is needed.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta

import pytest
from airflow.api_fastapi.auth.managers.simple.user import SimpleAuthManagerUser
from airflow.api_fastapi.core_api.security import get_user
from fastapi import FastAPI
from fastapi.testclient import TestClient

from data_mesh.contract.registry import get_product
from data_mesh.web import format as web_format
from data_mesh.web import ui

EMAILS = ["ann@example.com", "bob@example.com", "cyd@example.com"]


@pytest.fixture
def stores(tmp_path, monkeypatch):
    """Empty product and metadata stores of this test only."""
    from data_mesh.metadata.store import dispose_engines

    monkeypatch.setenv("DATA_MESH_STORAGE_ROOT", str(tmp_path / "products"))
    monkeypatch.setenv("DATA_MESH_METADATA_URL", f"sqlite:///{tmp_path / 'metadata.db'}")
    yield tmp_path
    dispose_engines()


@pytest.fixture
def published(stores):
    """sales.customer_orders published twice (v1, v2) with validations, lineage and one API read."""
    import pyarrow as pa

    from data_mesh.metadata.store import AccessEvent, MetadataStore, PublicationRecord, ValidationRecord
    from data_mesh.storage.arrow import arrow_schema, schema_hash
    from data_mesh.storage.products import product_storage

    spec = get_product("sales.customer_orders")
    schema = arrow_schema(spec)
    store, meta = product_storage(spec), MetadataStore()
    report = {
        "product_id": spec.id,
        "success": True,
        "evaluated": 2,
        "successful": 2,
        "failed": 0,
        "suite_name": "sales.customer_orders",
        "row_count": 3,
        "results": [
            {"expectation_type": "expect_column_values_to_not_be_null", "column": "order_id", "kwargs": {},
             "success": True, "severity": "critical", "unexpected_count": 0, "unexpected_percent": 0.0,
             "sample_values": [], "exception": None, "observed_value": None},
            {"expectation_type": "expect_column_values_to_be_in_set", "column": "status",
             "kwargs": {"value_set": ["placed", "shipped"]}, "success": False, "severity": "warning",
             "unexpected_count": 1, "unexpected_percent": 33.3, "sample_values": ["teleported"],
             "exception": None, "observed_value": None},
        ],
    }  # fmt: skip
    for version, day in ((1, date(2026, 11, 17)), (2, date(2026, 11, 18))):
        table = pa.table(
            {
                "order_id": [f"o-{day}-{i}" for i in range(3)],
                "order_date": [day] * 3,
                "order_ts": [datetime(day.year, day.month, day.day, 9, i, tzinfo=UTC) for i in range(3)],
                "customer_id": ["c1", "c2", "c3"],
                "customer_email": EMAILS,
                "customer_country": ["USA", "FRA", "JPN"],
                "region": ["NA", "EMEA", "APAC"],
                "status": ["placed", "shipped", "teleported"],
                "amount": [10.5, 20.0, 30.25],
                "currency": ["USD"] * 3,
                "items": [1, 2, 3],
            },
            schema=schema,
        )
        run_id = f"manual__{day}"
        manifest = store.publish(table, day.isoformat(), schema_hash(schema), run_id)
        meta.record_validation(
            ValidationRecord(spec.id, success=True, partition=day.isoformat(), run_id=run_id,
                             evaluated=2, successful=2 if version == 2 else 1, failed=0, report=report)
        )  # fmt: skip
        meta.upsert_product(spec, "contract")
        meta.record_publication(
            PublicationRecord(
                product_id=spec.id, version=manifest.version, partition=day.isoformat(), rows=3,
                bytes=manifest.bytes, files=manifest.files, dag_id=spec.dag_id,
                run_id=run_id, published_at=datetime.now(UTC) - timedelta(hours=3 - version),
                validation_success=True,
            )
        )  # fmt: skip
    for source in spec.sources:
        meta.add_lineage_edge("source", f"{source.conn_id}:{source.endpoint}", "product", spec.id)
    meta.add_lineage_edge("product", spec.id, "product", "finance.monthly_revenue")
    meta.add_lineage_edge("product", spec.id, "dag", "finance__monthly_revenue")
    meta.record_access(
        AccessEvent("carol.api", "user", spec.id, "api", True, version=2, rows=3, purpose="download")
    )
    return spec


def client_as(role: str | None) -> TestClient:
    app = FastAPI()
    app.include_router(ui.router)
    if role is not None:
        app.dependency_overrides[get_user] = lambda: SimpleAuthManagerUser(username=role, role=role)
    return TestClient(app)


def column_cells(html: str, table_id: str, column: str) -> list[str]:
    """Text of one column's cells in an HTML table of the page (enough for our own markup)."""
    table = re.search(rf'<table[^>]*id="{table_id}".*?</table>', html, re.S).group(0)
    headers = re.findall(r"<th[^>]*>(.*?)</th>", table, re.S)
    index = [h.strip() for h in headers].index(column)
    rows = re.findall(r"<tr>(.*?)</tr>", table.split("</thead>", 1)[1], re.S)
    return [re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)[index] for row in rows]


def test_catalog_lists_every_domain_with_status(published):
    page = client_as("viewer").get("/ui/")
    assert page.status_code == 200
    for domain in ("marketing", "sales", "finance"):
        assert f'data-domain="{domain}"' in page.text
    card = re.search(r'data-product="sales.customer_orders".*?</article>', page.text, re.S).group(0)
    assert "status-stale" in card  # the newest partition, 2026-11-18, ended long before the 36 h SLA
    card = re.search(r'data-product="finance.monthly_revenue".*?</article>', page.text, re.S).group(0)
    assert "never published" in card
    assert "/ui/static/ui.css" in page.text


@pytest.mark.parametrize(
    ("term", "expected"),
    [
        ("email", {"sales.customer_orders"}),  # a column
        ("CUSTOMERS", {"sales.customer_orders"}),  # a tag, any case
        ("revenue", {"sales.customer_orders", "finance.monthly_revenue"}),
        ("zzz-none", set()),
    ],
)
def test_catalog_search_by_column_tag_or_name(stores, term, expected):
    page = client_as("viewer").get("/ui/", params={"q": term})
    assert page.status_code == 200
    assert set(re.findall(r'<article class="card" data-product="([^"]+)"', page.text)) == expected


def test_catalog_search_by_owner(stores):
    owner = get_product("marketing.ads_performance").owner
    page = client_as("viewer").get("/ui/", params={"q": owner})
    assert 'data-product="marketing.ads_performance"' in page.text


def test_viewer_sees_restricted_columns_masked_and_the_read_is_audited(published):
    from data_mesh.metadata.store import MetadataStore

    page = client_as("viewer").get("/ui/products/sales.customer_orders")
    assert page.status_code == 200
    assert column_cells(page.text, "sample-table", "customer_email") == ["***"] * 3
    assert column_cells(page.text, "sample-table", "customer_country") == ["USA", "FRA", "JPN"]
    assert not any(email in page.text for email in EMAILS)
    events = MetadataStore().list_access_events(product_id="sales.customer_orders", path="ui").items
    assert [(e.principal, e.allowed, e.version, e.rows) for e in events] == [("viewer", True, 2, 3)]
    assert "customer_email" not in events[0].columns  # the viewer's read never asked for PII


def test_only_a_role_the_contract_grants_sees_restricted_columns(published):
    """The contract's pii-readers role names `admin`; `op` has no explicit grant, so it sees a mask."""
    page = client_as("admin").get("/ui/products/sales.customer_orders")
    assert column_cells(page.text, "sample-table", "customer_email") == EMAILS
    page = client_as("op").get("/ui/products/sales.customer_orders")
    assert column_cells(page.text, "sample-table", "customer_email") == ["***"] * 3


def test_product_page_sections(published):
    page = client_as("viewer").get("/ui/products/sales.customer_orders").text
    # lineage: an SVG with the sources upstream and the finance product and DAG downstream
    svg = re.search(r"<svg[^>]*id=\"lineage-svg\".*?</svg>", page, re.S).group(0)
    nodes = re.findall(r'data-node="([^"]+)"', svg)
    assert "product:sales.customer_orders" in nodes
    assert {"product:finance.monthly_revenue", "dag:finance__monthly_revenue"} <= set(nodes)
    assert sum(n.startswith("source:") for n in nodes) == 2
    assert 'href="/dags/finance__monthly_revenue" target="_top"' in svg
    # charts and the vendored library, versions, DAG links, access log, report, contract
    assert 'id="quality-chart"' in page and 'id="freshness-chart"' in page
    assert "/ui/static/vendor/chart.umd.min.js" in page
    assert 'href="/dags/sales__customer_orders" target="_top"' in page
    # versions are Iceberg snapshots; "Use this product" points other engines at the table
    assert "<th>Snapshot</th>" in page and "<td>append</td>" in page
    assert "iceberg_scan(&#39;file://" in page and "spark.sql.catalog.mesh.type=jdbc" in page
    assert 'href="/dags/sales__customer_orders/runs/manual__2026-11-18" target="_top"' in page
    assert column_cells(page, "access-log", "Who")[-1].startswith("carol.api")
    assert "teleported" in page  # a failing expectation's sample value in the validation report
    assert '<span class="y-key">apiVersion</span>' in page
    assert 'class="restricted"' in page  # the PII column is highlighted in the schema


def test_product_page_shows_each_policy_and_a_waived_finding(stores, tmp_path, monkeypatch):
    import shutil
    from datetime import date, timedelta
    from pathlib import Path

    import yaml

    domains = tmp_path / "domains"
    shutil.copytree(Path(__file__).resolve().parents[3] / "domains", domains)
    contract = domains / "sales" / "customer_orders.odcs.yaml"
    raw = yaml.safe_load(contract.read_text())
    raw["support"] = []
    waiver = {
        "policy": "global.support-channel",
        "reason": "the new support desk opens in January",
        "approvedBy": "governance-board",
        "expires": (date.today() + timedelta(days=30)).isoformat(),
    }
    raw["customProperties"].append({"property": "policyWaivers", "value": [waiver]})
    contract.write_text(yaml.safe_dump(raw, sort_keys=False))
    monkeypatch.setenv("DATA_MESH_DOMAINS_FOLDER", str(domains))
    page = client_as("viewer").get("/ui/products/sales.customer_orders").text
    table = re.search(r'<table[^>]*id="policy-results".*?</table>', page, re.S).group(0)
    rows = re.findall(r"<tr[^>]*>(.*?)</tr>", table.split("</thead>", 1)[1], re.S)
    cells = [
        [re.sub(r"<[^>]+>", " ", c).split() for c in re.findall(r"<td[^>]*>(.*?)</td>", r, re.S)]
        for r in rows
    ]
    results = {policy[0]: result[0] for result, policy, _severity, _scope, *_ in cells}
    assert sum(1 for row in cells if row[3] == ["sales"]) == 3
    from data_mesh.contract.policies.builtin import GLOBAL_POLICIES

    assert len(results) == len(GLOBAL_POLICIES) + 3 and results["global.support-channel"] == "waived"
    on_data = {p.id for p in GLOBAL_POLICIES if p.on == "data"} | {"sales.usd-amounts"}
    assert all(results[p] == "each" for p in on_data)  # checked on every batch at publish
    assert all(results[p] == "passed" for p in results if p not in on_data | {"global.support-channel"})
    assert "governance-board" in page


def test_chart_data_is_embedded_safely(published):
    import json

    page = client_as("viewer").get("/ui/products/sales.customer_orders").text
    raw = re.search(r'<script type="application/json" id="chart-data">(.*?)</script>', page, re.S).group(1)
    data = json.loads(raw)
    assert [p["rate"] for p in data["quality"]] == [50.0, 100.0]
    assert data["freshness"]["sla_hours"] == 36.0
    assert [p["partition"] for p in data["freshness"]["points"]] == ["2026-11-17", "2026-11-18"]


def test_never_published_product_page(stores):
    page = client_as("viewer").get("/ui/products/finance.monthly_revenue")
    assert page.status_code == 200
    assert "never published" in page.text
    assert "Nothing has been published yet." in page.text


@pytest.mark.parametrize(
    "path",
    ["/ui/products/sales.nope", "/ui/products/nope", "/ui/products/..%2F..%2Fetc", "/ui/domains/nope"],
)
def test_unknown_product_or_domain_is_a_404_naming_it(stores, path):
    page = client_as("viewer").get(path)
    assert page.status_code == 404
    assert "Not found" in page.text
    name = path.rsplit("/", 1)[1].replace("%2F", "/")
    assert f"<code>{name}</code>" in page.text


def test_domain_page(published):
    page = client_as("viewer").get("/ui/domains/sales")
    assert page.status_code == 200
    assert 'data-product="sales.customer_orders"' in page.text
    assert "status-stale" in page.text
    assert client_as("viewer").get("/ui/domains/*").status_code == 404  # never a glob


def test_static_files_are_served():
    client = client_as("viewer")
    css = client.get("/ui/static/ui.css")
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
    chart = client.get("/ui/static/vendor/chart.umd.min.js")
    assert chart.status_code == 200 and "Chart.js v4" in chart.text[:200]


@pytest.mark.parametrize(
    "path",
    [
        "/ui/static/..%2Fui.py",
        "/ui/static/%2e%2e/%2e%2e/catalog.py",
        "/ui/static/vendor/..%2F..%2Ftemplates%2Fbase.html",
        "/ui/static/%2Fetc%2Fpasswd",
        "/ui/static/..%2F..%2F..%2F..%2F..%2F..%2Fetc%2Fpasswd",
        "/ui/static/vendor",
        "/ui/static/",
    ],
)
def test_static_files_never_leave_the_static_folder(path):
    answer = client_as("viewer").get(path)
    assert answer.status_code == 404
    assert "import" not in answer.text and "root:" not in answer.text


@pytest.mark.parametrize("path", ["../ui.py", "../../catalog.py", "/etc/passwd", "vendor/../../ui.py"])
def test_static_handler_rejects_traversal_directly(path):
    assert ui.static_file(path).status_code == 404


def test_pages_and_static_files_need_a_login():
    client = client_as(None)  # no dependency override: Airflow's own authentication
    for path in ("/ui/", "/ui/products/sales.customer_orders", "/ui/static/ui.css"):
        assert client.get(path).status_code in (401, 403), path


def test_lineage_layout_is_left_to_right():
    from data_mesh.metadata.store import LineageEdge

    edges = [
        LineageEdge("source", "api:/a", "product", "x.a"),
        LineageEdge("product", "x.a", "product", "y.b"),
        LineageEdge("product", "y.b", "dag", "z__c"),
    ]
    svg = str(ui.lineage_svg("x.a", edges, "/ui"))
    xs = {
        key: float(x)
        for key, x in re.findall(r'data-node="([^"]+)"><title>[^<]*</title><rect x="([\d.]+)"', svg)
    }
    assert xs["source:api:/a"] < xs["product:x.a"] < xs["product:y.b"] < xs["dag:z__c"]
    assert svg.count('class="lineage-edge"') == 3


def test_contract_links_are_only_http():
    assert web_format.web_url("https://chat.example.com/x") == "https://chat.example.com/x"
    assert web_format.web_url("javascript:alert(1)") is None
    assert web_format.web_url(None) is None


def test_ui_without_slash_redirects_to_the_catalog(stores):
    answer = client_as("viewer").get("/ui", follow_redirects=False)
    assert answer.status_code == 307 and answer.headers["location"] == "/ui/"
