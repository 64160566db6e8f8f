"""OpenLineage events of publications and reads validate against the official JSON schemas."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator, ValidationError
from referencing import Registry, Resource

from data_mesh.contract.registry import get_product
from data_mesh.metadata import openlineage as ol
from data_mesh.metadata.store import AccessEvent, PublicationRecord

# The official schemas, vendored from github.com/OpenLineage/OpenLineage spec/ (see its README.md).
SPEC_DIR = Path(__file__).resolve().parents[2] / "vendor" / "openlineage" / "spec"


@pytest.fixture(scope="module")
def schemas():
    """(core schema, registry of every vendored schema by its $id)."""
    core = json.loads((SPEC_DIR / "OpenLineage.json").read_text())
    facets = [json.loads(p.read_text()) for p in sorted((SPEC_DIR / "facets").glob("*.json"))]
    assert facets, f"no facet schemas in {SPEC_DIR}"
    registry = Registry().with_resources(
        (doc["$id"], Resource.from_contents(doc)) for doc in [core, *facets]
    )
    return core, registry


def validate_event(event: dict, schemas) -> None:
    """The event against the core schema, then every facet against its own schema (by _schemaURL)."""
    core, registry = schemas
    assert event["schemaURL"] == core["$id"] + "#/$defs/RunEvent"
    Draft202012Validator(core, registry=registry).validate(event)
    facet_dicts = [event["run"].get("facets", {}), event["job"].get("facets", {})]
    for dataset in event.get("inputs", []) + event.get("outputs", []):
        facet_dicts += [dataset.get(k, {}) for k in ("facets", "inputFacets", "outputFacets")]
    checked = 0
    for facets in facet_dicts:
        for key, value in facets.items():
            url = value["_schemaURL"]
            assert url.split("#")[0] in registry, f"facet {key!r}: no vendored schema for {url}"
            Draft202012Validator({"$ref": url}, registry=registry).validate(value)
            checked += 1
    assert checked


def publication(product_id: str, **extra) -> PublicationRecord:
    values = dict(
        product_id=product_id,
        version=3,
        partition="2026-11-20",
        rows=1234,
        bytes=56789,
        files=1,
        schema=[{"name": "order_id", "type": "string", "nullable": False}],
        schema_hash="abc",
        duration_s=1.5,
        dag_id=get_product(product_id).dag_id,
        run_id="manual__2026-11-20T00:00:00+00:00",
        task_id="publish",
        published_at=datetime(2026, 11, 20, 6, 0, tzinfo=UTC),
        validation_success=True,
        validation_summary={
            "success": True,
            "results": [
                {"expectation_type": "expect_column_values_to_not_be_null", "column": "order_id",
                 "success": True, "severity": "critical", "unexpected_count": 0},
                {"expectation_type": "expect_table_row_count_to_be_between", "column": None,
                 "success": True, "severity": "warning", "observed_value": 1234},
            ],
        },
    )
    values.update(extra)
    return PublicationRecord(**values)


def test_publication_event_is_valid_and_complete(schemas):
    spec = get_product("finance.monthly_revenue")
    record = publication(spec.id, inputs=(("sales.customer_orders", 7), ("marketing.ads_performance", 2)))
    event = ol.to_dict(ol.build_publication_event(spec, record))
    validate_event(event, schemas)
    assert event["eventType"] == "COMPLETE"
    assert event["job"]["namespace"] == "data-mesh"
    assert event["job"]["name"] == "finance__monthly_revenue.publish"
    output = event["outputs"][0]
    assert output["name"].endswith("/finance/monthly_revenue")
    assert output["facets"]["version"]["datasetVersion"] == "3"
    assert output["outputFacets"]["outputStatistics"] == {**output["outputFacets"]["outputStatistics"],
                                                           "rowCount": 1234, "size": 56789}
    assert output["facets"]["ownership"]["owners"][0]["name"] == f"user:{spec.owner}"
    assert len(output["facets"]["dataQualityAssertions"]["assertions"]) == 2
    assert {f["name"] for f in output["facets"]["schema"]["fields"]} == set(spec.column_names)
    inputs = {i["name"].rsplit("/", 2)[-2] + "." + i["name"].rsplit("/", 1)[-1]: i for i in event["inputs"]
              if i["namespace"] == "file"}
    assert inputs["sales.customer_orders"]["facets"]["version"]["datasetVersion"] == "7"
    assert any(i["namespace"].startswith("conn://") for i in event["inputs"])  # the World Bank source
    parent = event["run"]["facets"]["parent"]
    assert parent["job"]["name"] == "finance__monthly_revenue"
    # the same publication always gives the same event (API, CLI and file agree)
    assert ol.to_dict(ol.build_publication_event(spec, record)) == event


@pytest.mark.parametrize(
    "corrupt",
    [
        lambda e: e.pop("eventTime"),  # core: required property
        lambda e: e["outputs"][0]["facets"]["version"].update(datasetVersion=3),  # facet: type
        lambda e: e["outputs"][0]["facets"]["ownership"].update(owners=[{"type": "user"}]),  # required
        lambda e: e["run"]["facets"]["parent"]["job"].pop("name"),  # run facet: required
        lambda e: e["job"]["facets"]["jobType"].pop("_producer"),  # base facet: required
    ],
    ids=["core", "facet-type", "facet-required", "run-facet", "base-facet"],
)
def test_invalid_events_are_rejected(schemas, corrupt):
    """The validation is live: a broken event, or a broken facet, fails it."""
    spec = get_product("finance.monthly_revenue")
    event = ol.to_dict(ol.build_publication_event(spec, publication(spec.id)))
    validate_event(json.loads(json.dumps(event)), schemas)
    corrupt(event)
    with pytest.raises(ValidationError):
        validate_event(event, schemas)


def test_read_event_is_valid(schemas):
    read = AccessEvent(
        principal="domain:finance/dag:finance__monthly_revenue/task:transform",
        principal_kind="task",
        product_id="sales.customer_orders",
        path="task",
        allowed=True,
        version=7,
        columns=("order_id", "amount", "region"),
        rows=100,
        id=42,
    )
    event = ol.to_dict(ol.build_read_event(read))
    validate_event(event, schemas)
    assert event["job"]["name"] == "finance__monthly_revenue.transform"
    (dataset,) = event["inputs"]
    assert dataset["facets"]["version"]["datasetVersion"] == "7"
    assert [f["name"] for f in dataset["facets"]["schema"]["fields"]] == ["order_id", "region", "amount"]
    assert event["outputs"] == []


def test_file_transport_appends_json_lines(tmp_path, monkeypatch, schemas):
    target = tmp_path / "ol" / "events.jsonl"
    monkeypatch.setenv("DATA_MESH_OPENLINEAGE_TRANSPORT", "file")
    monkeypatch.setenv("DATA_MESH_OPENLINEAGE_FILE", str(target))
    spec = get_product("sales.customer_orders")
    assert ol.emit_publication(spec, publication(spec.id)) is not None
    read = AccessEvent(principal="domain:finance/dag:finance__monthly_revenue/task:transform",
                       principal_kind="task", product_id=spec.id, path="task", allowed=True, version=3)
    assert ol.emit_read(read) is not None
    # people's reads and refusals are not lineage
    assert ol.emit_read(AccessEvent(principal="admin", principal_kind="user", product_id=spec.id,
                                    path="api", allowed=True)) is None
    lines = target.read_text().splitlines()
    assert len(lines) == 2
    for line in lines:
        validate_event(json.loads(line), schemas)


def test_emission_failures_never_raise(monkeypatch, tmp_path):
    spec = get_product("sales.customer_orders")
    monkeypatch.setenv("DATA_MESH_OPENLINEAGE_TRANSPORT", "http")
    monkeypatch.setenv("DATA_MESH_OPENLINEAGE_URL", "http://127.0.0.1:9")  # nothing listens there
    assert ol.emit_publication(spec, publication(spec.id)) is None
    monkeypatch.setenv("DATA_MESH_OPENLINEAGE_TRANSPORT", "bogus")
    assert ol.emit_publication(spec, publication(spec.id)) is None
    monkeypatch.setenv("DATA_MESH_OPENLINEAGE_TRANSPORT", "none")
    assert ol.emit_publication(spec, publication(spec.id)) is None
