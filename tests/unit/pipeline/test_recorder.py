"""Publication records lost while the metadata store was down are re-derived from the table."""

from __future__ import annotations

import pytest

from data_mesh.contract.registry import get_product
from data_mesh.metadata.store import MetadataStore
from data_mesh.pipeline import recorder
from data_mesh.storage.products import product_storage
from tests.unit.storage.test_products import ads_rows


@pytest.fixture
def spec(tmp_path, monkeypatch):
    """A warehouse, a catalog and a metadata store of this test only."""
    monkeypatch.setenv("DATA_MESH_STORAGE_ROOT", str(tmp_path / "warehouse"))
    monkeypatch.setenv("DATA_MESH_METADATA_URL", f"sqlite:///{tmp_path / 'metadata.db'}")
    return get_product("marketing.ads_performance")


def test_versions_without_a_record_are_recorded_from_their_snapshot(spec):
    table = product_storage(spec)
    summary = {"success": True, "evaluated": 12}
    v1 = table.publish(ads_rows("2026-11-01", 3), "2026-11-01", "hash-1", "run-1", summary)
    v2 = table.publish(ads_rows("2026-11-02", 5), "2026-11-02", "hash-2", "run-2", summary)  # record lost
    v3 = table.publish(ads_rows("2026-11-01", 4), "2026-11-01", "hash-3", "run-3", summary)
    store = MetadataStore()
    assert recorder.reconcile_publications(spec, below=v1.version) == []  # nothing before v1
    assert recorder.reconcile_publications(spec, below=v3.version) == [v1.version, v2.version]
    by_version = {p.version: p for p in store.list_publications(spec.id)}
    assert set(by_version) == {1, 2}  # v3 is its own writer's to record
    lost = by_version[v2.version]
    assert (lost.partition, lost.rows, lost.run_id, lost.schema_hash) == ("2026-11-02", 5, "run-2", "hash-2")
    assert (lost.snapshot_id, lost.operation, lost.dag_id, lost.task_id) == (
        v2.snapshot_id, "append", spec.dag_id, "publish",
    )  # fmt: skip
    assert lost.validation_success is True and lost.published_at.isoformat() == v2.published_at
    assert recorder.reconcile_publications(spec, below=v3.version + 1) == [v3.version]
    assert recorder.reconcile_publications(spec, below=v3.version + 1) == []  # idempotent


def test_a_store_that_cannot_be_read_is_logged_not_raised(spec, monkeypatch, caplog):
    product_storage(spec).publish(ads_rows("2026-11-01", 3), "2026-11-01", "h", "run-1")
    monkeypatch.setattr(recorder, "_store", lambda: MetadataStore("postgresql+psycopg2://x@127.0.0.1:1/none"))
    assert recorder.reconcile_publications(spec, below=2) == []
    assert "could not reconcile the publications" in caplog.text
