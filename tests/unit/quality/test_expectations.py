"""GX validation of the three products' data (real GX, one ephemeral context for the session)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pandas as pd
import pytest

from data_mesh.contract.spec import Access, Column, Partitioning, ProductSpec, Sla
from data_mesh.exceptions import ContractViolation, ValidationFailed
from data_mesh.quality.conform import conform
from data_mesh.quality.evaluate import evaluate as validate_table
from data_mesh.quality.report import ExpectationOutcome, ValidationReport

EXPECTATIONS = Path(__file__).resolve().parents[3] / "expectations"
REGIONS = ["NA", "EMEA", "APAC", "LATAM"]


def make_spec(product_id: str, columns: tuple[Column, ...], partition: str) -> ProductSpec:
    domain, name = product_id.split(".")
    return ProductSpec(
        domain=domain, name=name, version="1.0.0", status="active", description="test", owner=domain,
        columns=columns, partitioning=Partitioning(partition, "day"), sla=Sla(), access=Access(),
        expectation_suite=f"{product_id.replace('.', '/')}.json", contract_path="", contract_id="",
    )


C = Column
ADS = make_spec("marketing.ads_performance", (
    C("date", "date", required=True, primary_key=True),
    C("campaign_id", "string", required=True, primary_key=True),
    C("campaign_name", "string"),
    C("channel", "string", required=True, primary_key=True),
    C("region", "string", required=True),
    C("impressions", "integer", required=True),
    C("clicks", "integer", required=True),
    C("cost", "number", required=True),
), "date")
ORDERS = make_spec("sales.customer_orders", (
    C("order_id", "string", required=True, unique=True, primary_key=True),
    C("order_date", "date", required=True),
    C("order_ts", "timestamp", required=True),
    C("customer_id", "string", required=True),
    C("customer_email", "string", classification="restricted"),
    C("customer_country", "string"),
    C("region", "string"),
    C("status", "string"),
    C("amount", "number", required=True),
    C("currency", "string", required=True),
    C("items", "integer", required=True),
), "order_date")
REVENUE = make_spec("finance.monthly_revenue", (
    C("month", "string", required=True, primary_key=True),
    C("region", "string", required=True, primary_key=True),
    C("booked_revenue", "number"),
    C("order_revenue", "number"),
    C("orders", "integer"),
    C("marketing_spend", "number"),
    C("roas", "number"),
    C("population", "integer"),
    C("revenue_per_million_people", "number"),
), "month")


def ads_frame(n: int = 40) -> pd.DataFrame:
    return pd.DataFrame({
        "date": [dt.date(2026, 11, 22)] * n,
        "campaign_id": [f"cmp-{1000 + i // 5}" for i in range(n)],
        "campaign_name": [f"Campaign {i // 5}" for i in range(n)],
        "channel": [["search", "social", "display", "video", "email"][i % 5] for i in range(n)],
        "region": [REGIONS[i % 4] for i in range(n)],
        "impressions": [1000 + i for i in range(n)],
        "clicks": [10 + i for i in range(n)],
        "cost": [12.5 + i for i in range(n)],
    })


def orders_frame(n: int = 2000) -> pd.DataFrame:
    return pd.DataFrame({
        "order_id": [f"ord-20261122-{i:06d}" for i in range(n)],
        "order_date": [dt.date(2026, 11, 22)] * n,
        "order_ts": pd.Timestamp("2026-11-22T08:00:00Z") + pd.to_timedelta(range(n), unit="s"),
        "customer_id": [f"cus-{100000 + i % 300}" for i in range(n)],
        "customer_email": [f"user{i % 300}@example.com" for i in range(n)],
        "customer_country": [["USA", "FRA", "JPN", "BRA"][i % 4] for i in range(n)],
        "region": [REGIONS[i % 4] for i in range(n)],
        "status": [["placed", "shipped", "delivered", "cancelled", "returned"][i % 5] for i in range(n)],
        "amount": [round(5 + (i % 97) * 3.1, 2) for i in range(n)],
        "currency": ["USD"] * n,
        "items": [1 + i % 4 for i in range(n)],
    })


def revenue_frame() -> pd.DataFrame:
    months = ["2026-09", "2026-10", "2026-11"]
    rows = [(m, r) for m in months for r in REGIONS]
    return pd.DataFrame({
        "month": [m for m, _ in rows],
        "region": [r for _, r in rows],
        "booked_revenue": [1000.0] * 12,
        "order_revenue": [900.0] * 12,
        "orders": [12] * 12,
        "marketing_spend": [100.0] * 12,
        "roas": [9.0] * 11 + [None],
        "population": [330_000_000] * 11 + [None],
        "revenue_per_million_people": [0.001] * 11 + [None],
    })


def run(df: pd.DataFrame, spec: ProductSpec) -> ValidationReport:
    return validate_table(conform(df, spec), spec, EXPECTATIONS / spec.expectation_suite)


def failed(report: ValidationReport, etype: str, column: str | None) -> ExpectationOutcome:
    matches = [o for o in report.failures if o.expectation_type == etype and o.column == column]
    assert matches, f"no failed {etype}({column}) in:\n{report.summary_text()}"
    return matches[0]


@pytest.mark.parametrize(
    ("spec", "frame"),
    [(ADS, ads_frame), (ORDERS, orders_frame), (REVENUE, revenue_frame)],
    ids=["ads", "orders", "revenue"],
)
def test_good_data_passes(spec, frame):
    report = run(frame(), spec)
    assert report.success and report.failed == 0, report.summary_text()
    assert report.evaluated == report.successful > 10
    assert report.product_id == spec.id and "PASSED" in report.summary_text()


def test_null_in_key_fails_with_contract_and_gx_outcomes():
    df = ads_frame()
    df.loc[[3, 7], "campaign_id"] = None
    report = run(df, ADS)
    assert not report.success
    gx = failed(report, "expect_column_values_to_not_be_null", "campaign_id")
    assert gx.unexpected_count == 2 and gx.unexpected_percent == 5.0 and gx.sample_values == [None]
    contract = failed(report, "contract:required", "campaign_id")
    assert contract.unexpected_count == 2
    text = report.summary_text()
    assert "FAILED expect_column_values_to_not_be_null(column=campaign_id): 2 rows (5%), e.g. [None]" in text


def test_values_out_of_range_and_not_in_set():
    df = orders_frame()
    df.loc[[5, 9, 11], "amount"] = [-1.0, -2.5, 2_000_000.0]
    df.loc[4, "region"] = "MARS"
    report = run(df, ORDERS)
    assert not report.success
    between = failed(report, "expect_column_values_to_be_between", "amount")
    assert between.unexpected_count == 3 and sorted(between.sample_values) == [-2.5, -1.0, 2_000_000.0]
    assert between.kwargs == {"column": "amount", "min_value": 0.0, "max_value": 1_000_000.0}
    assert failed(report, "expect_column_values_to_be_in_set", "region").sample_values == ["MARS"]


def test_samples_of_a_failure_are_its_most_frequent_distinct_values():
    """The suite runs at GX's BASIC format first; a failed expectation is re-run at SUMMARY, so the
    report names each unexpected value once, the most frequent first, and the other outcomes stay."""
    df = orders_frame()
    df.loc[[i for i in range(25) if i != 2], "region"] = "MARS"
    df.loc[2, "region"] = "VENUS"  # among the first five unexpected values, which GX counts
    report = run(df, ORDERS)
    region = failed(report, "expect_column_values_to_be_in_set", "region")
    assert region.unexpected_count == 25 and region.sample_values == ["MARS", "VENUS"]
    gx = [o for o in report.results if not o.expectation_type.startswith("contract:")]
    assert all(o.success for o in gx if o.column != "region")
    suite = json.loads((EXPECTATIONS / ORDERS.expectation_suite).read_text())
    assert [o.expectation_type for o in gx] == [e["type"] for e in suite["expectations"]]


def test_clicks_above_impressions_fail_the_pair_expectation():
    df = ads_frame()
    df.loc[0, "clicks"] = 5000
    outcome = failed(run(df, ADS), "expect_column_pair_values_a_to_be_greater_than_b", "impressions,clicks")
    assert outcome.unexpected_count == 1 and outcome.sample_values == [[1000, 5000]]


def test_removed_column_fails_with_an_exception_not_a_crash():
    table = conform(orders_frame(), ORDERS).drop_columns(["status"])
    report = validate_table(table, ORDERS, EXPECTATIONS / ORDERS.expectation_suite)
    assert not report.success
    failed(report, "expect_table_columns_to_match_set", None)
    in_set = failed(report, "expect_column_values_to_be_in_set", "status")
    assert in_set.exception and "status" in in_set.exception
    assert "error:" in report.summary_text()


def test_duplicate_keys_fail():
    df = ads_frame()
    df.loc[1, ["campaign_id", "channel"]] = df.loc[0, ["campaign_id", "channel"]].to_numpy()
    report = run(df, ADS)
    # the suite expects the key unique, so the contract's own key check is not run a second time
    gx = failed(report, "expect_compound_columns_to_be_unique", "date,campaign_id,channel")
    assert gx.unexpected_count == 2
    assert not [r for r in report.results if r.expectation_type == "contract:primary_key"]

    orders = orders_frame()
    orders.loc[1, "order_id"] = orders.loc[0, "order_id"]
    report = run(orders, ORDERS)
    assert failed(report, "expect_column_values_to_be_unique", "order_id").sample_values == [
        "ord-20261122-000000"
    ]
    assert not report.success


def test_uncastable_value_is_a_contract_violation():
    df = orders_frame()
    df["items"] = df["items"].astype(object)
    df.loc[[2, 3], "items"] = ["two", "3.5"]
    with pytest.raises(ContractViolation) as info:
        run(df, ORDERS)
    assert info.value.problems == [
        "column items: 2 of 2000 values cannot be cast to integer (int64), e.g. ['two', '3.5']"
    ]


def test_warning_severity_does_not_fail_and_pii_is_masked():
    df = orders_frame()
    df.loc[[1, 2], "customer_email"] = ["not-an-email", "jane.doe at example.com"]
    report = run(df, ORDERS)
    assert report.success, report.summary_text()
    outcome = failed(report, "expect_column_values_to_match_regex", "customer_email")
    assert outcome.severity == "warning" and outcome.unexpected_count == 2
    assert outcome.sample_values == ["***", "***"]
    text = report.summary_text()
    assert "WARNING expect_column_values_to_match_regex(column=customer_email): 2 rows" in text
    assert "not-an-email" not in text and "jane.doe" not in json.dumps(report.to_dict())


def test_report_round_trips_through_json_and_raises_readably():
    df = orders_frame()
    df.loc[0, "customer_id"] = "cus-1"
    df.loc[1, "amount"] = None
    report = run(df, ORDERS)
    payload = json.dumps(report.to_dict(), allow_nan=False)
    again = ValidationReport.from_dict(json.loads(payload))
    assert again == report
    assert len(payload) < 20_000
    err = ValidationFailed(report)
    assert str(err) == report.summary_text()
    lines = str(err).splitlines()
    assert lines[0].startswith("Validation of sales.customer_orders FAILED")
    assert any("expect_column_values_to_match_regex(column=customer_id): 1 row (" in li for li in lines)
    assert any("contract:required(column=amount)" in li for li in lines)


def test_a_validated_batch_is_not_kept_alive_after_the_report():
    """GX's cached execution engine would hold the last frame validated (0.71x the table's Arrow size
    on 1M orders) through the Parquet write that follows: it is released once the report is made."""
    import gc

    import pyarrow as pa

    table = conform(orders_frame(20_000), ORDERS)
    small = conform(orders_frame(100), ORDERS)
    validate_table(small, ORDERS, EXPECTATIONS / ORDERS.expectation_suite)  # GX imported, context built
    gc.collect()
    before = pa.total_allocated_bytes()
    report = validate_table(table, ORDERS, EXPECTATIONS / ORDERS.expectation_suite)
    gc.collect()
    assert report.success
    assert pa.total_allocated_bytes() - before < table.nbytes * 0.05
