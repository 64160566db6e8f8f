"""Versioned, atomic publication: crashes lose nothing, re-runs replace, old versions stay readable."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from data_mesh.contract.registry import get_product
from data_mesh.contract.spec import Sla
from data_mesh.exceptions import VersionNotFound
from data_mesh.storage.arrow import arrow_schema
from data_mesh.storage.products import ProductStore


def ads_rows(day: str, n: int) -> pa.Table:
    spec = get_product("marketing.ads_performance")
    rows = {
        "date": [datetime.fromisoformat(day).date()] * n,
        "campaign_id": [f"cmp-{i:04d}" for i in range(n)],
        "campaign_name": ["c"] * n,
        "channel": ["search"] * n,
        "region": ["NA"] * n,
        "impressions": [10] * n,
        "clicks": [1] * n,
        "cost": [1.5] * n,
    }
    return pa.Table.from_pydict(rows, schema=arrow_schema(spec))


@pytest.fixture
def store(tmp_path):
    return ProductStore(get_product("marketing.ads_performance"), root=str(tmp_path))


def test_versions_partitions_and_time_travel(store):
    with pytest.raises(VersionNotFound, match="nothing has been published"):
        store.manifest()
    store.publish(ads_rows("2026-11-01", 3), "2026-11-01", "h", "run-1")
    between = datetime.now(UTC)
    store.publish(ads_rows("2026-11-02", 5), "2026-11-02", "h", "run-2")
    store.publish(ads_rows("2026-11-01", 4), "2026-11-01", "h", "run-3")  # re-run replaces the partition
    latest = store.manifest()
    assert latest.version == 3 and latest.rows == 9
    assert {k: v.rows for k, v in latest.partitions.items()} == {"2026-11-01": 4, "2026-11-02": 5}
    assert store.read_table(store.manifest(version=1)).num_rows == 3
    assert store.manifest(as_of=between).version == 1
    with pytest.raises(VersionNotFound, match="no version 9"):
        store.manifest(version=9)


def test_crash_before_commit_keeps_previous_version(store, monkeypatch):
    store.publish(ads_rows("2026-11-01", 3), "2026-11-01", "h", "run-1")
    before = store.read_table(store.manifest())

    def crash(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(ProductStore, "_write_manifest", crash)
    with pytest.raises(OSError, match="disk full"):
        store.publish(ads_rows("2026-11-01", 7), "2026-11-01", "h", "run-2")
    monkeypatch.undo()
    assert store.manifest().version == 1
    assert store.read_table(store.manifest()).equals(before)
    store.publish(ads_rows("2026-11-02", 2), "2026-11-02", "h", "run-3")
    assert len(list((Path(store.base) / "data").rglob("*.parquet"))) == 3  # the orphan waits its grace
    monkeypatch.setenv("DATA_MESH_ORPHAN_GRACE_SECONDS", "0")
    store.publish(ads_rows("2026-11-02", 2), "2026-11-02", "h", "run-4")  # now it is pruned
    listed = {f for v in store.versions() for f in store.manifest(version=v).files}
    on_disk = {str(p.relative_to(store.base)) for p in (Path(store.base) / "data").rglob("*.parquet")}
    assert on_disk == listed


def test_crash_mid_write_leaves_no_visible_file(store, monkeypatch):
    store.publish(ads_rows("2026-11-01", 3), "2026-11-01", "h", "run-1")
    real_write = pq.write_table

    def half_write(table, where, **kwargs):
        real_write(table.slice(0, 1), where, **kwargs)
        raise RuntimeError("killed mid-write")

    monkeypatch.setattr(pq, "write_table", half_write)
    with pytest.raises(RuntimeError):
        store.publish(ads_rows("2026-11-01", 7), "2026-11-01", "h", "run-2")
    monkeypatch.undo()
    assert store.manifest().version == 1 and store.read_table(store.manifest()).num_rows == 3


def test_retention_prunes_old_versions(tmp_path, monkeypatch):
    monkeypatch.setenv("DATA_MESH_RETENTION_VERSIONS", "2")
    spec = get_product("marketing.ads_performance")
    store = ProductStore(replace(spec, sla=Sla(latency_hours=36)), root=str(tmp_path))
    for i in range(4):
        store.publish(ads_rows("2026-11-01", i + 1), "2026-11-01", "h", f"run-{i}")
    assert store.versions() == [3, 4]
    assert len(list((Path(store.base) / "data").rglob("*.parquet"))) == 2  # files of versions 1-2 gone


def test_staged_partition_is_invisible_until_committed(store):
    store.publish(ads_rows("2026-11-01", 3), "2026-11-01", "h", "run-1")
    staged = store.stage(ads_rows("2026-11-01", 8), "2026-11-01")
    assert store.manifest().version == 1 and store.read_table(store.manifest()).num_rows == 3
    store.discard(staged)
    assert not (Path(store.base) / staged.file).exists()
    kept = store.stage(ads_rows("2026-11-01", 8), "2026-11-01")
    assert store.commit(kept, "h", "run-2").partitions["2026-11-01"].files == (kept.file,)
    assert store.read_table(store.manifest()).num_rows == 8


def test_storage_root_can_be_any_fsspec_url():
    """The same code path serves object stores (s3://...) configured by URL; fsspec's memory:// here."""
    store = ProductStore(get_product("marketing.ads_performance"), root="memory://mesh-bucket/products")
    assert store.uri == "memory://mesh-bucket/products/marketing/ads_performance"
    store.publish(ads_rows("2026-11-01", 3), "2026-11-01", "h", "run-1")
    store.publish(ads_rows("2026-11-01", 4), "2026-11-01", "h", "run-2")
    assert store.versions() == [1, 2]
    assert store.read_table(store.manifest()).num_rows == 4
    assert store.read_table(store.manifest(version=1)).num_rows == 3


def test_commit_is_idempotent_and_refuses_a_vanished_file(store):
    staged = store.stage(ads_rows("2026-11-01", 3), "2026-11-01")
    first = store.commit(staged, "h", "run-1")
    assert store.commit(staged, "h", "run-1").version == first.version == 1  # a retried publish task
    gone = store.stage(ads_rows("2026-11-01", 4), "2026-11-01")
    store.discard(gone)
    with pytest.raises(FileNotFoundError, match="re-run the validate task"):
        store.commit(gone, "h", "run-2")
    assert store.versions() == [1]


def test_naive_as_of_is_utc(store):
    store.publish(ads_rows("2026-11-01", 3), "2026-11-01", "h", "run-1")
    assert store.manifest(as_of=datetime.now(UTC).replace(tzinfo=None)).version == 1
