"""The Data Products UI in a real browser: Debian's headless Chromium, a real Airflow, real products.

The producers are triggered through the REST API (the finance consumer then runs on their Assets),
one download is made through the JSON API as admin, and the UI is used the way a person would:
log in on Airflow's login page, open "Data Products" from the nav, browse the catalog in the
iframe, open a product. Screenshots go to test-artifacts/.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import requests

pytestmark = pytest.mark.integration

PRODUCT = "sales.customer_orders"
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]


@pytest.fixture(scope="module")
def mesh(airflow_server, mesh_published):
    """Both producers published and the finance consumer ran on their Assets (see conftest)."""
    for dag_id, run in mesh_published.items():
        assert run["state"] == "success", f"{dag_id}: {run}"
    return airflow_server


@pytest.fixture(scope="module")
def api_download(mesh) -> dict:
    """One governed read through the JSON API: the latest sales.customer_orders version as CSV, as admin."""
    from data_mesh.contract.registry import get_product
    from data_mesh.storage.products import product_storage

    version = product_storage(get_product(PRODUCT)).versions()[-1]
    answer = requests.get(
        f"{mesh.url}/data-mesh/api/products/{PRODUCT}/versions/{version}/download",
        params={"format": "csv"},
        headers={"Authorization": f"Bearer {mesh.token}"},
        timeout=60,
    )
    assert answer.status_code == 200, answer.text[:500]
    assert answer.text.splitlines()[0].strip('"').startswith("order_id")
    return {"version": version, "rows": len(answer.text.splitlines()) - 1}


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail(f"Debian's Chromium is not installed at {CHROMIUM} (make browser)", pytrace=False)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def log_in(page, url: str, username: str, password: str) -> None:
    """Airflow's own login page (SimpleAuthManager)."""
    page.goto(url)
    page.wait_for_selector("input[name=username]", timeout=60_000)
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.wait_for_url(lambda u: "/auth/login" not in u, timeout=60_000)


def open_data_products(page, attempts: int = 3) -> None:
    """Click "Data Products" in Airflow's nav (it lives in the Browse menu).

    Tried again when the click led nowhere: on a loaded machine the menu once took the click while
    it was still opening (seen in CI: no navigation within 30 s). The last failure leaves a
    screenshot of the page in test-artifacts/.
    """
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    for attempt in range(1, attempts + 1):
        try:
            if not page.get_by_role("menuitem", name="Data Products").count():
                page.get_by_role("button", name="Browse").click()
            page.get_by_role("menuitem", name="Data Products").click(timeout=30_000)
            page.wait_for_url("**/plugin/data-products", timeout=30_000)
            return
        except PlaywrightTimeout:
            if attempt == attempts:
                ARTIFACTS.mkdir(exist_ok=True)
                page.screenshot(path=str(ARTIFACTS / "ui-nav-failed.png"), full_page=True)
                raise
            page.keyboard.press("Escape")  # close a half-open menu, then start over


def test_data_products_ui_in_the_airflow_iframe(mesh, api_download, browser):
    browse_as_admin(browser, mesh.url, api_download["version"])


def test_viewer_sees_pii_masked(mesh, browser):
    browse_as_viewer(browser, mesh.url)


def test_api_docs_render_with_no_internet(airflow_server, browser):
    """/data-mesh/docs draws Swagger UI from the plugin's own files; every other origin is blocked."""
    url = airflow_server.url
    ARTIFACTS.mkdir(exist_ok=True)
    context = browser.new_context(viewport={"width": 1280, "height": 1000})
    blocked: list[str] = []

    def same_origin_only(route) -> None:
        if route.request.url.startswith((url + "/", "data:", "blob:")):
            route.continue_()
        else:
            blocked.append(route.request.url)
            route.abort()

    context.route("**/*", same_origin_only)
    page = context.new_page()
    try:
        log_in(page, url, "viewer", "viewer")
        page.goto(f"{url}/data-mesh/docs")
        operations = page.locator("#swagger-ui .opblock")
        operations.first.wait_for(timeout=60_000)
        paths = {p.strip() for p in page.locator("#swagger-ui .opblock-summary-path").all_inner_texts()}
        assert "/api/products" in paths and operations.count() >= 8, paths
        assert page.locator("#swagger-ui .servers").inner_text().strip().startswith("/data-mesh")
        page.screenshot(path=str(ARTIFACTS / "api-docs.png"), full_page=True)
        assert not blocked, f"the docs page asked other origins for {blocked}"
    finally:
        context.close()


def browse_as_admin(browser, url: str, downloaded_version: int) -> None:
    """Airflow login page -> nav "Data Products" -> catalog in the iframe -> the sales product page."""
    ARTIFACTS.mkdir(exist_ok=True)
    context = browser.new_context(viewport={"width": 1440, "height": 1000})
    page = context.new_page()
    try:
        log_in(page, url, "admin", "admin")
        open_data_products(page)

        frame = page.frame_locator("iframe")
        for domain in ("marketing", "sales", "finance"):
            frame.locator(f'section.domain[data-domain="{domain}"] .card').first.wait_for(timeout=30_000)
        for product in ("marketing.ads_performance", PRODUCT, "finance.monthly_revenue"):
            card = frame.locator(f'.card[data-product="{product}"]')
            assert card.count() == 1, product
            badge = card.locator(".badge").inner_text()
            assert badge != "never published", f"{product} is {badge} after publishing"
        page.screenshot(path=str(ARTIFACTS / "ui-catalog.png"), full_page=True)

        frame.locator(f'.card[data-product="{PRODUCT}"] a.card-title').click()
        frame.locator("h1", has_text=PRODUCT).wait_for(timeout=30_000)

        # lineage picture: an SVG with the product, its sources and its downstream consumer
        svg = frame.locator("svg#lineage-svg")
        nodes = svg.locator("g.lineage-node")
        assert nodes.count() >= 4
        keys = {nodes.nth(i).get_attribute("data-node") for i in range(nodes.count())}
        downstream = {"product:finance.monthly_revenue", "dag:finance__monthly_revenue"}
        assert {f"product:{PRODUCT}", *downstream} <= keys
        assert svg.locator("path.lineage-edge").count() >= 3

        # the quality chart is drawn on its canvas by the vendored Chart.js
        canvas = frame.locator("canvas#quality-chart")
        canvas.wait_for(timeout=30_000)
        assert canvas.get_attribute("data-rendered") == "true"
        painted = canvas.evaluate(
            """c => { const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
                      let n = 0; for (let i = 3; i < d.length; i += 4) if (d[i] > 0) n++; return n; }"""
        )
        assert painted > 1000, f"quality chart canvas looks empty ({painted} painted pixels)"
        assert frame.locator("canvas#freshness-chart").get_attribute("data-rendered") == "true"

        # admin sees the PII in the sample; the producing DAG link leaves the iframe
        emails = frame.locator("#sample-table tbody tr td:nth-child(5)")
        assert emails.count() > 0 and "@" in emails.first.inner_text()
        dag_link = frame.locator('a[href="/dags/sales__customer_orders"]').first
        assert dag_link.get_attribute("target") == "_top"

        # the API download made before is in the access log (admin, path api, that version)
        log_rows = frame.locator("#access-log tbody tr")
        api_rows = [
            log_rows.nth(i).inner_text()
            for i in range(log_rows.count())
            if "admin" in log_rows.nth(i).inner_text() and "api" in log_rows.nth(i).inner_text()
        ]
        assert any(f"v{downloaded_version}" in text for text in api_rows), api_rows
        page.set_viewport_size({"width": 1440, "height": 2600})  # the iframe grows with the window
        frame.locator("#quality").scroll_into_view_if_needed()
        page.screenshot(path=str(ARTIFACTS / "ui-product.png"))
    finally:
        context.close()


def browse_as_viewer(browser, url: str) -> None:
    """A viewer opens the product page directly (standalone, outside the iframe): PII is masked."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    try:
        log_in(page, url, "viewer", "viewer")
        page.goto(f"{url}/data-mesh/ui/products/{PRODUCT}")
        cells = page.locator("#sample-table tbody tr td:nth-child(5)")
        cells.first.wait_for(timeout=30_000)
        assert {cells.nth(i).inner_text() for i in range(cells.count())} == {"***"}
        assert "@" not in page.locator("#sample-table").inner_text()
    finally:
        context.close()


def test_query_panel_runs_sql_with_the_page_session(mesh, browser):
    """Type a group-by in the product page's Query panel: the governed port answers a table and a chart."""
    ARTIFACTS.mkdir(exist_ok=True)
    context = browser.new_context(viewport={"width": 1280, "height": 1400})
    page = context.new_page()
    try:
        log_in(page, mesh.url, "viewer", "viewer")
        page.goto(f"{mesh.url}/data-mesh/ui/products/{PRODUCT}#query")
        sql = page.locator("#query-sql")
        sql.wait_for(timeout=30_000)
        assert sql.input_value() == f"SELECT * FROM {PRODUCT} LIMIT 20"
        sql.fill(f"SELECT region, round(sum(amount), 2) AS revenue FROM {PRODUCT} GROUP BY 1 ORDER BY 1")
        page.click("#query-run")
        rows = page.locator("#query-result tbody tr")
        rows.first.wait_for(timeout=30_000)
        assert page.locator("#query-result thead th").all_text_contents() == ["region", "revenue"]
        assert rows.count() >= 2
        canvas = page.locator("canvas#query-chart")
        assert canvas.get_attribute("data-rendered") == "true"
        assert "rows from sales.customer_orders v" in page.locator("#query-status").inner_text()
        page.locator("#query").scroll_into_view_if_needed()
        page.screenshot(path=str(ARTIFACTS / "ui-query.png"))

        sql.fill(f"SELECT customer_email FROM {PRODUCT}")  # a viewer may not read the PII column
        page.click("#query-run")
        error = page.locator("#query-error")
        error.wait_for(state="visible", timeout=30_000)
        assert "HTTP 403" in error.inner_text() and "customer_email" in error.inner_text()
    finally:
        context.close()


def test_request_access_on_the_product_page(mesh, browser):
    """A viewer asks for customer_email on the product page, its owner approves it on the same page,
    and the viewer's sample then shows the addresses; revoked at the end, they are masked again.
    Screenshots: test-artifacts/ui-access-before.png, ui-access-approved.png, ui-access-after.png."""
    ARTIFACTS.mkdir(exist_ok=True)
    page_url = f"{mesh.url}/data-mesh/ui/products/{PRODUCT}"
    viewer = browser.new_context(viewport={"width": 1280, "height": 1600})
    owner = browser.new_context(viewport={"width": 1280, "height": 1600})
    try:
        page = viewer.new_page()
        log_in(page, mesh.url, "viewer", "viewer")
        page.goto(f"{page_url}#access")
        page.locator("#request-access-open").click()
        page.locator("#access").screenshot(path=str(ARTIFACTS / "ui-access-before.png"))
        form = page.locator("#request-access-form")
        form.locator("input[name=purpose]").fill("Reconcile disputed payments with the support team")
        form.locator("input[name=days]").fill("7")
        form.locator("button[type=submit]").click()
        page.locator("#pending-table tbody tr").first.wait_for(timeout=30_000)
        assert "viewer" in page.locator("#pending-table").inner_text()
        assert page.locator("#pending-table .access-action").count() == 0  # nobody approves their own

        alice = owner.new_page()
        log_in(alice, mesh.url, "alice.sales", "alice")
        alice.goto(f"{page_url}#access")
        row = alice.locator("#pending-table tbody tr", has_text="viewer").first
        row.locator("button[data-action=approve]").click()
        alice.locator("#grants-table tbody tr", has_text="viewer").first.wait_for(timeout=30_000)
        alice.locator("#access").screenshot(path=str(ARTIFACTS / "ui-access-approved.png"))

        page.goto(page_url)  # a fresh load (the same URL with the same #hash would not reload)
        cells = page.locator("#sample-table tbody tr td:nth-child(5)")
        cells.first.wait_for(timeout=30_000)
        shown = [cells.nth(i).inner_text() for i in range(cells.count())]
        assert "***" not in shown and any("@" in v for v in shown)  # some customers have no address
        mine = page.locator("#my-access").inner_text()
        assert "customer_email" in mine and "Not granted" not in mine
        page.locator("#access").screenshot(path=str(ARTIFACTS / "ui-access-after.png"))

        alice.goto(page_url)
        alice.locator("#grants-table tbody tr", has_text="viewer").first.locator(
            "button[data-action=revoke]"
        ).click()
        alice.locator("#grants-table").wait_for(state="detached", timeout=30_000)  # revoked, reloaded
        page.goto(page_url)
        cells = page.locator("#sample-table tbody tr td:nth-child(5)")
        cells.first.wait_for(timeout=30_000)
        assert {cells.nth(i).inner_text() for i in range(cells.count())} == {"***"}
    finally:
        viewer.close()
        owner.close()


def test_slo_and_trust_panels(mesh, browser):
    """The SLO DAG evaluates the published mesh for real; the product page shows its attainment and the
    product's trust score with the steps to raise it. Screenshots: ui-slo.png, ui-trust.png, ui-domain.png."""
    ARTIFACTS.mkdir(exist_ok=True)
    run_id = mesh.trigger("data_mesh__slo")
    mesh.unpause("data_mesh__slo")
    run = mesh.wait_for_run("data_mesh__slo", lambda r: r["dag_run_id"] == run_id)
    assert run["state"] == "success", run
    slo = requests.get(
        f"{mesh.url}/data-mesh/api/products/{PRODUCT}/slo",
        headers={"Authorization": f"Bearer {mesh.token}"},
        timeout=60,
    ).json()
    assert slo["current"]["state"] in {"met", "violated"}, slo["current"]
    trust = requests.get(
        f"{mesh.url}/data-mesh/api/products/{PRODUCT}/trust",
        headers={"Authorization": f"Bearer {mesh.token}"},
        timeout=60,
    ).json()
    context = browser.new_context(viewport={"width": 1280, "height": 1000})
    page = context.new_page()
    try:
        log_in(page, mesh.url, "viewer", "viewer")
        page.goto(f"{mesh.url}/data-mesh/ui/products/{PRODUCT}#slo")
        state = page.locator("#slo-state")
        state.wait_for(timeout=30_000)
        assert state.inner_text() == slo["current"]["state"]
        assert page.locator("#slo svg").count() == 1  # the daily attainment chart
        page.locator("#slo").screenshot(path=str(ARTIFACTS / "ui-slo.png"))
        assert page.locator("#trust-level").inner_text() == trust["level"]
        assert page.locator("#trust-components tbody tr").count() == 7
        assert page.locator("#trust-steps li").count() == len(trust["steps"])
        page.locator("#trust").screenshot(path=str(ARTIFACTS / "ui-trust.png"))
        page.goto(f"{mesh.url}/data-mesh/ui/domains/sales")
        page.locator("#domain-trust").wait_for(timeout=30_000)
        page.screenshot(path=str(ARTIFACTS / "ui-domain.png"))
    finally:
        context.close()
