"""Retention: how long versions stay readable, and removing the files nothing needs any more.

The contract's `retention` SLA says how many versions (`unit: versions`) or how many days
(`unit: days`) stay readable; `DATA_MESH_RETENTION_VERSIONS` is the floor when it says nothing.
After each publication: the `v<N>` tags of expired versions are removed, their snapshots expired,
and then every file under the table's `data/` and `metadata/` that no remaining snapshot references
(data files, manifests, manifest lists) and that is older than `DATA_MESH_ORPHAN_GRACE_SECONDS` is
deleted (that sweep runs when versions expire and on every 10th version: it reads every manifest).
The grace period protects a concurrent publisher's files written but not yet committed; a
file any kept snapshot needs is never deleted. The latest version is never expired.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from data_mesh import conf

if TYPE_CHECKING:
    from pyiceberg.table import Table

    from data_mesh.storage.iceberg import IcebergProduct

log = logging.getLogger(__name__)


def expired_versions(product: IcebergProduct, numbers: list[int], published_ms: dict[int, int]) -> list[int]:
    """The version numbers retention drops (never the latest)."""
    sla = product.spec.sla
    if sla.retention_days is not None:
        cutoff = (datetime.now(UTC).timestamp() - sla.retention_days * 86_400) * 1000
        return [n for n in numbers[:-1] if published_ms[n] < cutoff]
    keep = max(sla.retention_versions or conf.retention_versions(), 1)
    return numbers[:-keep]


SWEEP_EVERY = 10  # versions between two sweeps for orphan files when nothing expires


def apply_retention(product: IcebergProduct) -> None:
    """Expire what retention drops; sweep unreferenced files when it did, and every SWEEP_EVERY versions.

    The sweep reads every kept snapshot's manifests, so it is not run on every commit: an orphan
    (a crashed publisher's file) waits at most SWEEP_EVERY versions beyond its grace period.
    """
    table = product._table()
    snapshots = product._snapshots(table)
    numbers = list(snapshots)
    drop = expired_versions(product, numbers, {n: s.timestamp_ms for n, s in snapshots.items()})
    if drop:
        keep_ids = {snapshots[n].snapshot_id for n in numbers if n not in drop}
        with table.manage_snapshots() as refs:
            for number in drop:
                if f"v{number}" in table.metadata.refs:
                    refs.remove_tag(f"v{number}")
        table = product._table()
        old = [s.snapshot_id for s in table.metadata.snapshots if s.snapshot_id not in keep_ids]
        current = table.metadata.current_snapshot_id
        old = [sid for sid in old if sid != current]
        if old:
            table.maintenance.expire_snapshots().by_ids(old).commit()
        log.info("%s: retention expired versions %s", product.spec.id, drop)
    latest = numbers[-1] if numbers else 0
    if drop or latest % SWEEP_EVERY == 0 or conf.orphan_grace_seconds() == 0:
        remove_unreferenced_files(product._table())


def _referenced(table: Table) -> set[str]:
    io = table.io
    files: set[str] = set()
    for snapshot in table.metadata.snapshots:
        files.add(snapshot.manifest_list)
        for manifest in snapshot.manifests(io):
            files.add(manifest.manifest_path)
            for entry in manifest.fetch_manifest_entry(io, discard_deleted=False):
                files.add(entry.data_file.file_path)
    return files


def references(product: IcebergProduct, file: str) -> bool:
    """Whether the table holds `file`: a snapshot committed it, or a kept snapshot's manifests list it.

    The snapshot summaries (`data-mesh.staged-file`) answer a file published by the platform in one
    catalog read; only a file they do not name costs a read of every manifest. No table yet: False.
    """
    from data_mesh.exceptions import VersionNotFound
    from data_mesh.storage.iceberg import STAGED_FILE_KEY

    try:
        table = product._table()
    except VersionNotFound:
        return False
    for snapshot in table.metadata.snapshots:
        props = snapshot.summary.additional_properties if snapshot.summary else {}
        if props.get(STAGED_FILE_KEY) == file:
            return True
    return _normal(file) in {_normal(p) for p in _referenced(table)}


def remove_unreferenced_files(table: Table) -> int:
    """Delete data and manifest files no snapshot references, once older than the grace period."""
    import pyarrow.fs as pafs

    from data_mesh.storage.files import filesystem

    referenced = {_normal(p) for p in _referenced(table)}
    cutoff = datetime.now(UTC).timestamp() - conf.orphan_grace_seconds()
    removed = 0
    for folder in ("data", "metadata"):
        fs, base = filesystem(f"{table.location()}/{folder}")
        selector = pafs.FileSelector(base, recursive=True, allow_not_found=True)
        for info in fs.get_file_info(selector):
            if info.type != pafs.FileType.File or _normal(info.path) in referenced:
                continue
            if folder == "metadata" and not info.path.endswith(".avro"):
                continue  # metadata.json files: pruned by write.metadata.delete-after-commit
            if info.mtime is None or info.mtime.timestamp() < cutoff:
                fs.delete_file(info.path)
                removed += 1
    return removed


def _normal(path: Any) -> str:
    text = str(path)
    return text.split("://", 1)[1].lstrip("/") if "://" in text else text.lstrip("/")
