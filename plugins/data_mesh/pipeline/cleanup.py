"""The end of every product run, whatever its outcome: none of the run's raw data is left behind.

`cleanup_run(spec, run, staged)` is what the product DAG's `cleanup` teardown task runs once the work
tasks are done (their retries included); it is a plain function, testable without a scheduler:

1. the run's staging folder (`staging_dir`: the fetched NDJSON/CSV pages and the transform's
   Parquet, PII included) is removed;
2. the partition file validation staged in the product's table folder (`Validated.staged_partition`)
   is discarded when the table does not hold it (publish failed or never ran). A file the table holds
   (a snapshot committed it, or a kept snapshot reads it) is never deleted, nor is anything outside the
   table's `data/` folder; when the table cannot be read the file is kept (retention's orphan sweep
   removes it later) and that is reported as an error. When the run's publish task returned, its
   commit holds the file: it is kept without loading the table (pyiceberg's import and a read of the
   table's manifests, 6.3 s of a successful run's teardown on 2 loaded cores, are skipped);
3. quarantined batches older than `DATA_MESH_QUARANTINE_RETENTION_DAYS` are pruned, for every product
   (`pipeline.quarantine`).

Each step runs even when an earlier one failed. Failures are logged and listed in the result, never
raised by `cleanup_run`: the task (`teardown`) fails with them once everything was tried, and as a
teardown that never changes the run's state.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from data_mesh.contract.spec import ProductSpec
from data_mesh.pipeline.context import Published, RunInfo, staging_dir
from data_mesh.storage.products import StagedPartition

log = logging.getLogger(__name__)


class CleanupFailed(RuntimeError):
    """Some of a run's cleanup could not be done (each failure was logged)."""


@dataclass
class CleanupResult:
    product: str
    run_id: str
    staging_removed: str | None = None  # the folder removed, if there was one
    staged_file_discarded: str | None = None  # an uncommitted staged partition file deleted
    staged_file_kept: str | None = None  # a staged file the table holds (published)
    quarantine_pruned: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def to_xcom(self) -> dict[str, Any]:
        return asdict(self)

    def raise_for_errors(self) -> None:
        if self.errors:
            errors = "; ".join(self.errors)
            raise CleanupFailed(f"{self.product} run {self.run_id}: cleanup incomplete: {errors}")


def staged_of(validated: dict[str, Any] | None) -> StagedPartition | None:
    """The staged partition in a validate task's XCom (None when validation did not pass)."""
    if not validated or not validated.get("staged_partition"):
        return None
    raw = validated["staged_partition"]
    return StagedPartition(partition=raw["partition"], file=raw["file"], rows=raw["rows"], bytes=raw["bytes"])


def teardown(
    spec: ProductSpec,
    run: RunInfo,
    read_validated: Callable[[], Any],
    read_published: Callable[[], Any] = lambda: None,
) -> dict[str, Any]:
    """The `cleanup` task: `read_validated()` gives the validate task's XCom (None if it did not pass),
    `read_published()` the publish task's (None if it did not return).

    A result that cannot be read does not stop the rest of the cleanup. Raises `CleanupFailed` once
    everything was tried if anything failed; returns the result as the task's XCom.
    """
    errors = []
    try:
        staged = staged_of(read_validated())
    except Exception as error:  # the staging folder and the quarantine are still cleaned
        log.exception("%s: cleanup could not read the validate task's result", spec.id)
        staged, errors = None, [f"reading the validate task's result: {type(error).__name__}: {error}"]
    try:
        published = _published(staged, read_published())
    except Exception:  # unknown: the table itself is asked whether it holds the file
        log.warning("%s: cleanup could not read the publish task's result", spec.id, exc_info=True)
        published = False
    result = cleanup_run(spec, run, staged, published=published)
    result.errors[:0] = errors
    result.raise_for_errors()
    return result.to_xcom()


def cleanup_run(
    spec: ProductSpec, run: RunInfo, staged: StagedPartition | None = None, *, published: bool = False
) -> CleanupResult:
    """Remove what the run left behind: its staging folder, an uncommitted staged file, old quarantine.

    `published`: the run's publish task returned, so a snapshot committed `staged` (it is kept).
    """
    result = CleanupResult(product=spec.id, run_id=run.run_id)
    _step(result, "removing the staging folder", _remove_staging, spec, run, result)
    if staged is not None and published:
        result.staged_file_kept = staged.file
    elif staged is not None:
        _step(result, f"discarding the staged file {staged.file}", _discard_uncommitted, spec, staged, result)
    _step(result, "pruning the quarantine", _prune_quarantine, result)
    if result.errors:
        log.error("%s: cleanup of run %s incomplete: %s", spec.id, run.run_id, "; ".join(result.errors))
    else:
        log.info(
            "%s: cleanup of run %s done (staging %s, staged file %s, %d quarantined batch(es) pruned)",
            spec.id,
            run.run_id,
            "removed" if result.staging_removed else "absent",
            "discarded" if result.staged_file_discarded else "kept" if result.staged_file_kept else "none",
            len(result.quarantine_pruned),
        )
    return result


def _step(result: CleanupResult, what: str, func: Any, *args: Any) -> None:
    try:
        func(*args)
    except Exception as error:  # every step is tried; the failure is reported, not raised
        log.exception("%s: cleanup failed %s", result.product, what)
        result.errors.append(f"{what}: {type(error).__name__}: {error}")


def _remove_staging(spec: ProductSpec, run: RunInfo, result: CleanupResult) -> None:
    folder = staging_dir(spec, run)
    if folder.is_symlink():
        raise OSError(f"{folder} is a symbolic link; not following it")
    if not folder.exists():
        return
    shutil.rmtree(folder)
    result.staging_removed = str(folder)
    log.info("%s: removed the staging folder %s", spec.id, folder)


def _published(staged: StagedPartition | None, extra: dict[str, Any] | None) -> bool:
    """Whether the publish task's XCom (`Published`, None if it did not return) is a version of the
    staged partition; one that is not a `Published` raises (the caller then asks the table)."""
    if staged is None or extra is None:
        return False
    return Published.from_xcom(extra).partition == staged.partition


def _discard_uncommitted(spec: ProductSpec, staged: StagedPartition, result: CleanupResult) -> None:
    from data_mesh.storage.files import filesystem
    from data_mesh.storage.products import product_storage

    store = product_storage(spec)
    data_folder = f"{store.uri}/data/"
    if not staged.file.startswith(data_folder) or "/../" in staged.file or "/./" in staged.file:
        raise ValueError(f"{staged.file} is not in the table's data folder {data_folder}; not deleting it")
    fs, path = filesystem(staged.file)
    if fs.get_file_info(path).type.name == "NotFound":
        return  # discarded already (rejected batch) or never written
    if store.references(staged.file):
        result.staged_file_kept = staged.file
        return
    store.discard(staged)
    result.staged_file_discarded = staged.file
    log.info("%s: discarded the uncommitted staged file %s (%s)", spec.id, staged.file, staged.partition)


def _prune_quarantine(result: CleanupResult) -> None:
    from data_mesh.pipeline.quarantine import prune_quarantine

    result.quarantine_pruned = [str(p) for p in prune_quarantine()]
