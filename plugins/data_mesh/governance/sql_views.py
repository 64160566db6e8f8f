"""The SQL port's execution database: each product a query names as one view, nothing else.

Each product is read once through the governed reader (`read_batches`: the access decision with the
principal's active grants, the version resolved, the access event recorded with exactly the columns
read) before any data moves. Its view has every column the query binds (`Shape.columns`, in the
contract's DuckDB types): those the query reads, and typed NULLs for the others, which are never read.
A column the version predates is a typed NULL too. What the view reads from:

* the version's Parquet data files (`read_parquet`), when the files are local, the version has no
  delete files and no restricted column is read (the files hold vault tokens for those, never clear
  values: a restricted column read needs the reader's re-identification). The database may read
  those files and nothing else (`allowed_paths`); it holds no data, only the views, so it is kept per
  set of views (the files of a snapshot never change) and a query repeated on the same version runs
  on a cursor of the same database;
* otherwise, the Arrow table of the governed read (restricted columns re-identified, deletes applied,
  any warehouse), in a database of the query's own, closed after it.

User SQL cannot call `read_parquet` itself, nor any table function reading files (`sql_plan`), so
the files are only ever read through these views.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

from data_mesh.contract.spec import ProductSpec
from data_mesh.governance.access import AccessPath, Principal
from data_mesh.governance.sql_duckdb import Kept, close, cursor, literal, lockdown
from data_mesh.governance.sql_plan import ProductRef, Shape, quote

if TYPE_CHECKING:
    import duckdb
    import pyarrow as pa

    from data_mesh.storage.products import ProductVersion


@dataclass(frozen=True)
class Source:
    """What one product's view reads: local Parquet files, or the Arrow table of the governed read."""

    ref: ProductRef
    shape: Shape
    read: tuple[str, ...]  # the columns read (the first one the query binds for a bare count(*))
    version: ProductVersion
    files: tuple[str, ...] = ()
    table: pa.Table | None = None


_files: Kept[tuple[str, ...] | None] = Kept(1024)  # (table, snapshot) -> its local data files
_databases: Kept[duckdb.DuckDBPyConnection] = Kept(16)  # views -> their database (a few MB each)


def governed_source(
    ref: ProductRef, spec: ProductSpec, shape: Shape, principal: Principal, path: AccessPath, purpose: str
) -> Source:
    """Read `ref` for the query through the governed reader: decided, resolved and recorded."""
    import pyarrow as pa

    from data_mesh.governance.reader import read_batches

    read = shape.used or shape.columns[:1]  # count(*) alone reads no column: the first carries the rows
    version, schema, batches = read_batches(
        ref.product_id,
        principal,
        purpose=purpose,
        path=path,
        version=ref.version,
        as_of=ref.as_of,
        columns=list(read),
    )
    if not any(c in spec.restricted_columns for c in read):
        files = _version_files(spec, version)
        if files is not None:
            return Source(ref, shape, read, version, files)  # the stream is never started: DuckDB reads
    chunks = list(batches)
    table = pa.Table.from_batches(chunks) if chunks else schema.empty_table()
    return Source(ref, shape, read, version, table=table)


def _version_files(spec: ProductSpec, version: ProductVersion) -> tuple[str, ...] | None:
    """The version's data files as local paths; None if it has delete files or a file is not local."""
    from data_mesh.storage.products import product_storage

    if version.summary.get("total-delete-files") != "0":
        return None  # deletes to apply (or a summary that does not say): the reader applies them
    store = product_storage(spec)

    def plan() -> tuple[str, ...] | None:
        paths = [_local_path(url) for url in store.data_files(version)]
        return None if None in paths else tuple(p for p in paths if p is not None)

    return _files.get((store.uri, version.snapshot_id), plan)  # a snapshot's files never change


def _local_path(url: str) -> str | None:
    if url.startswith("file://"):
        return url[len("file://") :]
    return None if "://" in url else url


@contextmanager
def execution(sources: Sequence[Source]) -> Iterator[duckdb.DuckDBPyConnection]:
    """A connection holding the views of `sources`, locked; closed (or its cursor) on exit."""
    if any(s.table is not None for s in sources):
        con = _database(sources)
        try:
            yield con
        finally:
            con.close()
        return
    key = tuple((s.ref.schema, s.ref.name, s.shape.columns, s.shape.types, s.read, s.files) for s in sources)
    con = cursor(_databases.get(key, lambda: _database(sources)))
    try:
        yield con
    finally:
        close(con)


def _database(sources: Sequence[Source]) -> duckdb.DuckDBPyConnection:
    import duckdb

    con = duckdb.connect(":memory:")
    try:
        for i, source in enumerate(sources):
            if source.table is not None:
                con.register(f"_product_{i}", source.table)
        paths = sorted({f for s in sources for f in s.files})
        lockdown(con, paths, "SET parquet_metadata_cache = true")
        for i, source in enumerate(sources):
            _create_view(con, i, source)
    except BaseException:
        con.close()
        raise
    return con


def _create_view(con: duckdb.DuckDBPyConnection, i: int, source: Source) -> None:
    if source.table is not None:
        origin, present = f"_product_{i}", set(source.table.column_names)
    elif source.files:
        options = ", union_by_name = true" if len(source.files) > 1 else ""
        files = ", ".join(map(literal, source.files))
        origin = f"read_parquet([{files}], hive_partitioning = false{options})"
        present = {row[0] for row in con.execute(f"DESCRIBE SELECT * FROM {origin}").fetchall()}
    else:  # a version without data files: no rows
        origin, present = "(SELECT 1 WHERE false) AS _nothing", set()
    select = ", ".join(
        f"CAST({quote(c)} AS {t}) AS {quote(c)}"
        if c in source.read and c in present
        else f"CAST(NULL AS {t}) AS {quote(c)}"
        for c, t in zip(source.shape.columns, source.shape.types, strict=True)
    )
    if source.ref.schema:
        con.execute(f"CREATE SCHEMA IF NOT EXISTS {quote(source.ref.schema)}")
    con.execute(f"CREATE VIEW {source.ref.sql_name} AS SELECT {select} FROM {origin}")
