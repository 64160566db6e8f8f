"""new-domain and new-product on a temporary layout: what they write, and every refusal (nothing written)."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml

from data_mesh.contract.odcs import load_contract
from data_mesh.contract.policies import PolicyContext, check_product
from data_mesh.quality.expectations import load_suite
from data_mesh.scaffold.domain import Layout, domain_info, new_domain
from data_mesh.scaffold.product import SourceOptions, new_product, parse_params, sample_window

REPO = Path(__file__).resolve().parents[3]
ORDERS = [
    {
        "id": f"ord-{i:04d}",
        "createdAt": f"2026-11-20T{i % 24:02d}:00:00Z",
        "customer": {"email": f"c{i}@example.com", "vip": i % 3 == 0},
        "total": {"amount": f"{i}.50"},
        "items": [1, 2],
    }
    for i in range(60)
]
BODIES = {
    "/orders": (200, "application/json", json.dumps({"data": ORDERS})),
    "/empty": (200, "application/json", json.dumps({"data": []})),
    "/text": (200, "text/plain", "orders: 60"),
    "/scalars": (200, "application/json", json.dumps([1, 2, 3])),
}


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - stdlib naming
        status, kind, body = BODIES.get(self.path.split("?")[0], (404, "application/json", '{"error": "no"}'))
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def source_url():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def layout(tmp_path, monkeypatch, source_url):
    monkeypatch.setenv("AIRFLOW_CONN_SCAFFOLD_SHOP", json.dumps({"conn_type": "http", "host": source_url}))
    monkeypatch.delenv("DATA_MESH_KNOWN_USERS", raising=False)
    layout = Layout(tmp_path / "domains", tmp_path / "expectations", tmp_path / "dags")
    new_domain("shop", "dana", support_channel="#shop", layout=layout)
    return layout


def _files(layout: Layout) -> set[str]:
    root = layout.domains.parent
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()}


def _product(layout, endpoint="/orders", **kw):
    options = SourceOptions(conn_id=kw.pop("conn_id", "scaffold_shop"), endpoint=endpoint, **kw)
    return new_product("shop.orders", options, sample_partition="2026-11-20", layout=layout)


def test_new_domain_writes_the_package_the_dag_file_and_the_owner(layout):
    assert _files(layout) == {"domains/shop/__init__.py", "domains/shop/domain.yaml", "dags/shop.py"}
    assert (layout.expectations / "shop").is_dir()
    assert 'build_domain_dags("shop")' in (layout.dags / "shop.py").read_text()
    info = domain_info("shop", layout)
    assert (info.owner, info.team, info.support_channel) == ("dana", "shop-team", "#shop")


@pytest.mark.parametrize(
    ("name", "owner", "message"),
    [
        ("shop", "dana", "already exists"),
        ("Shop", "dana", "naming policy global.naming"),
        ("web-shop", "dana", "naming policy global.naming"),
        ("books", "dana smith", "no spaces"),
    ],
)
def test_new_domain_refusals(layout, name, owner, message):
    before = _files(layout)
    with pytest.raises(ValueError, match=message):
        new_domain(name, owner, layout=layout)
    assert _files(layout) == before


def test_an_owner_the_platform_does_not_know_is_refused(layout, monkeypatch):
    monkeypatch.setenv("DATA_MESH_KNOWN_USERS", "alice,bob")
    with pytest.raises(ValueError, match="not a known user"):
        new_domain("books", "dana", layout=layout)


def test_a_domain_made_by_hand_takes_its_owner_from_its_contracts():
    info = domain_info("sales", Layout(REPO / "domains", REPO / "expectations", REPO / "dags"))
    assert (info.owner, info.team, info.support_channel) == ("alice.sales", "sales-data", "#sales-data")


def test_new_product_writes_a_contract_only_the_todos_keep_from_passing(layout):
    result = _product(layout)
    assert [p.name for p in result.files] == ["orders.odcs.yaml", "orders.json", "orders.py"]
    spec = load_contract(result.files[0])
    assert spec.column_names == (
        "created_date", "id", "created_at", "customer_email", "customer_vip", "total_amount",
    )  # fmt: skip
    assert spec.primary_key == ("id",) and spec.partitioning.column == "created_date"
    assert spec.owner == "dana" and spec.support == (("#shop", ""),)
    assert spec.column("customer_email").classification == "restricted"  # undecided reads as restricted
    [source] = spec.sources
    assert (source.conn_id, source.endpoint, source.name) == ("scaffold_shop", "/orders", "orders")
    ctx = PolicyContext(expectations_folder=layout.expectations)
    findings = check_product(spec, ctx)
    assert {f.policy for f in findings} == {"global.decided"}
    assert len(findings) == result.todos == 2 + 2 * len(spec.columns)
    assert "schema[orders].properties[customer_email].classification" in {f.field for f in findings}
    raw = yaml.safe_load(result.files[0].read_text())
    assert "example.com" not in result.files[0].read_text() + result.files[1].read_text()  # no sample values
    raw["description"].update(purpose="Every order of the shop, one row per order.", usage="Reporting.")
    for prop in raw["schema"][0]["properties"]:
        prop.update(description=f"The {prop['name']}.", classification="internal")
    result.files[0].write_text(yaml.safe_dump(raw, sort_keys=False))
    findings = check_product(load_contract(result.files[0]), ctx)
    assert [(f.policy, f.field) for f in findings] == [
        ("global.pii-restricted", "column customer_email")  # the next decision a person must get right
    ]


def test_the_suite_loads_strictly_and_the_transform_is_valid_python(layout):
    result = _product(layout)
    suite = load_suite(result.files[1])
    types = [e.expectation_type for e in suite.expectations]
    assert "expect_column_values_to_be_unique" in types and "expect_column_values_to_match_regex" in types
    code = result.files[2].read_text()
    compile(code, str(result.files[2]), "exec")
    assert max(len(line) for line in code.splitlines()) <= 110
    assert '"total.amount"' in code and '"customer_vip": rows["customer.vip"].astype("boolean")' in code


@pytest.mark.parametrize(
    ("endpoint", "kw", "message"),
    [
        ("/orders", {"conn_id": "no_such_conn"}, "unknown Airflow connection 'no_such_conn'"),
        ("/missing", {}, "HTTP 404"),
        ("/empty", {}, "no records for partition 2026-11-20"),
        ("/text", {}, "malformed JSON"),
        ("/scalars", {}, "not a list of JSON objects"),
        ("/orders", {"pagination": "pages"}, "unknown pagination 'pages'; known: "),
        ("/orders", {"auth": "token"}, "unknown auth 'token'"),
    ],
)
def test_new_product_refusals_write_nothing(layout, endpoint, kw, message):
    before = _files(layout)
    with pytest.raises(ValueError, match=message):
        _product(layout, endpoint, **kw)
    assert _files(layout) == before


def test_new_product_never_overwrites(layout):
    _product(layout)
    before = {p: p.read_text() for p in (layout.domains / "shop").iterdir() if p.is_file()}
    with pytest.raises(ValueError, match="already exists, nothing was overwritten"):
        _product(layout)
    assert {p: p.read_text() for p in before} == before


def test_an_unknown_domain_points_at_new_domain(layout):
    with pytest.raises(ValueError, match="run `data-mesh new-domain books"):
        new_product("books.titles", SourceOptions("scaffold_shop", "/orders"), layout=layout)


def test_a_refused_source_hints_at_auth(server, monkeypatch, layout):
    monkeypatch.setenv("AIRFLOW_CONN_SCAFFOLD_ADS", json.dumps({"conn_type": "http", "host": server.url}))
    options = SourceOptions(
        "scaffold_ads", "/ads/v1/campaign-performance", "page_number", params={"date": "x"}
    )
    with pytest.raises(ValueError, match="HTTP 401.*is --auth right"):
        new_product("shop.ads", options, layout=layout)


def test_params_and_the_default_sample_partition():
    assert parse_params(["date={partition}", "q=a=b"]) == {"date": "{partition}", "q": "a=b"}
    with pytest.raises(ValueError, match="expected key=value"):
        parse_params(["date"])
    from datetime import date

    assert sample_window("day", None, date(2026, 12, 1)).key == "2026-11-30"
    assert sample_window("month", None, date(2026, 12, 1)).key == "2026-11"
