"""The GX suite in row slices gives the verdicts, counts and percentages GX gives on the whole table."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pytest

from data_mesh.quality.batches import is_row_local, merge_map_results, slices
from data_mesh.quality.expectations import load_suite, run_suite

ROWS = 1_000


def _suite(tmp_path: Path, expectations: list[dict]) -> Path:
    path = tmp_path / "suite.json"
    path.write_text(json.dumps({"name": "batches", "expectations": expectations}))
    return path


def _table() -> pa.Table:
    """Failures spread unevenly over the slices, nulls, and one duplicate key across a slice edge."""
    ids = [f"k{i}" for i in range(ROWS)]
    ids[150] = ids[20]  # a duplicate whose two rows fall in different 100-row slices
    return pa.table(
        {
            "id": ids,
            "code": [None if i % 50 == 0 else ("bad" if i < 100 and i % 2 else "ok") for i in range(ROWS)],
            "amount": [float(i % 7) - (5.0 if 300 <= i < 310 else 0.0) for i in range(ROWS)],
            "low": [i % 3 for i in range(ROWS)],
            "high": [i % 3 + (0 if i in (5, 905) else 1) for i in range(ROWS)],
        }
    )


EXPECTATIONS = [
    {"type": "expect_table_row_count_to_be_between", "kwargs": {"min_value": 1, "max_value": ROWS}},
    {"type": "expect_column_values_to_be_unique", "kwargs": {"column": "id"}},
    {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "code", "mostly": 0.95}},
    {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "code"}},
    # 50 of the first 100 rows fail: that slice alone is far below `mostly`, the whole is above it
    {
        "type": "expect_column_values_to_be_in_set",
        "kwargs": {"column": "code", "value_set": ["ok"], "mostly": 0.9},
    },
    {"type": "expect_column_values_to_match_regex", "kwargs": {"column": "code", "regex": "^ok$"}},
    {"type": "expect_column_values_to_be_between", "kwargs": {"column": "amount", "min_value": 0}},
    {
        "type": "expect_column_pair_values_a_to_be_greater_than_b",
        "kwargs": {"column_A": "high", "column_B": "low"},
    },
    {
        "type": "expect_column_mean_to_be_between",
        "kwargs": {"column": "amount", "min_value": 0, "max_value": 10},
    },
]


def _verdicts(outcomes: list) -> list[tuple]:
    return [
        (o.expectation_type, o.column, o.success, o.unexpected_count, o.unexpected_percent, o.exception)
        for o in outcomes
    ]


def test_sliced_results_are_the_whole_tables(tmp_path: Path) -> None:
    suite = load_suite(_suite(tmp_path, EXPECTATIONS))
    table = _table()
    whole = run_suite(table, suite, set(), batch_rows=ROWS)  # one GX validation, as GX would
    sliced = run_suite(table, suite, set(), batch_rows=100)  # ten slices, merged
    assert _verdicts(sliced) == _verdicts(whole)
    by_type = {(o.expectation_type, o.kwargs.get("mostly")): o for o in sliced}
    # the duplicate across a slice edge is found: uniqueness always sees the whole column
    assert not by_type[("expect_column_values_to_be_unique", None)].success
    assert by_type[("expect_column_values_to_be_unique", None)].unexpected_count == 2
    # `mostly` is decided on the totals: 50 of 980 non-null values fail (5.1%), under 10%
    assert by_type[("expect_column_values_to_be_in_set", 0.9)].success
    assert by_type[("expect_column_values_to_be_in_set", 0.9)].unexpected_count == 50
    assert by_type[("expect_column_values_to_not_be_null", 0.95)].success  # 20 nulls of 1000
    assert not by_type[("expect_column_values_to_not_be_null", None)].success
    amount = by_type[("expect_column_values_to_be_between", None)]
    negative = sum(1 for i in range(300, 310) if i % 7 < 5)
    assert (amount.success, amount.unexpected_count) == (False, negative)
    pair = by_type[("expect_column_pair_values_a_to_be_greater_than_b", None)]
    assert (pair.success, pair.unexpected_count) == (False, 2)  # one in the first slice, one in the last


def test_samples_of_a_sliced_failure_are_its_most_frequent_values(tmp_path: Path) -> None:
    suite = load_suite(_suite(tmp_path, EXPECTATIONS))
    sliced = run_suite(_table(), suite, set(), batch_rows=100)
    regex = next(o for o in sliced if o.expectation_type == "expect_column_values_to_match_regex")
    assert regex.sample_values == ["bad"]
    assert not regex.success and regex.unexpected_count == 50


def test_a_missing_column_is_an_exception_in_slices_as_on_the_whole(tmp_path: Path) -> None:
    expectations = [{"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "gone"}}]
    suite = load_suite(_suite(tmp_path, expectations))
    table = _table()
    sliced = run_suite(table, suite, set(), batch_rows=100)
    whole = run_suite(table, suite, set(), batch_rows=ROWS)
    assert not sliced[0].success and sliced[0].exception
    assert "gone" in sliced[0].exception
    assert _verdicts(sliced) == _verdicts(whole)


@pytest.mark.parametrize(
    ("expectation_type", "kwargs", "local"),
    [
        ("expect_column_values_to_match_regex", {"column": "a", "regex": "x"}, True),
        ("expect_column_values_to_be_unique", {"column": "a"}, False),  # reads every row
        ("expect_compound_columns_to_be_unique", {"column_list": ["a", "b"]}, False),
        ("expect_column_values_to_be_increasing", {"column": "a"}, False),
        ("expect_column_value_z_scores_to_be_less_than", {"column": "a", "threshold": 3}, False),
        ("expect_column_mean_to_be_between", {"column": "a"}, False),
        ("expect_column_values_to_be_in_set", {"column": "a", "row_condition": "b>1"}, False),
        ("my_custom_expectation", {"column": "a"}, False),  # unknown: whole, to be safe
    ],
)
def test_only_row_local_expectations_are_sliced(expectation_type: str, kwargs: dict, local: bool) -> None:
    assert is_row_local(expectation_type, kwargs) is local


def test_merge_keeps_a_slices_exception_and_sums_counts() -> None:
    ok = {"success": True, "result": {"element_count": 10, "unexpected_count": 0, "missing_count": 2}}
    bad = {"success": False, "result": {"element_count": 10, "unexpected_count": 4, "missing_count": 0}}
    merged = merge_map_results({}, [ok, bad])
    assert merged["success"] is False
    assert merged["result"]["unexpected_count"] == 4
    assert merged["result"]["unexpected_percent"] == pytest.approx(100 * 4 / 18)
    raised = {"success": False, "exception_info": {"raised_exception": True, "exception_message": "boom"}}
    assert merge_map_results({}, [ok, raised]) is raised
    assert slices(250, 100) == [(0, 100), (100, 200), (200, 250)]
