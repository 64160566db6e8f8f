"""A run's cleanup: staging removed, an uncommitted staged file discarded, a committed file never touched."""

from __future__ import annotations

import logging
import types
from dataclasses import replace
from pathlib import Path

import pytest

from data_mesh.contract.registry import get_product
from data_mesh.contract.spec import Sla
from data_mesh.pipeline import cleanup
from data_mesh.pipeline.cleanup import CleanupFailed, cleanup_run, staged_of
from data_mesh.pipeline.context import Published, RunInfo, ValidationSummary, staging_dir
from data_mesh.storage.products import StagedPartition, product_storage
from tests.unit.pipeline.test_quarantine import quarantined
from tests.unit.storage.test_products import ads_rows

RUN = RunInfo("marketing__ads_performance", "manual__2026-11-20T10:00:00+00:00", task_id="cleanup")


@pytest.fixture
def spec(tmp_path, monkeypatch):
    """The ads product with a warehouse, catalog, staging and quarantine of this test only."""
    monkeypatch.setenv("DATA_MESH_STORAGE_ROOT", str(tmp_path / "warehouse"))
    monkeypatch.setenv("DATA_MESH_METADATA_URL", f"sqlite:///{tmp_path / 'metadata.db'}")
    monkeypatch.setenv("DATA_MESH_STAGING_ROOT", str(tmp_path / "staging"))
    monkeypatch.setenv("DATA_MESH_QUARANTINE_ROOT", str(tmp_path / "quarantine"))
    return get_product("marketing.ads_performance")


def local(url: str) -> Path:
    return Path(url.removeprefix("file://"))


def staged_run(spec, run: RunInfo = RUN) -> Path:
    """A run's staging folder as fetch and transform leave it."""
    folder = staging_dir(spec, run)
    (folder / "sources" / "campaign_performance").mkdir(parents=True)
    (folder / "sources" / "campaign_performance" / "campaign_performance-00001.ndjson").write_text("{}\n")
    (folder / "transformed.parquet").write_bytes(b"PAR1")
    return folder


def test_cleanup_never_deletes_a_committed_file(spec):
    store = product_storage(spec)
    staged = store.stage(ads_rows("2026-11-20", 5), "2026-11-20")
    store.commit(staged, "h", RUN.run_id)  # publish succeeded
    result = cleanup_run(spec, RUN, staged)
    assert result.errors == [] and result.staged_file_discarded is None
    assert result.staged_file_kept == staged.file and local(staged.file).exists()
    assert store.read_table(store.version()).num_rows == 5


def test_cleanup_keeps_a_file_the_table_reads_after_its_commit_expired(spec, monkeypatch):
    monkeypatch.setenv("DATA_MESH_ORPHAN_GRACE_SECONDS", "0")
    spec = replace(spec, sla=Sla(latency_hours=36, retention_versions=1))
    store = product_storage(spec)
    first = store.stage(ads_rows("2026-11-19", 3), "2026-11-19")
    store.commit(first, "h", "run-1")
    store.publish(ads_rows("2026-11-20", 4), "2026-11-20", "h", "run-2")  # v1 expires; its file stays live
    table = store._table()
    summaries = [s.summary.additional_properties for s in table.metadata.snapshots]
    assert not any(p.get("data-mesh.staged-file") == first.file for p in summaries)
    assert cleanup_run(spec, RUN, first).staged_file_kept == first.file
    assert local(first.file).exists()
    assert store.read_table(store.version()).num_rows == 7


def test_cleanup_discards_a_staged_file_no_snapshot_committed(spec):
    store = product_storage(spec)
    published = store.publish(ads_rows("2026-11-19", 3), "2026-11-19", "h", "run-1")
    staged = store.stage(ads_rows("2026-11-20", 5), "2026-11-20")  # validated; publish then failed
    result = cleanup_run(spec, RUN, staged)
    assert result.errors == [] and result.staged_file_discarded == staged.file
    assert not local(staged.file).exists()
    assert all(local(f).exists() for f in store.data_files(published))
    assert store.read_table(store.version()).num_rows == 3


def test_cleanup_discards_a_staged_file_before_the_first_publication(spec):
    staged = product_storage(spec).stage(ads_rows("2026-11-20", 5), "2026-11-20")  # no table yet
    assert cleanup_run(spec, RUN, staged).staged_file_discarded == staged.file
    assert not local(staged.file).exists()


def test_cleanup_keeps_the_staged_file_when_the_table_cannot_be_read(spec, monkeypatch):
    from data_mesh.storage.iceberg import IcebergProduct

    staged = product_storage(spec).stage(ads_rows("2026-11-20", 5), "2026-11-20")
    folder = staged_run(spec)

    def unavailable(self, file):
        raise ConnectionError("catalog unavailable")

    monkeypatch.setattr(IcebergProduct, "references", unavailable)
    result = cleanup_run(spec, RUN, staged)
    assert local(staged.file).exists()  # not proven uncommitted: kept for retention's orphan sweep
    assert len(result.errors) == 1 and "catalog unavailable" in result.errors[0]
    assert not folder.exists()  # the other steps still ran


def test_cleanup_deletes_nothing_outside_the_table_data_folder(spec, tmp_path):
    product_storage(spec).publish(ads_rows("2026-11-19", 3), "2026-11-19", "h", "run-1")
    outside = tmp_path / "elsewhere.parquet"
    outside.write_bytes(b"PAR1")
    table_data = local(product_storage(spec).uri) / "data"
    sneaky = f"{product_storage(spec).uri}/data/../../../../elsewhere.parquet"
    for file in (str(outside), f"file://{outside}", sneaky):
        result = cleanup_run(spec, RUN, StagedPartition("2026-11-20", file, 1, 4))
        assert result.staged_file_discarded is None and "not in the table's data folder" in result.errors[0]
    assert outside.exists() and any(table_data.rglob("*.parquet"))


def test_cleanup_removes_its_run_staging_only(spec):
    mine = staged_run(spec)
    other = staged_run(spec, RunInfo(dag_id=RUN.dag_id, run_id="scheduled__2026-11-21T00:00:00+00:00"))
    result = cleanup_run(spec, RUN)
    assert result.errors == [] and result.staging_removed == str(mine)
    assert not mine.exists() and other.exists()


def test_cleanup_with_nothing_to_do_succeeds(spec):
    result = cleanup_run(spec, RUN, None)
    assert result.errors == [] and result.staging_removed is None
    result.raise_for_errors()  # a run with nothing left to clean never fails its teardown
    assert staged_of(None) is None and staged_of({"staged_partition": None}) is None


def test_a_cleanup_error_is_logged_and_fails_the_teardown_after_every_step(spec, monkeypatch, caplog):
    folder = staged_run(spec)
    staged = product_storage(spec).stage(ads_rows("2026-11-20", 5), "2026-11-20")

    def denied(path, *args, **kwargs):
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(cleanup, "shutil", types.SimpleNamespace(rmtree=denied))
    with caplog.at_level(logging.INFO, logger="data_mesh.pipeline.cleanup"):
        result = cleanup_run(spec, RUN, staged)
    assert folder.exists() and len(result.errors) == 1 and "Permission denied" in result.errors[0]
    assert result.staged_file_discarded == staged.file  # the next step still ran
    logged = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert any("cleanup failed removing the staging folder" in r.getMessage() for r in logged)
    assert any("incomplete" in r.getMessage() for r in logged)
    with pytest.raises(CleanupFailed, match="marketing.ads_performance run .*Permission denied"):
        result.raise_for_errors()


def test_staged_of_reads_the_validate_xcom(spec):
    staged = StagedPartition("2026-11-20", "file:///w/marketing/ads_performance/data/x.parquet", 5, 100)
    assert staged_of({"staged_partition": {**staged.__dict__}, "schema_hash": "h"}) == staged


def test_the_teardown_cleans_even_when_the_validate_result_cannot_be_read(spec):
    from data_mesh.pipeline.cleanup import teardown

    folder = staged_run(spec)
    staged = product_storage(spec).stage(ads_rows("2026-11-20", 5), "2026-11-20")
    done = teardown(spec, RUN, lambda: {"staged_partition": staged.__dict__, "report": {}})
    assert done["staged_file_discarded"] == staged.file and not folder.exists()
    folder = staged_run(spec)

    def unreadable():
        raise ConnectionError("execution API unavailable")

    with pytest.raises(CleanupFailed, match="validate task's result: ConnectionError"):
        teardown(spec, RUN, unreadable)
    assert not folder.exists()
    assert teardown(spec, RUN, lambda: None)["errors"] == []  # validation failed: nothing staged


def test_a_published_run_keeps_its_staged_file_without_loading_the_table(spec, monkeypatch):
    from data_mesh.pipeline.cleanup import teardown

    store = product_storage(spec)
    staged = store.stage(ads_rows("2026-11-20", 5), "2026-11-20")
    committed = store.commit(staged, "h", RUN.run_id)
    validated = {"staged_partition": staged.__dict__, "report": {}}
    published = Published(
        product=spec.id,
        version=committed.version,
        partition="2026-11-20",
        rows=5,
        bytes=staged.bytes,
        schema_hash="h",
        validation=ValidationSummary(success=True, evaluated=1, successful=1, failed=0),
    ).to_xcom()

    def no_table(*args, **kwargs):
        raise AssertionError("the table was loaded")

    monkeypatch.setattr(cleanup, "_discard_uncommitted", no_table)
    done = teardown(spec, RUN, lambda: validated, lambda: published)
    assert done["staged_file_kept"] == staged.file and done["errors"] == []
    assert local(staged.file).exists() and store.read_table(store.version()).num_rows == 5


@pytest.mark.parametrize(
    "published",
    [
        None,  # publish failed or never ran
        {"version": 3, "partition": "2026-11-21"},  # not this staged partition
        {"partition": "2026-11-20"},  # no version: not a publication
        "v3",
    ],
)
def test_a_staged_file_is_discarded_unless_the_publish_result_names_its_partition(spec, published):
    from data_mesh.pipeline.cleanup import teardown

    staged = product_storage(spec).stage(ads_rows("2026-11-20", 5), "2026-11-20")
    done = teardown(spec, RUN, lambda: {"staged_partition": staged.__dict__}, lambda: published)
    assert done["staged_file_discarded"] == staged.file and not local(staged.file).exists()


def test_an_unreadable_publish_result_falls_back_to_asking_the_table(spec):
    from data_mesh.pipeline.cleanup import teardown

    store = product_storage(spec)
    staged = store.stage(ads_rows("2026-11-20", 5), "2026-11-20")
    store.commit(staged, "h", RUN.run_id)

    def unreadable():
        raise ConnectionError("execution API unavailable")

    done = teardown(spec, RUN, lambda: {"staged_partition": staged.__dict__}, unreadable)
    assert done["staged_file_kept"] == staged.file and local(staged.file).exists()


def test_every_run_cleanup_prunes_the_quarantine(spec, tmp_path, monkeypatch):
    root = tmp_path / "quarantine"
    monkeypatch.setenv("DATA_MESH_QUARANTINE_RETENTION_DAYS", "7")
    old = quarantined(root, "sales.customer_orders", "2026-10-01", "manual__a", age_days=8)
    kept = quarantined(root, "marketing.ads_performance", "2026-11-20", "manual__b", age_days=1)
    result = cleanup_run(spec, RUN)
    assert result.errors == [] and result.quarantine_pruned == [str(old)]
    assert not old.exists() and kept.exists()
