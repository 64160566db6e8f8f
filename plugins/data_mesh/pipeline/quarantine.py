"""Quarantine retention: rejected batches (raw rows, PII included) do not stay forever.

A batch that fails validation is kept for the domain team as
`<DATA_MESH_QUARANTINE_ROOT>/<product>/<partition>/<run>/` (`batch.parquet` + `report.json`, written by
the validate step). `prune_quarantine` deletes the run folders older than
`DATA_MESH_QUARANTINE_RETENTION_DAYS` (default 14): a folder's age is its newest modification time
(the folder itself or a file in it), so a batch quarantined again by the same run id counts from
then. Partition and product folders left empty are removed too. Every product run's cleanup calls
it for all products (a walk of three folder levels); the CLI can call it as well.

Only folders at the run level are ever deleted, never through a symbolic link; another process
pruning the same folder at the same time is not an error.
"""

from __future__ import annotations

import contextlib
import logging
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

from data_mesh import conf

log = logging.getLogger(__name__)


def _subfolders(folder: Path) -> Iterator[Path]:
    try:
        entries = sorted(folder.iterdir())
    except FileNotFoundError:
        return
    for entry in entries:
        if entry.is_dir() and not entry.is_symlink():
            yield entry


def run_folders(product_id: str | None = None) -> Iterator[Path]:
    """Every quarantined run folder (`<product>/<partition>/<run>`), of one product or of all."""
    root = Path(conf.quarantine_root())
    if product_id is not None:
        if not product_id or "/" in product_id or product_id in (".", ".."):
            raise ValueError(f"not a product id: {product_id!r}")
        products: Iterator[Path] = iter([root / product_id])
    else:
        products = _subfolders(root)
    for product in products:
        if product.is_symlink():
            continue
        for partition in _subfolders(product):
            yield from _subfolders(partition)


def last_modified(folder: Path) -> float:
    """The newest modification time of a run folder and the files in it (epoch seconds)."""
    newest = folder.stat().st_mtime
    for entry in folder.iterdir():
        try:
            newest = max(newest, entry.stat(follow_symlinks=False).st_mtime)
        except FileNotFoundError:
            continue
    return newest


def prune_quarantine(
    product_id: str | None = None, *, retention_days: float | None = None, now: float | None = None
) -> list[Path]:
    """Delete the quarantined run folders older than the retention; returns the folders deleted.

    `product_id` None prunes every product. Every folder is tried; if some could not be deleted,
    an `OSError` naming them is raised after the others were (each is logged).
    """
    days = conf.quarantine_retention_days() if retention_days is None else retention_days
    cutoff = (time.time() if now is None else now) - days * 86_400
    pruned: list[Path] = []
    failed: list[str] = []
    for folder in list(run_folders(product_id)):
        try:
            if last_modified(folder) >= cutoff:
                continue
            shutil.rmtree(folder)
        except FileNotFoundError:  # pruned meanwhile by another run's cleanup
            continue
        except OSError as error:
            log.error("quarantine: could not delete %s: %s", folder, error)
            failed.append(f"{folder}: {error}")
            continue
        pruned.append(folder)
        product, partition = folder.parent.parent.name, folder.parent.name
        log.info(
            "quarantine: deleted %s partition %s run %s (older than %g days)",
            product,
            partition,
            folder.name,
            days,
        )
    _remove_empty({p.parent for p in pruned} | {p.parent.parent for p in pruned})
    if pruned:
        log.info("quarantine: pruned %d batch(es) older than %g days", len(pruned), days)
    if failed:
        raise OSError(f"could not delete {len(failed)} quarantined batch(es): {'; '.join(failed)}")
    return pruned


def _remove_empty(folders: set[Path]) -> None:
    """Remove partition folders, then product folders, once nothing is left in them."""
    for folder in sorted(folders, key=lambda p: len(p.parts), reverse=True):
        with contextlib.suppress(OSError):  # not empty (or gone): kept
            folder.rmdir()
