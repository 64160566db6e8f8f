"""ODPS v1.1.0 descriptors of every shipped product validate against the official JSON schema.

The schema is vendored byte for byte under tests/vendor/odps/ (see its README). It declares JSON
Schema draft 2019-09, so it is checked with `Draft201909Validator`, with format checking on; the
`uri` format has no checker in this environment (jsonschema needs rfc3987 for it), so one is
registered here: an absolute URI (RFC 3986 scheme, no whitespace), with a host for http(s).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml
from jsonschema import Draft201909Validator, FormatChecker

from data_mesh.contract.registry import get_product, load_mesh
from data_mesh.exceptions import UnknownProductError
from data_mesh.metadata.odps import build_descriptor, render

VENDOR = Path(__file__).resolve().parents[2] / "vendor" / "odps"
SCHEMA_FILE = VENDOR / "schema" / "odps-json-schema-v1.1.0.json"
ORDERS, REVENUE, ADS = "sales.customer_orders", "finance.monthly_revenue", "marketing.ads_performance"


def _is_uri(value: object) -> bool:
    if not isinstance(value, str):
        return True
    if not re.fullmatch(r"[A-Za-z][A-Za-z0-9+.-]*:[^\s<>\"{}|\\^`]+", value):
        return False
    parts = urlsplit(value)
    return parts.scheme not in ("http", "https") or bool(parts.hostname)


def odps_validator() -> Draft201909Validator:
    schema = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
    checker = FormatChecker(formats=Draft201909Validator.FORMAT_CHECKER.checkers)
    checker.checks("uri")(_is_uri)
    return Draft201909Validator(schema, format_checker=checker)


def problems(document: dict) -> list[str]:
    """Every schema error of a descriptor, as `path: message`."""
    errors = odps_validator().iter_errors(document)
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in errors]


def test_the_vendored_schema_is_odps_1_1_0_on_draft_2019_09():
    schema = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
    assert schema["$schema"] == "https://json-schema.org/draft/2019-09/schema"
    Draft201909Validator.check_schema(schema)
    # the file has no $id: its version is the apiVersion it defaults to (and the file name)
    assert schema["properties"]["apiVersion"]["default"] == "v1.1.0"
    assert "v1.1.0" in schema["properties"]["apiVersion"]["enum"]
    assert schema["additionalProperties"] is False and schema["required"] == ["apiVersion", "kind", "id"]
    assert (VENDOR / "LICENSE").read_text().lstrip().startswith("Apache License")
    for fmt in ("uri", "date-time", "date"):  # the formats the schema uses are all checked
        assert fmt in odps_validator().format_checker.checkers


@pytest.mark.parametrize("product_id", sorted(load_mesh().products))
def test_every_shipped_product_validates(product_id):
    document = build_descriptor(get_product(product_id), latest_version=3).to_dict()
    assert problems(document) == []
    assert document["apiVersion"] == "v1.1.0" and document["kind"] == "DataProduct"
    assert problems(yaml.safe_load(render(document, "yaml"))) == []
    assert json.loads(render(document, "json")) == document


def test_the_mesh_ships_products_and_no_invalid_contract():
    mesh = load_mesh()
    assert {ORDERS, REVENUE, ADS} <= set(mesh.products) and not mesh.errors


def _set(document: dict, path: str, value) -> dict:
    """A copy with `value` at the slash-separated path; None deletes the key."""
    copy = json.loads(json.dumps(document))
    *parents, last = path.split("/")
    target = copy
    for key in parents:
        target = target[int(key)] if isinstance(target, list) else target[key]
    if value is None:
        del target[last]
    else:
        target[last] = value
    return copy


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        ("id", None, "'id' is a required property"),
        ("kind", None, "'kind' is a required property"),
        ("apiVersion", "v2.0.0", "'v2.0.0' is not one of"),
        ("owner", "alice.sales", "Additional properties are not allowed ('owner' was unexpected)"),
        ("outputPorts/0/table", "customer_orders", "('table' was unexpected)"),
        ("managementPorts/0/content", None, "'content' is a required property"),
        ("managementPorts/0/url", "not a url", "'not a url' is not a 'uri'"),
        ("support/0/url", "https://", "'https://' is not a 'uri'"),
        ("productCreatedTs", "yesterday", "'yesterday' is not a 'date-time'"),
        ("outputPorts/0/inputContracts", [{"id": "x"}], "'version' is a required property"),
        ("tags", "orders", "'orders' is not of type 'array'"),
    ],
)
def test_a_broken_descriptor_fails_validation(path, value, message):
    """The validator is live: each break of the standard (required, enum, unknown field, format) is caught."""
    document = build_descriptor(get_product(REVENUE)).to_dict()
    assert problems(document) == []
    found = problems(_set(document, path, value))
    assert any(message in p for p in found), found


def test_ports_of_a_source_aligned_product():
    spec = get_product(ORDERS)
    document = build_descriptor(spec, base_url="https://mesh.example.com").to_dict()
    assert document["id"] == ORDERS and document["type"] == "sourceAligned"
    assert document["domain"] == "sales" and document["version"] == spec.version
    assert document["team"]["name"] == "sales-data"
    assert {"username": "alice.sales", "role": "owner"} in document["team"]["members"]
    assert document["support"] == [
        {"channel": "#sales-data", "url": "https://chat.example.com/channels/sales-data"}
    ]
    assert document["description"]["usage"].startswith("Revenue reporting")
    inputs = {
        p["name"]: {c["property"]: c["value"] for c in p["customProperties"]} for p in document["inputPorts"]
    }
    assert set(inputs) == {"orders", "customers"}
    assert (
        inputs["orders"]["connectionId"] == "sales_crm_api"
        and inputs["orders"]["endpoint"] == "/crm/v1/orders"
    )
    assert inputs["customers"]["endpoint"] == "/crm/v1/customers" and inputs["orders"]["type"] == "http"
    outputs = {p["name"]: p for p in document["outputPorts"]}
    assert set(outputs) == {"iceberg-table", "sql", "download"}
    for port in outputs.values():
        assert (
            port["contractId"] == "urn:datacontract:sales:customer_orders" and port["version"] == spec.version
        )
    table = {c["property"]: c["value"] for c in outputs["iceberg-table"]["customProperties"]}
    assert (table["catalog"], table["namespace"], table["table"]) == ("mesh", "sales", "customer_orders")
    sql = {c["property"]: c["value"] for c in outputs["sql"]["customProperties"]}
    assert sql == {
        **sql,
        "url": "https://mesh.example.com/data-mesh/api/sql",
        "method": "POST",
        "tableName": ORDERS,
    }
    download = {c["property"]: c["value"] for c in outputs["download"]["customProperties"]}
    assert download["url"] == f"https://mesh.example.com/data-mesh/api/products/{ORDERS}/download"
    management = {p["name"]: p for p in document["managementPorts"]}
    assert management["catalog-page"]["url"] == f"https://mesh.example.com/data-mesh/ui/products/{ORDERS}"
    assert management["catalog-page"]["content"] == "discoverability"
    assert (
        management["lineage"]["content"] == "observability" and management["access"]["content"] == "control"
    )
    assert all(p["url"].startswith("https://mesh.example.com/data-mesh/") for p in management.values())


def test_ports_of_an_aggregate_name_the_upstream_products_and_their_contracts():
    document = build_descriptor(get_product(REVENUE), latest_version=7).to_dict()
    assert document["type"] == "aggregate"
    ports = {p["name"]: p for p in document["inputPorts"]}
    assert list(ports) == [ORDERS, ADS, "ledger", "population"]
    for upstream in (ORDERS, ADS):
        spec = get_product(upstream)
        assert (ports[upstream]["contractId"], ports[upstream]["version"]) == (spec.contract_id, spec.version)
    sources = {
        n: {c["property"]: c["value"] for c in ports[n]["customProperties"]} for n in ("ledger", "population")
    }
    assert (
        sources["ledger"]["connectionId"] == "finance_erp"
        and sources["population"]["connectionId"] == "world_bank_api"
    )
    table = next(p for p in document["outputPorts"] if p["name"] == "iceberg-table")
    assert table["inputContracts"] == [
        {"id": "urn:datacontract:sales:customer_orders", "version": "1.0.0"},
        {"id": "urn:datacontract:marketing:ads_performance", "version": "1.0.0"},
    ]
    assert {"property": "latestVersion", "value": 7} in table["customProperties"]


def test_an_upstream_that_cannot_be_loaded_is_named_not_fatal():
    def lookup(product_id: str):
        raise UnknownProductError(product_id)

    document = build_descriptor(get_product(REVENUE), lookup=lookup).to_dict()
    assert problems(document) == []
    port = document["inputPorts"][0]
    assert port["name"] == ORDERS and "contractId" not in port
    assert any(c["property"] == "unresolved" and ORDERS in c["value"] for c in port["customProperties"])
    table = next(p for p in document["outputPorts"] if p["name"] == "iceberg-table")
    assert "inputContracts" not in table


def test_the_base_url_comes_from_the_configuration(monkeypatch):
    monkeypatch.setenv("DATA_MESH_PUBLIC_URL", "https://data.example.org/")
    document = build_descriptor(get_product(ADS)).to_dict()
    urls = [p["url"] for p in document["managementPorts"]]
    assert urls and all(u.startswith("https://data.example.org/data-mesh/") for u in urls)
    for bad in ("data.example.org", "ftp://data.example.org", "https://user:pw@data.example.org"):
        monkeypatch.setenv("DATA_MESH_PUBLIC_URL", bad)
        with pytest.raises(ValueError, match="DATA_MESH_PUBLIC_URL"):
            build_descriptor(get_product(ADS))


def test_render_refuses_an_unknown_format():
    with pytest.raises(ValueError, match="unknown descriptor format 'xml'"):
        render({"id": "x"}, "xml")


# Known secrets: a source's Connection (password, token in the extras) and the catalog's database.
SECRETS = {"password": "pw-Zq81-sales-crm", "token": "tok-4Jx0-crm-extra", "catalog": "cat-Pw77-db"}


@pytest.fixture
def secret_connections(monkeypatch):
    """sales_crm_api and finance_erp with known secrets; the catalog URL with a password; S3 keys."""
    for conn_id in ("SALES_CRM_API", "FINANCE_ERP"):
        conn = {
            "conn_type": "http",
            "host": "https://crm.example.com",
            "login": "svc",
            "password": SECRETS["password"],
            "extra": {"token": SECRETS["token"]},
        }
        monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id}", json.dumps(conn))
    monkeypatch.setenv("DATA_MESH_CATALOG_URL", f"postgresql://mesh:{SECRETS['catalog']}@db:5432/mesh")
    monkeypatch.setenv("DATA_MESH_S3_SECRET_ACCESS_KEY", SECRETS["token"] + "-s3")
    return SECRETS


@pytest.mark.parametrize("product_id", [ORDERS, REVENUE])
def test_no_secret_reaches_the_descriptor(secret_connections, product_id):
    document = build_descriptor(get_product(product_id)).to_dict()
    for text in (render(document, "json"), render(document, "yaml")):
        for secret in secret_connections.values():
            assert secret not in text
        assert "crm.example.com" not in text  # not even the Connection's host: it is never opened
    table = next(p for p in document["outputPorts"] if p["name"] == "iceberg-table")
    uri = next(c["value"] for c in table["customProperties"] if c["property"] == "catalogUri")
    assert uri == "postgresql://mesh:***@db:5432/mesh"
