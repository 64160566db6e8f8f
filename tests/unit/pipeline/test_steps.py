"""`check_and_stage`: the checks, the read of the published keys and the staging of the file overlap;
whatever ends the step early leaves no staged file behind."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest

from data_mesh.contract.partition import parse_partition
from data_mesh.contract.registry import get_product
from data_mesh.pipeline.steps import check_and_stage
from data_mesh.storage.products import product_storage
from tests.unit.storage.test_products import ads_rows

DAY = "2026-11-20"


@pytest.fixture
def spec(tmp_path, monkeypatch):
    monkeypatch.setenv("DATA_MESH_STORAGE_ROOT", str(tmp_path / "warehouse"))
    monkeypatch.setenv("DATA_MESH_METADATA_URL", f"sqlite:///{tmp_path / 'metadata.db'}")
    return get_product("marketing.ads_performance")


def data_files(root: Path) -> list[Path]:
    return sorted((root / "warehouse").rglob("*.parquet"))


def test_a_passing_batch_is_staged_and_committed_as_one_version(spec, tmp_path):
    store = product_storage(spec)
    store.publish(ads_rows("2026-11-19", 3), "2026-11-19", "h", "earlier")  # keys to read back
    report, staged = check_and_stage(ads_rows(DAY, 5), spec, store, parse_partition("day", DAY))
    assert report.success and staged is not None and staged.rows == 5
    store.commit(staged, "h", "run")
    assert store.read_table(store.version()).num_rows == 8


def test_a_rejected_batch_leaves_no_staged_file(spec, tmp_path):
    store = product_storage(spec)
    bad = ads_rows(DAY, 5)
    index = bad.column_names.index("clicks")
    more_clicks = pa.array([20] * 5, bad.schema.field(index).type)  # than impressions (10): rejected
    report, staged = check_and_stage(
        bad.set_column(index, "clicks", more_clicks), spec, store, parse_partition("day", DAY)
    )
    assert not report.success and staged is None
    assert data_files(tmp_path) == []


def test_a_failed_read_of_the_published_keys_fails_the_step_and_leaves_no_staged_file(
    spec, tmp_path, monkeypatch
):
    store = product_storage(spec)

    def unreachable(*_args, **_kwargs):
        raise ConnectionError("catalog unreachable")

    monkeypatch.setattr(store, "published_keys", unreachable)
    with pytest.raises(ConnectionError, match="catalog unreachable"):
        check_and_stage(ads_rows(DAY, 5), spec, store, parse_partition("day", DAY))
    assert data_files(tmp_path) == []
