"""The API docs page (/docs): Swagger UI comes from the plugin itself, never from a CDN.

The whole plugin app (`create_app`) is built, as the api-server mounts it; the Airflow user is a
dependency override as in test_ui.py, and the configured auth manager is created so the app-wide
`requires_access_view(PLUGINS)` check runs for real.
"""

from __future__ import annotations

import re
from urllib.parse import urljoin, urlsplit

import pytest
from airflow.api_fastapi.auth.managers.simple.user import SimpleAuthManagerUser
from airflow.api_fastapi.core_api.security import get_user
from fastapi.testclient import TestClient

from data_mesh.web.app import create_app

BASE = "http://testserver"
CONTENT_TYPES = {
    ".js": ("text/javascript", "application/javascript"),
    ".css": ("text/css",),
    ".png": ("image/png",),
    ".json": ("application/json",),
}
MIN_BYTES = {".js": 100_000, ".css": 10_000, ".png": 100, ".json": 1_000}


pytestmark = pytest.mark.usefixtures("auth_manager")  # tests/unit/web/conftest.py


def client_as(role: str | None, **kwargs) -> TestClient:
    app = create_app()
    if role is not None:
        app.dependency_overrides[get_user] = lambda: SimpleAuthManagerUser(username=role, role=role)
    return TestClient(app, base_url=BASE, **kwargs)


def page_urls(html: str) -> list[str]:
    """Every URL the page names: attributes, the spec `url:` and anything that looks like a link."""
    found = re.findall(r'(?:src|href)\s*=\s*["\']([^"\']+)["\']', html)
    found += re.findall(r"\burl\s*:\s*['\"]([^'\"]+)['\"]", html)
    found += re.findall(r"(?:https?:)?//[\w.-]+[^\s'\"<>)]*", html)
    return found


def referenced_assets(html: str) -> list[str]:
    return re.findall(r'(?:src|href)\s*=\s*["\']([^"\']+)["\']', html) + re.findall(
        r"\burl\s*:\s*['\"]([^'\"]+)['\"]", html
    )


def test_docs_page_names_no_other_host():
    page = client_as("viewer").get("/docs")
    assert page.status_code == 200 and "SwaggerUIBundle" in page.text
    urls = page_urls(page.text)
    assert urls, "the page names no URL at all"
    for url in urls:
        parts = urlsplit(urljoin(f"{BASE}/docs", url))
        assert (parts.scheme, parts.netloc) == ("http", "testserver"), url
    assert "cdn" not in page.text.lower() and "swagger.io" not in page.text


def test_docs_assets_are_served_by_the_plugin():
    client = client_as("viewer")
    page = client.get("/docs")
    assets = referenced_assets(page.text)
    suffixes = {"." + a.rsplit(".", 1)[-1] for a in assets}
    assert suffixes == set(CONTENT_TYPES), assets  # bundle, stylesheet, favicon and the spec
    for asset in assets:
        answer = client.get(asset)
        suffix = "." + asset.rsplit(".", 1)[-1]
        assert answer.status_code == 200, asset
        assert answer.headers["content-type"].split(";")[0] in CONTENT_TYPES[suffix], asset
        assert len(answer.content) >= MIN_BYTES[suffix], asset
    bundle = client.get(next(a for a in assets if a.endswith("swagger-ui-bundle.js"))).text
    assert "SwaggerUIBundle" in bundle


def test_docs_urls_follow_the_mount_point():
    """Mounted at /data-mesh by Airflow: every URL of the page carries that prefix."""
    page = client_as("viewer", root_path="/data-mesh").get("/docs")
    assert page.status_code == 200
    for asset in referenced_assets(page.text):
        assert asset.startswith("/data-mesh/"), asset
    spec = client_as("viewer", root_path="/data-mesh").get("/openapi.json").json()
    assert spec["servers"] == [{"url": "/data-mesh"}]  # "Try it out" calls /data-mesh/api/...
    assert "servers" not in client_as("viewer").get("/openapi.json").json()


@pytest.mark.parametrize(
    "path",
    [
        "/docs",
        "/openapi.json",
        "/ui/static/vendor/swagger-ui/swagger-ui-bundle.js",
        "/ui/static/vendor/swagger-ui/swagger-ui.css",
        "/ui/static/vendor/swagger-ui/favicon-32x32.png",
    ],
)
def test_docs_and_assets_need_a_login(path):
    assert client_as("viewer").get(path).status_code == 200
    assert client_as(None).get(path, follow_redirects=False).status_code in (401, 403)
