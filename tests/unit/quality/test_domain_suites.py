"""Every suite in expectations/ loads strictly (a typo'd expectation type is not silently dropped)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from data_mesh.exceptions import SuiteError
from data_mesh.quality.expectations import load_suite

SUITES = sorted((Path(__file__).resolve().parents[3] / "expectations").glob("*/*.json"))


def test_the_folder_has_the_products_suites():
    names = {f"{p.parent.name}.{p.stem}" for p in SUITES}
    assert {"marketing.ads_performance", "sales.customer_orders", "finance.monthly_revenue"} <= names


@pytest.mark.parametrize("path", SUITES, ids=[f"{p.parent.name}.{p.stem}" for p in SUITES])
def test_suite_loads_strictly(path: Path):
    raw = json.loads(path.read_text())
    suite = load_suite(path)
    assert suite.name == f"{path.parent.name}.{path.stem}" == raw["name"]
    assert len(suite.expectations) == len(raw["expectations"]) > 0
    for entry in raw["expectations"]:
        assert set(entry) <= {"type", "kwargs", "meta", "severity", "notes"}
        assert entry["severity"] in ("critical", "warning", "info")
        if "regex" in entry["kwargs"]:  # the pandas regex is a search: anchor it
            assert entry["kwargs"]["regex"].startswith("^") and entry["kwargs"]["regex"].endswith("$")


def _write(tmp_path: Path, suite: dict) -> Path:
    path = tmp_path / "broken.json"
    path.write_text(json.dumps(suite))
    return path


GOOD = {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "a"}, "meta": {}}


def test_typo_in_expectation_type_names_file_and_index(tmp_path):
    typo = {"type": "expect_column_values_to_not_be_nul", "kwargs": {"column": "a"}}
    path = _write(tmp_path, {"name": "broken", "expectations": [GOOD, typo]})
    with pytest.raises(SuiteError) as info:
        load_suite(path)
    assert info.value.index == 1 and info.value.path == str(path)
    assert "broken.json: expectation #1" in str(info.value)
    assert "expect_column_values_to_not_be_nul" in str(info.value)


def test_0x_keys_raise(tmp_path):
    with pytest.raises(SuiteError, match="expectation_suite_name"):
        load_suite(_write(tmp_path, {"expectation_suite_name": "old", "expectations": [GOOD]}))
    old = {"expectation_type": "expect_column_values_to_not_be_null", "kwargs": {"column": "a"}}
    with pytest.raises(SuiteError) as info:
        load_suite(_write(tmp_path, {"name": "old", "expectations": [GOOD, old]}))
    assert info.value.index == 1 and "expectation_type" in str(info.value)


def test_invalid_kwargs_raise(tmp_path):
    bad = {"type": "expect_column_values_to_be_between", "kwargs": {"column": "a", "min_valu": 0}}
    with pytest.raises(SuiteError, match="#0.*min_valu"):
        load_suite(_write(tmp_path, {"name": "x", "expectations": [bad]}))


def test_suite_is_cached_per_path_and_mtime(tmp_path):
    import os

    path = _write(tmp_path, {"name": "x", "expectations": [GOOD]})
    first = load_suite(path)
    assert load_suite(path) is first
    path.write_text(json.dumps({"name": "x", "expectations": [GOOD, {**GOOD, "kwargs": {"column": "b"}}]}))
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 10**9))
    assert len(load_suite(path).expectations) == 2
