"""Contract schema as Arrow, `conform` and `check_contract` (no GX here: fast)."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pyarrow as pa
import pytest

from data_mesh.contract.spec import Access, Column, Partitioning, ProductSpec, Sla
from data_mesh.exceptions import ContractViolation, DataMeshError
from data_mesh.quality.conform import conform
from data_mesh.quality.rules import check_contract
from data_mesh.storage.arrow import arrow_schema, schema_hash


def make_spec(*columns: Column, name: str = "customer_orders") -> ProductSpec:
    return ProductSpec(
        domain="sales", name=name, version="1.0.0", status="active", description="test",
        owner="sales", columns=columns, partitioning=Partitioning(columns[0].name, "day"), sla=Sla(),
        access=Access(), expectation_suite=f"sales/{name}.json", contract_path="", contract_id="",
    )


SPEC = make_spec(
    Column("order_id", "string", required=True, unique=True, primary_key=True, description="key"),
    Column("order_date", "date", required=True),
    Column("order_ts", "timestamp", required=True),
    Column("customer_email", "string", classification="restricted"),
    Column("amount", "number", required=True),
    Column("items", "integer", required=True),
    Column("gift", "boolean"),
)


def good_frame(n: int = 4) -> pd.DataFrame:
    return pd.DataFrame({
        "items": list(range(1, n + 1)),  # column order differs from the contract's on purpose
        "order_id": [f"ord-20261122-{i:06d}" for i in range(n)],
        "order_date": [dt.date(2026, 11, 22)] * n,
        "order_ts": pd.Timestamp("2026-11-22 10:00", tz="Europe/Paris"),
        "customer_email": ["a@example.com"] * (n - 1) + [None],
        "amount": [10.5] * n,
        "gift": [True, False] * (n // 2),
    })


def test_arrow_schema_types_nullability_and_metadata():
    schema = arrow_schema(SPEC)
    assert schema.names == list(SPEC.column_names)
    assert schema.field("order_id").type == pa.string() and not schema.field("order_id").nullable
    assert schema.field("order_date").type == pa.date32()
    assert schema.field("order_ts").type == pa.timestamp("us", tz="UTC")
    assert schema.field("amount").type == pa.float64()
    assert schema.field("items").type == pa.int64()
    assert schema.field("gift").type == pa.bool_() and schema.field("gift").nullable
    meta = schema.field("customer_email").metadata
    assert meta[b"classification"] == b"restricted"
    assert schema.field("order_id").metadata[b"description"] == b"key"


def test_schema_hash_is_stable_and_ignores_metadata():
    h = schema_hash(arrow_schema(SPEC))
    assert len(h) == 16 and int(h, 16) >= 0
    assert h == schema_hash(arrow_schema(SPEC).remove_metadata())
    relaxed = make_spec(*[Column(c.name, c.logical_type) for c in SPEC.columns])
    assert schema_hash(arrow_schema(relaxed)) != h  # nullability is part of the hash


def test_conform_orders_and_casts():
    table = conform(good_frame(), SPEC)
    assert table.schema.equals(arrow_schema(SPEC))
    assert table.column_names == list(SPEC.column_names)
    assert table["order_ts"][0].as_py() == dt.datetime(2026, 11, 22, 9, 0, tzinfo=dt.UTC)
    assert table["customer_email"].null_count == 1


def test_conform_casts_text_columns():
    df = good_frame().astype(str)
    df["customer_email"] = ["a@example.com"] * 4
    table = conform(df, SPEC)
    assert table["amount"].to_pylist() == [10.5] * 4
    assert table["items"].to_pylist() == [1, 2, 3, 4]
    assert table["gift"].to_pylist() == [True, False, True, False]
    assert table["order_date"][0].as_py() == dt.date(2026, 11, 22)


def test_conform_reports_every_problem_at_once():
    df = good_frame(8).drop(columns=["order_date"])
    df["surprise"] = 1
    df["amount"] = df["amount"].astype(object)
    df.loc[[1, 2, 5], "amount"] = ["n/a", "12,5", "n/a"]
    df["items"] = [1, 2.5, 3, 4, 5, 6, 7, 8]
    df["customer_email"] = [object()] + ["x@y.z"] * 7  # the value of a PII column must not leak
    with pytest.raises(ContractViolation) as info:
        conform(df, SPEC)
    err = info.value
    assert isinstance(err, DataMeshError) and err.product_id == "sales.customer_orders"
    text = "\n".join(err.problems)
    assert "missing column order_date" in text
    assert "schema drift: unexpected column surprise" in text
    assert "column amount: 3 of 8 values cannot be cast to number" in text and "'n/a'" in text
    assert "'12,5'" in text
    assert "column items: 1 of 8 values cannot be cast to integer" in text and "2.5" in text
    assert len(err.problems) == 4  # the object in a string column casts to its text
    assert "schema drift" in str(err)


def test_conform_uncastable_pii_is_masked_and_dates_need_midnight():
    spec = make_spec(Column("d", "date"), Column("n", "number", classification="restricted"))
    stamps = pd.to_datetime(["2026-01-01", "2026-01-02 13:00"], format="ISO8601")
    df = pd.DataFrame({"d": stamps, "n": ["1", "secret"]})
    with pytest.raises(ContractViolation) as info:
        conform(df, spec)
    problems = info.value.problems
    assert any(p.startswith("column d: 1 of 2") and "2026-01-02T13:00:00" in p for p in problems)
    assert any(p.startswith("column n: 1 of 2") and "'***'" in p and "secret" not in p for p in problems)


def test_conform_handles_a_million_rows():
    import numpy as np

    n = 1_000_000
    df = pd.DataFrame({
        "order_id": pd.array(["ord-20261122-000001"] * n, dtype="str"),
        "order_date": np.full(n, np.datetime64("2026-11-22", "ns")),
        "order_ts": pd.Series(np.arange(n) * 10**9, dtype="datetime64[ns]").dt.tz_localize("UTC"),
        "customer_email": pd.array(["a@b.c"] * n, dtype="str"),
        "amount": np.arange(n, dtype="float64"),
        "items": np.arange(n, dtype="int64"),
        "gift": np.ones(n, dtype=bool),
    })
    table = conform(df, SPEC)  # speed is measured by bench/publish.py, not here
    assert table.num_rows == n

    bad = df.head(100_000).copy()  # text numbers with one bad value take the (vectorised) slow path
    bad["amount"] = pd.array(["1.5"] * (len(bad) - 1) + ["oops"], dtype="str")
    with pytest.raises(ContractViolation, match=r"column amount: 1 of 100000 .*\['oops'\]"):
        conform(bad, SPEC)


def test_check_contract_clean_table():
    assert check_contract(conform(good_frame(), SPEC), SPEC).violations == []


def test_check_contract_required_unique_and_composite_key():
    spec = make_spec(
        Column("date", "date", required=True, primary_key=True),
        Column("campaign_id", "string", required=True, primary_key=True),
        Column("channel", "string", required=True, primary_key=True),
        Column("ref", "string", unique=True),
        Column("cost", "number", required=True),
    )
    day = dt.date(2026, 11, 22)
    table = pa.table({
        "date": pa.array([day] * 6, pa.date32()),
        "campaign_id": ["cmp-0001", "cmp-0001", "cmp-0001", "cmp-0002", "cmp-0002", "cmp-0003"],
        "channel": ["search", "search", "search", "social", "social", "video"],
        "ref": ["a", "a", None, None, "b", "c"],
        "cost": [1.0, None, None, 2.0, 3.0, 4.0],
    })
    found = {v.kind: v for v in check_contract(table, spec).violations}
    assert set(found) == {"required", "unique", "primary_key"}
    assert found["required"].columns == ("cost",) and found["required"].count == 2
    assert found["unique"].count == 2 and found["unique"].samples == ["a"]  # nulls are not duplicates
    pk = found["primary_key"]
    assert pk.columns == ("date", "campaign_id", "channel") and pk.distinct == 2 and pk.count == 5
    assert ["2026-11-22", "cmp-0001", "search"] in pk.samples
    assert "2 primary keys duplicated" in pk.message() and pk.expectation_type == "contract:primary_key"
