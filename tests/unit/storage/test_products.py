"""Products as Iceberg tables: atomic partition commits, versions, time travel, evolution, retention."""

from __future__ import annotations

import threading
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pytest

from data_mesh.contract.registry import get_product
from data_mesh.contract.spec import Column, Sla
from data_mesh.exceptions import VersionNotFound
from data_mesh.storage.arrow import arrow_schema
from data_mesh.storage.products import product_storage
from tests.iceberg_engines import iceberg_scan_rows


def ads_rows(day: str, n: int, spec=None) -> pa.Table:
    spec = spec or get_product("marketing.ads_performance")
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
    rows.update({c: ["x"] * n for c in spec.column_names if c not in rows})
    return pa.Table.from_pydict(rows, schema=arrow_schema(spec))


@pytest.fixture
def warehouse(tmp_path, monkeypatch) -> Path:
    """A warehouse and a catalog (in a metadata database) of this test only."""
    monkeypatch.setenv("DATA_MESH_STORAGE_ROOT", str(tmp_path / "warehouse"))
    monkeypatch.setenv("DATA_MESH_METADATA_URL", f"sqlite:///{tmp_path / 'metadata.db'}")
    return tmp_path / "warehouse"


@pytest.fixture
def store(warehouse):
    return product_storage(get_product("marketing.ads_performance"))


def _files(folder: Path) -> set[str]:
    return {str(p) for p in folder.rglob("*.parquet")}


def test_versions_partitions_and_time_travel(store):
    with pytest.raises(VersionNotFound, match="nothing has been published"):
        store.version()
    store.publish(ads_rows("2026-11-01", 3), "2026-11-01", "h", "run-1")
    between = datetime.now(UTC)
    store.publish(ads_rows("2026-11-02", 5), "2026-11-02", "h", "run-2")
    store.publish(ads_rows("2026-11-01", 4), "2026-11-01", "h", "run-3")  # re-run replaces the partition
    latest = store.version()
    assert latest.version == 3 and latest.rows == 9 and latest.operation == "overwrite"
    assert latest.changed_partition == "2026-11-01" and latest.run_id == "run-3"
    assert store.partitions(latest) == ("2026-11-01", "2026-11-02")
    assert store.read_table(store.version(version=1)).num_rows == 3
    assert store.version(as_of=between).version == 1
    with pytest.raises(VersionNotFound, match="no version 9"):
        store.version(version=9)
    # the same versions for any engine: tags v1..v3 on the snapshots, and DuckDB reads the current one
    assert {"v1", "v2", "v3"} <= set(store._table().metadata.refs)
    assert iceberg_scan_rows(store.metadata_location(), "select count(*) from t") == [(9,)]


def test_crash_before_commit_keeps_previous_version(store, monkeypatch):
    from pyiceberg.table import Transaction

    store.publish(ads_rows("2026-11-01", 3), "2026-11-01", "h", "run-1")
    before = store.read_table(store.version())

    def crash(self):
        raise OSError("catalog unreachable")

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(Transaction, "commit_transaction", crash)
        with pytest.raises(OSError, match="catalog unreachable"):
            store.publish(ads_rows("2026-11-01", 7), "2026-11-01", "h", "run-2")
    assert store.version().version == 1 and store.read_table(store.version()).equals(before)
    # the crashed write left data files no snapshot references: invisible, removed after the grace
    data = Path(store.uri.removeprefix("file://")) / "data"
    assert len(_files(data)) == 2
    monkeypatch.setenv("DATA_MESH_ORPHAN_GRACE_SECONDS", "0")
    store.publish(ads_rows("2026-11-02", 2), "2026-11-02", "h", "run-3")
    referenced = {
        f.removeprefix("file://") for v in store.versions() for f in store.data_files(store.version(v))
    }
    assert _files(data) == referenced


def test_staged_partition_is_invisible_until_committed(store):
    store.publish(ads_rows("2026-11-01", 3), "2026-11-01", "h", "run-1")
    staged = store.stage(ads_rows("2026-11-01", 8), "2026-11-01")
    assert store.version().version == 1 and store.read_table(store.version()).num_rows == 3
    assert iceberg_scan_rows(store.metadata_location(), "select count(*) from t") == [(3,)]
    store.discard(staged)
    assert not Path(staged.file.removeprefix("file://")).exists()
    kept = store.stage(ads_rows("2026-11-01", 8), "2026-11-01")
    committed = store.commit(kept, "h", "run-2")
    assert committed.version == 2 and store.read_table(store.version()).num_rows == 8
    assert store.data_files(committed) == [kept.file]  # written once: the staged file is the data file


def test_commit_is_idempotent_and_refuses_a_vanished_file(store, monkeypatch):
    staged = store.stage(ads_rows("2026-11-01", 3), "2026-11-01")
    first = store.commit(staged, "h", "run-1")
    assert store.commit(staged, "h", "run-1").version == first.version == 1  # a retried publish task
    gone = store.stage(ads_rows("2026-11-01", 4), "2026-11-01")
    store.discard(gone)
    with pytest.raises(FileNotFoundError, match="re-run the validate task"):
        store.commit(gone, "h", "run-2")
    assert store.versions() == [1]


def test_snapshot_summary_carries_run_partition_and_validation(store):
    version = store.publish(
        ads_rows("2026-11-01", 3), "2026-11-01", "abc", "run-1", {"success": True, "failed": 0}
    )
    assert (
        version.summary["data-mesh.run-id"] == "run-1"
        and version.summary["data-mesh.partition"] == "2026-11-01"
    )
    assert version.summary["data-mesh.schema-hash"] == "abc"
    assert version.summary["data-mesh.validation.success"] == "True"


def test_retention_in_versions_expires_snapshots_and_their_files(warehouse, monkeypatch):
    monkeypatch.setenv("DATA_MESH_ORPHAN_GRACE_SECONDS", "0")
    spec = get_product("marketing.ads_performance")
    store = product_storage(replace(spec, sla=Sla(latency_hours=36, retention_versions=2)))
    for i in range(4):
        store.publish(ads_rows("2026-11-01", i + 1), "2026-11-01", "h", f"run-{i}")
    assert store.versions() == [3, 4]
    with pytest.raises(VersionNotFound, match="no version 1"):
        store.version(version=1)
    assert store.read_table(store.version(version=3)).num_rows == 3  # a kept version's files are there
    data = Path(store.uri.removeprefix("file://")) / "data"
    assert len(_files(data)) == 2
    assert not {"v1", "v2"} & set(store._table().metadata.refs)


def test_retention_in_days_keeps_recent_versions(warehouse):
    spec = get_product("marketing.ads_performance")
    store = product_storage(replace(spec, sla=Sla(latency_hours=36, retention_days=7)))
    for i in range(3):
        store.publish(ads_rows("2026-11-01", i + 1), "2026-11-01", "h", f"run-{i}")
    assert store.versions() == [1, 2, 3]  # all published just now


def test_a_new_contract_column_evolves_the_schema_and_old_versions_keep_theirs(warehouse):
    spec = get_product("marketing.ads_performance")
    store = product_storage(spec)
    store.publish(ads_rows("2026-11-01", 3), "2026-11-01", "h", "run-1")
    wider = replace(spec, columns=(*spec.columns, Column("currency", "string", description="ISO 4217")))
    evolved = product_storage(wider)
    evolved.publish(ads_rows("2026-11-02", 2, wider), "2026-11-02", "h", "run-2")
    old, new = evolved.read_table(evolved.version(version=1)), evolved.read_table(evolved.version())
    assert "currency" not in old.column_names and old.num_rows == 3
    assert new.column("currency").to_pylist() == [None, None, None, "x", "x"] or sorted(
        new.column("currency").to_pylist(), key=str
    ) == sorted([None, None, None, "x", "x"], key=str)


def test_concurrent_publishers_all_land_numbered_once(store):
    """Four publishers commit at once: every commit lands, versions 1-4 each once, no row lost."""
    store.publish(ads_rows("2026-11-01", 1), "2026-11-01", "h", "create")  # the table exists
    errors: list[BaseException] = []

    def publish(day: int) -> None:
        try:
            product_storage(store.spec).publish(
                ads_rows(f"2026-11-1{day}", 10 + day), f"2026-11-1{day}", "h", f"r{day}"
            )
        except BaseException as error:  # noqa: BLE001 - reported below
            errors.append(error)

    threads = [threading.Thread(target=publish, args=(d,)) for d in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors
    assert store.versions() == [1, 2, 3, 4, 5]
    assert store.version().rows == 1 + sum(10 + d for d in range(4))
    runs = sorted(store.version(v).run_id for v in range(2, 6))
    assert runs == ["r0", "r1", "r2", "r3"]
