"""Products as Apache Iceberg tables (pyiceberg), in the mesh's SQL catalog.

Invariants:

* One table per product, at `<warehouse>/<domain>/<product>`, partitioned as its contract says
  (identity on the partition column; `day` of a timestamp column).
* Publishing a partition is one atomic commit: an overwrite of exactly that partition (delete +
  append in one transaction), so re-running a partition never duplicates rows and a reader sees the
  previous version or the new one, never a mix. A crash before the commit leaves the previous version
  served; files it wrote are orphans that retention removes after `DATA_MESH_ORPHAN_GRACE_SECONDS`.
* Versions are numbered in the commit itself (`data-mesh.version` in the snapshot summary, with the
  run id, the partition, the schema hash and the validation summary) and tagged `v<N>` for other
  engines. pyiceberg's own commit retry is off for these tables (`commit.retry.num-retries=0`): a
  publisher that loses a race re-reads the table and commits again with the next number, so two
  concurrent publishers both land, in order, and nothing is lost or numbered twice.
* A contract that adds a column evolves the table schema (`union_by_name`); old versions keep and
  are read with their own schema.

pyiceberg and pyarrow are imported inside the methods (DAG parse only needs `uri`).
"""

from __future__ import annotations

import contextlib
import logging
import random
import time
import uuid
import warnings
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from data_mesh.contract.spec import ProductSpec
from data_mesh.exceptions import VersionNotFound
from data_mesh.storage.catalog import ensure_namespace, get_catalog, warehouse_url
from data_mesh.storage.products import ProductVersion, StagedPartition

if TYPE_CHECKING:
    import pyarrow as pa
    from pyiceberg.table import Table
    from pyiceberg.table.snapshots import Snapshot

    from data_mesh.contract.partition import PartitionWindow

log = logging.getLogger(__name__)

VERSION_KEY = "data-mesh.version"
STAGED_FILE_KEY = "data-mesh.staged-file"  # the file a version's commit added (see `commit`)
OPERATION_KEY = "data-mesh.operation"  # set by a row delete (a copy-on-write Iceberg overwrite)
COMMIT_ATTEMPTS = 20  # with jittered backoff up to 4 s: about a minute of contention at most
TABLE_PROPERTIES = {
    "format-version": "2",
    "commit.retry.num-retries": "0",  # we retry ourselves, renumbering the version (see above)
    "write.parquet.compression-codec": "snappy",
    "write.metadata.delete-after-commit.enabled": "true",
    "write.metadata.previous-versions-max": "20",
}


class IcebergProduct:
    """The Iceberg table of one product."""

    def __init__(self, spec: ProductSpec, root: str | None = None) -> None:
        self.spec = spec
        self.root = root
        self.identifier = (spec.domain, spec.name)
        self._loaded: Table | None = None

    # ---- addressing ----------------------------------------------------------------------
    @property
    def uri(self) -> str:
        return f"{warehouse_url(self.root)}/{self.spec.domain}/{self.spec.name}"

    def metadata_location(self) -> str:
        return str(self._table().metadata_location)

    def _table(self, create: bool = False) -> Table:
        """The table as the catalog has it now (one catalog read)."""
        from pyiceberg.exceptions import NoSuchTableError

        catalog = get_catalog(self.root)
        try:
            self._loaded = catalog.load_table(self.identifier)
        except NoSuchTableError:
            if not create:
                raise VersionNotFound(self.spec.id, "nothing has been published yet") from None
            self._loaded = self._create(catalog)
        return self._loaded

    def _holding(self, version: ProductVersion) -> Table:
        """A table whose metadata has `version`'s snapshot: the one `version()` just loaded, if it does.

        Snapshots never change, so reading a resolved version needs no second catalog read.
        """
        loaded = self._loaded
        if loaded is not None and loaded.metadata.snapshot_by_id(version.snapshot_id) is not None:
            return loaded
        return self._table()

    def _create(self, catalog: Any) -> Table:
        from pyiceberg.exceptions import CommitFailedException, TableAlreadyExistsError

        from data_mesh.storage.arrow import arrow_schema

        ensure_namespace(catalog, self.spec.domain)
        column = self.spec.column(self.spec.partitioning.column)
        try:
            with (
                catalog.create_table_transaction(
                    self.identifier,
                    schema=arrow_schema(self.spec),
                    location=self.uri,
                    properties={**TABLE_PROPERTIES, "data-mesh.product": self.spec.id},
                ) as tx,
                tx.update_spec() as spec,
            ):
                if column.logical_type == "timestamp":
                    from pyiceberg.transforms import DayTransform

                    spec.add_field(column.name, DayTransform(), f"{column.name}_day")
                else:
                    spec.add_identity(column.name)
        except TableAlreadyExistsError:  # another publisher created it first
            pass
        except CommitFailedException:  # the same race lost at commit (SqlCatalog: "Table already exists")
            if not catalog.table_exists(self.identifier):
                raise
        return catalog.load_table(self.identifier)

    def _evolve(self, table: Table) -> Table:
        """Add the contract's new columns to the table schema (old snapshots keep theirs)."""
        from data_mesh.storage.arrow import arrow_schema

        known = {f.name for f in table.schema().fields}
        if all(name in known for name in self.spec.column_names):
            return table
        with table.update_schema() as update:
            update.union_by_name(arrow_schema(self.spec))
        log.info("%s: table schema evolved to schema id %s", self.spec.id, table.schema().schema_id)
        return table

    # ---- versions ------------------------------------------------------------------------
    def _snapshots(self, table: Table) -> dict[int, Snapshot]:
        """Version number -> the snapshot that completed it (an overwrite may write two)."""
        out: dict[int, Snapshot] = {}
        for snapshot in table.metadata.snapshots:
            props = snapshot.summary.additional_properties if snapshot.summary else {}
            if VERSION_KEY not in props:
                continue
            number = int(props[VERSION_KEY])
            if number not in out or (snapshot.sequence_number or 0) > (out[number].sequence_number or 0):
                out[number] = snapshot
        return dict(sorted(out.items()))

    @staticmethod
    def _operations(table: Table) -> dict[int, str]:
        """Version number -> append, overwrite (a partition replaced) or delete, in one pass."""
        ops: dict[int, set[str]] = {}
        for snapshot in table.metadata.snapshots:
            props = snapshot.summary.additional_properties if snapshot.summary else {}
            if VERSION_KEY in props and snapshot.summary:
                kind = props.get(OPERATION_KEY, snapshot.summary.operation.value)
                ops.setdefault(int(props[VERSION_KEY]), set()).add(kind)
        return {
            number: ("overwrite" if kinds - {"delete"} else "delete")
            if kinds & {"delete", "overwrite"}
            else "append"
            for number, kinds in ops.items()
        }

    def versions(self) -> list[int]:
        try:
            return list(self._snapshots(self._table()))
        except VersionNotFound:
            return []

    def version(self, version: int | None = None, as_of: datetime | None = None) -> ProductVersion:
        table = self._table()
        snapshots = self._snapshots(table)
        if not snapshots:
            raise VersionNotFound(self.spec.id, "nothing has been published yet")
        numbers = list(snapshots)
        if version is not None:
            if version not in snapshots:
                kept = f"{numbers[0]}..{numbers[-1]}"
                raise VersionNotFound(self.spec.id, f"no version {version} (kept: {kept})")
            return self._describe(table, version, snapshots[version])
        if as_of is None:
            return self._describe(table, numbers[-1], snapshots[numbers[-1]])
        as_of = as_of if as_of.tzinfo else as_of.replace(tzinfo=UTC)
        cutoff_ms = as_of.timestamp() * 1000
        for number in reversed(numbers):
            if snapshots[number].timestamp_ms <= cutoff_ms:
                return self._describe(table, number, snapshots[number])
        raise VersionNotFound(self.spec.id, f"no version published at or before {as_of.isoformat()}")

    def _describe(
        self, table: Table, number: int, snapshot: Snapshot, operations: dict[int, str] | None = None
    ) -> ProductVersion:
        props = dict(snapshot.summary.additional_properties) if snapshot.summary else {}
        operation = (operations or self._operations(table)).get(number, "append")
        published = datetime.fromtimestamp(snapshot.timestamp_ms / 1000, tz=UTC)
        return ProductVersion(
            product=self.spec.id,
            version=number,
            snapshot_id=snapshot.snapshot_id,
            published_at=published.isoformat(),
            operation=operation,
            changed_partition=props.get("data-mesh.partition", ""),
            run_id=props.get("data-mesh.run-id", ""),
            schema_hash=props.get("data-mesh.schema-hash", ""),
            schema_id=snapshot.schema_id,
            rows=int(props.get("total-records", 0)),
            bytes=int(props.get("total-files-size", 0)),
            files=int(props.get("total-data-files", 0)),
            changed_rows=int(props.get("added-records", 0)),
            summary=props,
        )

    def history(self) -> list[ProductVersion]:
        try:
            table = self._table()
        except VersionNotFound:
            return []
        operations = self._operations(table)
        return [self._describe(table, n, s, operations) for n, s in self._snapshots(table).items()]

    def partitions(self, version: ProductVersion) -> tuple[str, ...]:
        from data_mesh.storage.partitions import partition_key

        keys: set[str] = set()
        scan = self._holding(version).scan(
            snapshot_id=version.snapshot_id, selected_fields=(self.spec.partitioning.column,)
        )
        for task in scan.plan_files():
            value = task.file.partition[0] if len(task.file.partition) else None
            keys.add(partition_key(self.spec, value))
        return tuple(sorted(keys))

    # ---- reading -------------------------------------------------------------------------
    def schema(self, columns: list[str] | None = None) -> pa.Schema:
        import pyarrow as pa

        from data_mesh.storage.arrow import arrow_schema

        schema = arrow_schema(self.spec)
        return pa.schema([schema.field(c) for c in columns]) if columns else schema

    def read_table(
        self, version: ProductVersion, window: PartitionWindow | None = None, columns: list[str] | None = None
    ) -> pa.Table:
        from data_mesh.storage.partitions import conform_to_contract, window_filter

        table = self._holding(version)
        row_filter = window_filter(self.spec, window)
        scan = table.scan(
            row_filter=row_filter,
            snapshot_id=version.snapshot_id,
            selected_fields=tuple(self._existing(table, version, columns)),
        )
        return conform_to_contract(scan.to_arrow(), self.spec, columns)

    def iter_batches(
        self, version: ProductVersion, columns: list[str] | None = None
    ) -> Iterator[pa.RecordBatch]:
        from data_mesh.storage.partitions import conform_to_contract

        table = self._holding(version)
        scan = table.scan(
            snapshot_id=version.snapshot_id, selected_fields=tuple(self._existing(table, version, columns))
        )
        for batch in scan.to_arrow_batch_reader():
            yield from conform_to_contract(batch, self.spec, columns).to_batches()

    def data_files(self, version: ProductVersion) -> list[str]:
        scan = self._holding(version).scan(snapshot_id=version.snapshot_id)
        return [task.file.file_path for task in scan.plan_files()]

    def _existing(self, table: Table, version: ProductVersion, columns: list[str] | None) -> list[str]:
        """The requested columns that exist in the version's own schema ("*" for all of them)."""
        schema = next((s for s in table.metadata.schemas if s.schema_id == version.schema_id), table.schema())
        names = {f.name for f in schema.fields}
        wanted = columns or list(self.spec.column_names)
        return [c for c in wanted if c in names] or ["*"]

    def published_keys(self, columns: tuple[str, ...], except_partition: str) -> pa.Table | None:
        from pyiceberg.expressions import Not

        from data_mesh.storage.partitions import partition_filter

        try:
            latest = self.version()
        except VersionNotFound:
            return None
        scan = self._holding(latest).scan(
            row_filter=Not(partition_filter(self.spec, except_partition)),
            snapshot_id=latest.snapshot_id,
            selected_fields=columns,
        )
        return scan.to_arrow()

    # ---- writing -------------------------------------------------------------------------
    def stage(self, table: pa.Table, partition: str) -> StagedPartition:
        """Write the validated partition as the data file the commit will add (no snapshot lists it yet).

        The file is written once: `commit` registers it in the table (`add_files`) instead of
        rewriting the rows, so staging while validating is the whole cost of the write.
        """
        import pyarrow.parquet as pq

        from data_mesh.governance.vault import refuse_clear_values
        from data_mesh.storage.files import filesystem

        refuse_clear_values(self.spec, table)
        column = self.spec.partitioning.column
        url = f"{self.uri}/data/{column}={partition}/{uuid.uuid4().hex}.parquet"
        fs, path = filesystem(url)
        fs.create_dir(path.rsplit("/", 1)[0], recursive=True)
        # snappy: cheapest beside GX. No Arrow schema: a tokenized (dictionary-encoded) column is a
        # plain string column to every reader; the other types read back alike from Parquet's own.
        pq.write_table(table, path, filesystem=fs, store_schema=False)
        size = fs.get_file_info(path).size or 0
        return StagedPartition(partition=partition, file=url, rows=table.num_rows, bytes=size)

    def discard(self, staged: StagedPartition) -> None:
        from data_mesh.storage.files import filesystem

        fs, path = filesystem(staged.file)
        fs.delete_file(path)

    def references(self, file: str) -> bool:
        from data_mesh.storage.retention import references

        return references(self, file)

    def commit(
        self, staged: StagedPartition, schema_hash: str, run_id: str, summary: dict[str, Any] | None = None
    ) -> ProductVersion:
        """Replace the staged partition in a new version; idempotent for a retried run."""
        from pyiceberg.exceptions import CommitFailedException

        from data_mesh.storage.files import filesystem
        from data_mesh.storage.partitions import partition_filter

        fs, staged_path = filesystem(staged.file)
        for attempt in range(1, COMMIT_ATTEMPTS + 1):
            table = self._evolve(self._table(create=True))
            snapshots = self._snapshots(table)
            done = self._already_committed(table, snapshots, staged, run_id)
            if done is not None:
                return done
            if fs.get_file_info(staged_path).type.name == "NotFound":
                raise FileNotFoundError(
                    f"{self.spec.id}: staged file {staged.file} is gone: "
                    "re-run the validate task before publishing"
                )
            number = (max(snapshots) if snapshots else 0) + 1
            props = {
                VERSION_KEY: str(number),
                "data-mesh.run-id": run_id,
                "data-mesh.partition": staged.partition,
                "data-mesh.schema-hash": schema_hash,
                STAGED_FILE_KEY: staged.file,
                **{f"data-mesh.validation.{k}": str(v) for k, v in (summary or {}).items()},
            }
            try:
                with table.transaction() as tx, warnings.catch_warnings():
                    # a first publication of a partition deletes nothing: expected, not worth a warning
                    warnings.filterwarnings("ignore", "Delete operation did not match any records")
                    tx.delete(partition_filter(self.spec, staged.partition), snapshot_properties=props)
                    tx.add_files([staged.file], snapshot_properties=props, check_duplicate_files=False)
                    _tag(tx, f"v{number}")
            except CommitFailedException as lost:
                wait = min(4.0, 0.05 * 2**attempt) * random.uniform(0.5, 1.5)
                log.warning(
                    "%s: commit of v%d lost a race (%s); retrying in %.2fs", self.spec.id, number, lost, wait
                )
                time.sleep(wait)
                continue
            with _housekeeping(self.spec.id):
                from data_mesh.storage.retention import apply_retention

                apply_retention(self)
            return self.version(number)
        raise RuntimeError(
            f"{self.spec.id}: could not commit after {COMMIT_ATTEMPTS} attempts (concurrent publishers)"
        )

    def delete_rows(self, row_filter: Any, run_id: str, summary: dict | None = None) -> ProductVersion | None:
        """The current version minus the rows `row_filter` matches, as a new version (`storage.deletes`)."""
        from data_mesh.storage.deletes import delete_rows

        return delete_rows(self, row_filter, run_id, summary)

    def _already_committed(
        self, table: Table, snapshots: dict[int, Snapshot], staged: StagedPartition, run_id: str
    ) -> ProductVersion | None:
        """The version a previous try of this run already committed from this staged file, if any."""
        for number, snapshot in reversed(snapshots.items()):
            props = snapshot.summary.additional_properties if snapshot.summary else {}
            if props.get("data-mesh.run-id") == run_id and props.get(STAGED_FILE_KEY) == staged.file:
                return self._describe(table, number, snapshot)
        return None

    def publish(
        self,
        table: pa.Table,
        partition: str,
        schema_hash: str,
        run_id: str,
        summary: dict[str, Any] | None = None,
    ) -> ProductVersion:
        """Stage and commit in one call (tests, benchmarks, corrections); restricted columns arrive in
        clear and are stored as vault tokens."""
        from data_mesh.governance.vault import at_rest

        return self.commit(self.stage(at_rest(self.spec, table), partition), schema_hash, run_id, summary)


def _tag(tx: Any, name: str) -> None:
    """Tag the transaction's new snapshot in the same commit (Spark: VERSION AS OF 'v3')."""
    from pyiceberg.table.update.snapshot import ManageSnapshots

    snapshot = tx.table_metadata.current_snapshot()
    if snapshot is not None:
        ManageSnapshots(tx).create_tag(snapshot.snapshot_id, name).commit()


@contextlib.contextmanager
def _housekeeping(product: str) -> Iterator[None]:
    """Housekeeping after a commit never fails the publication: the version is already live."""
    try:
        yield
    except Exception as error:  # logged; retention and the sweep run again at the next publication
        log.warning("%s: housekeeping after commit failed (retried next time): %s", product, error)
