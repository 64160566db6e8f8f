"""The product store: versioned, partitioned Parquet with atomic publication.

Layout under the storage root (a local folder or any pyarrow/fsspec URL)::

    <domain>/<product>/data/<partition>/part-<id>.parquet           plain Parquet files
    <domain>/<product>/_manifests/v000007.json                      one manifest per version

A version is the set of files its manifest lists, one entry per partition. Publishing stages the new
partition's file under a fresh name (invisible: no manifest points at it), then commits: writes the
next manifest under a temporary name and renames it into place. Readers only ever follow manifests, so
they see the previous version or the new one, never a mix; a crash at any point leaves the previous
version served. Re-publishing a partition replaces its entry (no duplicates). Old manifests and the
files only they reference are pruned by retention.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import uuid
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from functools import cached_property
from typing import TYPE_CHECKING, Protocol

from data_mesh import conf
from data_mesh.contract.spec import ProductSpec
from data_mesh.exceptions import VersionNotFound

if TYPE_CHECKING:
    import pyarrow as pa
    import pyarrow.fs as pafs

log = logging.getLogger(__name__)

_MANIFESTS = "_manifests"


@dataclass(frozen=True)
class PartitionEntry:
    files: tuple[str, ...]
    rows: int
    bytes: int


@dataclass(frozen=True)
class StagedPartition:
    """A written, not yet published, partition file (travels between tasks as a dict)."""

    partition: str
    file: str  # relative to the product's folder
    rows: int
    bytes: int


@dataclass(frozen=True)
class Manifest:
    product: str
    version: int
    published_at: str
    schema_hash: str
    partition_column: str
    changed_partition: str
    run_id: str
    partitions: dict[str, PartitionEntry] = field(default_factory=dict)

    @property
    def rows(self) -> int:
        return sum(p.rows for p in self.partitions.values())

    @property
    def files(self) -> list[str]:
        return [f for p in self.partitions.values() for f in p.files]

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=1, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Manifest:
        raw = json.loads(text)
        raw["partitions"] = {
            k: PartitionEntry(tuple(v["files"]), v["rows"], v["bytes"]) for k, v in raw["partitions"].items()
        }
        return cls(**raw)


def _filesystem(root: str) -> tuple[pafs.FileSystem, str]:
    import pyarrow.fs as pafs

    if "://" not in root:
        return pafs.LocalFileSystem(), os.path.abspath(root)
    scheme = root.split("://", 1)[0]
    if scheme in {"file", "s3", "gs", "gcs", "hdfs", "abfs", "abfss"}:
        return pafs.FileSystem.from_uri(root)
    import fsspec  # any other fsspec protocol (memory://, az://, ...)

    fs, path = fsspec.core.url_to_fs(root)
    return pafs.PyFileSystem(pafs.FSSpecHandler(fs)), path


class ProductStorage(Protocol):
    """What the platform needs of a product's storage; `product_storage(spec)` is the one factory."""

    spec: ProductSpec

    @property
    def uri(self) -> str: ...

    def versions(self) -> list[int]: ...

    def manifest(self, version: int | None = None, as_of: datetime | None = None) -> Manifest: ...

    def read_table(
        self, manifest: Manifest, partitions: list[str] | None = None, columns: list[str] | None = None
    ) -> pa.Table: ...

    def schema(self, columns: list[str] | None = None) -> pa.Schema: ...

    def iter_batches(
        self, manifest: Manifest, columns: list[str] | None = None
    ) -> Iterator[pa.RecordBatch]: ...

    def published_keys(self, columns: tuple[str, ...], except_partition: str) -> pa.Table | None: ...

    def stage(self, table: pa.Table, partition: str) -> StagedPartition: ...

    def discard(self, staged: StagedPartition) -> None: ...

    def commit(self, staged: StagedPartition, schema_hash: str, run_id: str) -> Manifest: ...


def product_storage(spec: ProductSpec, root: str | None = None) -> ProductStorage:
    """The storage of one product under `root` (default `DATA_MESH_STORAGE_ROOT`: a folder or any
    pyarrow/fsspec URL)."""
    return ProductStore(spec, root)


class ProductStore:
    """Versioned, partitioned Parquet with manifests: reads and writes the versions of one product."""

    def __init__(self, spec: ProductSpec, root: str | None = None) -> None:
        self.spec = spec
        self.root = root or conf.storage_root()

    @cached_property
    def _location(self) -> tuple[pafs.FileSystem, str]:
        fs, base = _filesystem(self.root)  # pyarrow is imported here, not at DAG parse time
        return fs, f"{base.rstrip('/')}/{self.spec.domain}/{self.spec.name}"

    @property
    def fs(self) -> pafs.FileSystem:
        return self._location[0]

    @property
    def base(self) -> str:
        return self._location[1]

    @property
    def uri(self) -> str:
        """The product's address, used as its Airflow Asset URI."""
        if "://" in self.root:
            return f"{self.root.rstrip('/')}/{self.spec.domain}/{self.spec.name}"
        return f"file://{os.path.abspath(self.root)}/{self.spec.domain}/{self.spec.name}"

    # ---- reading -------------------------------------------------------------------------
    def versions(self) -> list[int]:
        import pyarrow.fs as pafs

        selector = pafs.FileSelector(f"{self.base}/{_MANIFESTS}", allow_not_found=True)
        names = (info.base_name for info in self.fs.get_file_info(selector))
        return sorted(int(n[1:-5]) for n in names if n.startswith("v") and n.endswith(".json"))

    def manifest(self, version: int | None = None, as_of: datetime | None = None) -> Manifest:
        """The manifest of a version, of the newest one published at or before `as_of`, or the latest."""
        versions = self.versions()
        if not versions:
            raise VersionNotFound(self.spec.id, "nothing has been published yet")
        if version is not None:
            if version not in versions:
                raise VersionNotFound(
                    self.spec.id, f"no version {version} (kept: {versions[0]}..{versions[-1]})"
                )
            return self._read_manifest(version)
        if as_of is None:
            return self._read_manifest(versions[-1])
        if as_of.tzinfo is None:
            as_of = as_of.replace(tzinfo=UTC)
        for candidate in reversed(versions):
            manifest = self._read_manifest(candidate)
            if datetime.fromisoformat(manifest.published_at) <= as_of:
                return manifest
        raise VersionNotFound(self.spec.id, f"no version published at or before {as_of.isoformat()}")

    def read_table(
        self,
        manifest: Manifest,
        partitions: list[str] | None = None,
        columns: list[str] | None = None,
    ) -> pa.Table:
        import pyarrow as pa
        import pyarrow.parquet as pq

        wanted = (
            manifest.partitions
            if partitions is None
            else {k: v for k, v in manifest.partitions.items() if k in set(partitions)}
        )
        paths = [f"{self.base}/{f}" for entry in wanted.values() for f in entry.files]
        schema = self.schema(columns)
        if not paths:
            return schema.empty_table()
        tables = [pq.read_table(p, filesystem=self.fs, columns=columns) for p in paths]
        return pa.concat_tables(tables, promote_options="permissive").cast(schema)

    def schema(self, columns: list[str] | None = None) -> pa.Schema:
        """The contract's Arrow schema, or the part of it `columns` names."""
        import pyarrow as pa

        from data_mesh.storage.arrow import arrow_schema

        schema = arrow_schema(self.spec)
        return pa.schema([schema.field(c) for c in columns]) if columns else schema

    def iter_batches(self, manifest: Manifest, columns: list[str] | None = None) -> Iterator[pa.RecordBatch]:
        """The version's rows, file by file and batch by batch, in the contract's types."""
        import pyarrow.parquet as pq

        schema = self.schema(columns)
        for relative in manifest.files:
            with self.fs.open_input_file(f"{self.base}/{relative}") as handle:
                for batch in pq.ParquetFile(handle).iter_batches(batch_size=65_536, columns=columns):
                    yield batch.select(schema.names).cast(schema)

    def published_keys(self, columns: tuple[str, ...], except_partition: str) -> pa.Table | None:
        """The given columns of every partition of the latest version but one (None if unpublished).

        Used to check that a new partition's primary keys are unique across the whole version.
        """
        try:
            manifest = self.manifest()
        except VersionNotFound:
            return None
        others = [k for k in manifest.partitions if k != except_partition]
        return self.read_table(manifest, partitions=others, columns=list(columns))

    def file_paths(self, manifest: Manifest) -> list[str]:
        """Absolute paths/URLs of a version's files, for engines that read Parquet themselves."""
        prefix = self.root.rstrip("/") if "://" in self.root else self.base.rsplit("/", 2)[0]
        return [f"{prefix}/{self.spec.domain}/{self.spec.name}/{f}" for f in manifest.files]

    # ---- writing -------------------------------------------------------------------------
    def stage(self, table: pa.Table, partition: str) -> StagedPartition:
        """Write a partition's file under a fresh name; invisible until `commit` lists it in a manifest.

        Staging can run while the data is still being validated: a rejected batch is `discard`ed,
        and a staged file no manifest ever lists is pruned after `conf.orphan_grace_seconds()`.
        """
        import pyarrow.parquet as pq

        relative = f"data/{partition}/part-{uuid.uuid4().hex}.parquet"
        self.fs.create_dir(f"{self.base}/data/{partition}", recursive=True)
        pq.write_table(table, f"{self.base}/{relative}", filesystem=self.fs)
        size = self.fs.get_file_info(f"{self.base}/{relative}").size
        return StagedPartition(partition=partition, file=relative, rows=table.num_rows, bytes=size)

    def discard(self, staged: StagedPartition) -> None:
        self.fs.delete_file(f"{self.base}/{staged.file}")

    def commit(self, staged: StagedPartition, schema_hash: str, run_id: str) -> Manifest:
        """Make a staged file the content of its partition in a new version (the atomic step)."""
        with self._lock():
            versions = self.versions()
            previous = self._read_manifest(versions[-1]) if versions else None
            entry = previous.partitions.get(staged.partition) if previous else None
            if previous and previous.run_id == run_id and entry and entry.files == (staged.file,):
                return previous  # a retried commit of a version that is already live
            if self.fs.get_file_info(f"{self.base}/{staged.file}").type.name == "NotFound":
                raise FileNotFoundError(
                    f"{self.spec.id}: staged file {staged.file} is gone (pruned as an orphan?): "
                    "re-run the validate task before publishing"
                )
            partitions = dict(previous.partitions) if previous else {}
            partitions[staged.partition] = PartitionEntry((staged.file,), staged.rows, staged.bytes)
            manifest = Manifest(
                product=self.spec.id,
                version=(versions[-1] + 1) if versions else 1,
                published_at=datetime.now(UTC).isoformat(),
                schema_hash=schema_hash,
                partition_column=self.spec.partitioning.column,
                changed_partition=staged.partition,
                run_id=run_id,
                partitions=dict(sorted(partitions.items())),
            )
            self._write_manifest(manifest)
            try:  # the version is live: housekeeping must not fail the publication
                self._prune(self._retention())
            except OSError:
                log.exception(
                    "%s: pruning old versions failed; retried at the next publication", self.spec.id
                )
        return manifest

    def publish(self, table: pa.Table, partition: str, schema_hash: str, run_id: str) -> Manifest:
        """Make `table` the content of `partition` in a new version; returns that version's manifest."""
        return self.commit(self.stage(table, partition), schema_hash, run_id)

    def _retention(self) -> int:
        return max(conf.retention_versions(), self.spec.sla.retention_versions or 0, 1)

    def _read_manifest(self, version: int) -> Manifest:
        with self.fs.open_input_stream(f"{self.base}/{_MANIFESTS}/v{version:06d}.json") as stream:
            return Manifest.from_json(stream.read().decode())

    def _write_manifest(self, manifest: Manifest) -> None:
        folder = f"{self.base}/{_MANIFESTS}"
        final = f"{folder}/v{manifest.version:06d}.json"
        self.fs.create_dir(folder, recursive=True)
        if self.fs.get_file_info(final).type.name != "NotFound":
            raise FileExistsError(f"{self.spec.id}: version {manifest.version} was published concurrently")
        temporary = f"{folder}/.tmp-{uuid.uuid4().hex}"
        with self.fs.open_output_stream(temporary) as stream:
            stream.write(manifest.to_json().encode())
        self.fs.move(temporary, final)  # the commit point: a rename on local disks

    def _prune(self, keep: int) -> None:
        """Drop manifests beyond retention and the files only they listed; then old orphan files."""
        import pyarrow.fs as pafs

        versions = self.versions()
        referenced = {f for v in versions[-keep:] for f in self._read_manifest(v).files}
        for old in versions[:-keep]:
            expired = set(self._read_manifest(old).files) - referenced
            self.fs.delete_file(f"{self.base}/{_MANIFESTS}/v{old:06d}.json")
            for relative in expired:
                with contextlib.suppress(FileNotFoundError):
                    self.fs.delete_file(f"{self.base}/{relative}")
        # Files no manifest lists: a run that died between stage and commit, or one still on its
        # way to commit (young). Only orphans older than the grace period go.
        cutoff = datetime.now(UTC).timestamp() - conf.orphan_grace_seconds()
        selector = pafs.FileSelector(f"{self.base}/data", recursive=True, allow_not_found=True)
        for info in self.fs.get_file_info(selector):
            relative = info.path[len(self.base) + 1 :]
            if info.type != pafs.FileType.File or relative in referenced:
                continue
            if info.mtime is None or info.mtime.timestamp() < cutoff:
                self.fs.delete_file(info.path)

    @contextlib.contextmanager
    def _lock(self) -> Iterator[None]:
        """Serialise publishers of one product on local disks (DAGs also run one at a time)."""
        import pyarrow.fs as pafs

        if not isinstance(self.fs, pafs.LocalFileSystem):
            yield  # object stores: one publisher per product through the DAG's max_active_runs=1
            return
        import fcntl

        os.makedirs(self.base, exist_ok=True)
        with open(f"{self.base}/.lock", "w") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

