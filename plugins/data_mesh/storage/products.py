"""What the platform needs of a product's storage, behind one interface and one factory.

A product is an Apache Iceberg table (`storage.iceberg`): publishing a partition is one atomic
commit that replaces that partition, every commit is a numbered version (v1, v2, ... kept in the
snapshot summary and as an Iceberg tag), and any engine reading the table through the catalog sees
the previous version or the new one, never a mix. `product_storage(spec)` is the only way the
platform gets at a product's data; a new storage back end is one class implementing
`ProductStorage`.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from data_mesh.contract.spec import ProductSpec

if TYPE_CHECKING:
    import pyarrow as pa

    from data_mesh.contract.partition import PartitionWindow


@dataclass(frozen=True)
class StagedPartition:
    """A validated partition written where publish can commit it; invisible to every reader."""

    partition: str
    file: str  # a staging file (URL or path) outside the table's data
    rows: int
    bytes: int


@dataclass(frozen=True)
class ProductVersion:
    """One published version: an Iceberg snapshot, with what the platform recorded in its summary."""

    product: str
    version: int
    snapshot_id: int
    published_at: str  # ISO 8601, UTC
    operation: str  # append | overwrite | delete
    changed_partition: str
    run_id: str
    schema_hash: str
    schema_id: int | None
    rows: int  # records in the whole version
    bytes: int  # data file bytes in the whole version
    files: int
    changed_rows: int  # records written by this commit
    summary: dict[str, str] = field(default_factory=dict)


class ProductStorage(Protocol):
    """Reads and writes the versions of one product."""

    spec: ProductSpec

    @property
    def uri(self) -> str:
        """The product's address (its table location), also its Airflow Asset URI."""
        ...

    def versions(self) -> list[int]: ...

    def history(self) -> list[ProductVersion]:
        """Every kept version, oldest first (one catalog read)."""
        ...

    def partitions(self, version: ProductVersion) -> tuple[str, ...]:
        """The partition keys present in a version."""
        ...

    def version(self, version: int | None = None, as_of: datetime | None = None) -> ProductVersion:
        """A version by number, the newest one published at or before `as_of`, or the latest."""
        ...

    def read_table(
        self, version: ProductVersion, window: PartitionWindow | None = None, columns: list[str] | None = None
    ) -> pa.Table: ...

    def iter_batches(
        self, version: ProductVersion, columns: list[str] | None = None
    ) -> Iterator[pa.RecordBatch]: ...

    def schema(self, columns: list[str] | None = None) -> pa.Schema: ...

    def published_keys(self, columns: tuple[str, ...], except_partition: str) -> pa.Table | None: ...

    def stage(self, table: pa.Table, partition: str) -> StagedPartition: ...

    def discard(self, staged: StagedPartition) -> None: ...

    def references(self, file: str) -> bool:
        """Whether `file` is part of the table: committed by a version or read by a kept snapshot."""
        ...

    def commit(
        self, staged: StagedPartition, schema_hash: str, run_id: str, summary: dict[str, Any] | None = None
    ) -> ProductVersion: ...

    def publish(
        self,
        table: pa.Table,
        partition: str,
        schema_hash: str,
        run_id: str,
        summary: dict[str, Any] | None = None,
    ) -> ProductVersion:
        """Stage and commit in one call (tests, benchmarks, corrections)."""
        ...

    def delete_rows(self, row_filter: Any, run_id: str, summary: dict | None = None) -> ProductVersion | None:
        """The current version minus the rows `row_filter` (a pyiceberg expression) matches, committed
        as the next version (operation delete); None when no row matches (nothing committed)."""
        ...

    def data_files(self, version: ProductVersion) -> list[str]:
        """The data files (URLs) a version reads, for engines that read Parquet files themselves."""
        ...

    def metadata_location(self) -> str:
        """The current table metadata file, for engines that read Iceberg without the catalog."""
        ...


def product_storage(spec: ProductSpec, root: str | None = None) -> ProductStorage:
    """The storage of one product in the warehouse `root` (default `DATA_MESH_STORAGE_ROOT`)."""
    from data_mesh.storage.iceberg import IcebergProduct

    return IcebergProduct(spec, root)
