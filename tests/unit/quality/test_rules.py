"""Contract rules: empty columns, rows outside the run's partition, primary keys across the version."""

from __future__ import annotations

from dataclasses import replace

import pyarrow as pa

from data_mesh.contract.partition import parse_partition
from data_mesh.contract.spec import Column
from data_mesh.quality.conform import conform
from data_mesh.quality.rules import check_contract, rule_outcome
from tests.unit.quality.test_conform import SPEC, good_frame, make_spec

DAY = parse_partition("day", "2026-11-22")
ORDERS = replace(SPEC, partitioning=replace(SPEC.partitioning, column="order_date"))


def kinds(table: pa.Table, spec=ORDERS, **kw) -> dict[str, object]:
    return {v.kind: v for v in check_contract(table, spec, **kw).violations}


def test_a_clean_batch_breaks_no_rule():
    assert kinds(conform(good_frame(), ORDERS), window=DAY) == {}


def test_a_restricted_column_that_arrives_empty_fails():
    frame = good_frame().assign(customer_email=None)
    found = kinds(conform(frame, ORDERS))
    assert list(found) == ["not_null"] and found["not_null"].columns == ("customer_email",)
    assert "arrived empty" in rule_outcome(found["not_null"], ORDERS).exception


def test_a_column_the_source_stopped_sending_fails_unless_optional():
    frame = good_frame().assign(gift=None)
    assert "not_null" in kinds(conform(frame, ORDERS))
    optional = make_spec(*[replace(c, optional=True) if c.name == "gift" else c for c in SPEC.columns])
    optional = replace(optional, partitioning=ORDERS.partitioning)
    assert kinds(conform(frame, optional), optional) == {}


def test_rows_outside_the_run_partition_are_counted_with_an_example():
    frame = good_frame(4)
    frame.loc[1:2, "order_date"] = "2026-11-23"
    found = kinds(conform(frame, ORDERS), window=DAY)["partition"]
    assert found.count == 2 and found.samples == ["2026-11-23"]
    message = rule_outcome(found, ORDERS).exception
    assert "2 rows" in message and "2026-11-23" in message and "outside the run's partition" in message


def test_monthly_string_partitions():
    spec = make_spec(Column("month", "string", required=True, primary_key=True), Column("x", "integer"))
    table = pa.table({"month": ["2026-11", "2026-10"], "x": [1, 2]})
    found = kinds(table, spec, window=parse_partition("month", "2026-11"))["partition"]
    assert found.count == 1 and found.samples == ["2026-10"]


def test_primary_key_is_unique_across_the_published_version():
    batch = conform(good_frame(4), ORDERS)
    elsewhere = pa.table({"order_id": ["ord-20261122-000001", "ord-20261121-000009"]})
    found = kinds(batch, published_keys=elsewhere)["primary_key"]
    assert found.distinct == 1 and found.samples == ["ord-20261122-000001"]
    assert kinds(batch, published_keys=pa.table({"order_id": ["other"]})) == {}


def test_every_rule_counts_as_evaluated():
    table = conform(good_frame(), ORDERS)
    without = check_contract(table, ORDERS).evaluated
    assert check_contract(table, ORDERS, window=DAY).evaluated == without + 1


def test_a_composite_key_already_published_elsewhere_is_found():
    spec = make_spec(
        Column("day", "string", required=True, primary_key=True),
        Column("campaign", "string", required=True, primary_key=True),
    )
    batch = pa.table({"day": ["d1", "d1", "d2"], "campaign": ["a", "b", "a"]})
    elsewhere = pa.table({"day": ["d1", "d9"], "campaign": ["b", "a"]})
    found = kinds(batch, spec, published_keys=elsewhere)["primary_key"]
    assert found.count == 1 and found.samples == [["d1", "b"]]
