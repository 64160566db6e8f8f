"""The governed SQL output port: DuckDB over the products a query names, each read as the principal.

    run_sql("SELECT region, sum(amount) FROM sales.customer_orders GROUP BY 1", principal, path="api")

Products are tables named by their product id, the domain being the schema:

    sales.customer_orders                          the latest version
    "sales.customer_orders@v3"                     version 3 (one quoted identifier, so DuckDB keeps
    "sales.customer_orders@2026-11-20T10:00:00Z"   the @ suffix), or the version current at an ISO 8601
                                                   instant (UTC when it carries no offset)

What a query may do, and how it is held to it:

* one statement, starting with SELECT, WITH or FROM (no PRAGMA, SET, ATTACH, COPY, INSTALL, ...);
* no table function but `range`, `generate_series` and `unnest`, wherever it is written: nothing that
  reads files, tables or databases by name (`read_parquet`, `glob`, `query_table`, ...) (`sql_plan`);
* only the products it names are read, each through the governed reader with only the columns the
  query reads: the columns come from DuckDB's own plan of the query over empty tables of the
  contract's schema, so the access event lists exactly them. `SELECT *` means every column the
  principal may read; naming a column it may not read is refused (403, recorded) by the same `decide`
  as every other read path, before any product is read. An unknown product is a 404 naming it;
* the query runs on a locked in-memory DuckDB database holding nothing but one view per product
  (`sql_views`): over the version's Parquet files (the only files it may read) or over the Arrow
  table of the governed read when restricted columns are re-identified; external access disabled and
  the configuration locked before the user's SQL: no other file, network, extension or database;
* a timer interrupts the query at `timeout_s`; `limit`/`offset` page the rows outside the query.

Bad SQL raises `SqlError` (a ValueError: HTTP 400) with DuckDB's message.
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from datetime import time as dtime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from data_mesh.contract import registry
from data_mesh.contract.spec import ProductSpec
from data_mesh.exceptions import ProductRetired
from data_mesh.governance import lifecycle
from data_mesh.governance.access import AccessPath, Principal, active_grants, decide
from data_mesh.governance.sql_duckdb import watchdog
from data_mesh.governance.sql_plan import (
    ProductRef,
    Shape,
    SqlError,
    SqlTimeout,
    columns_used,
    product_refs,
    single_select,
)
from data_mesh.governance.sql_views import execution, governed_source

if TYPE_CHECKING:
    import duckdb
    import pyarrow as pa

    from data_mesh.metadata.store import AccessRequest

__all__ = ["ProductRead", "SqlError", "SqlResult", "SqlTimeout", "json_value", "product_refs", "run_sql"]

MAX_LIMIT = 10_000


@dataclass(frozen=True)
class ProductRead:
    """One governed read made for a query (one access event)."""

    id: str
    version: int | None
    columns: tuple[str, ...]
    rows: int
    name: str  # the table name as the query wrote it


@dataclass(frozen=True)
class SqlResult:
    table: pa.Table  # the page of rows: at most `limit`, after `offset`
    truncated: bool  # more rows follow this page
    products: tuple[ProductRead, ...]
    elapsed_ms: float
    limit: int
    offset: int
    warnings: tuple[str, ...] = ()  # a deprecated product's notice, once per product read

    @property
    def columns(self) -> list[str]:
        return list(self.table.column_names)

    @property
    def types(self) -> list[str]:
        return [str(t) for t in self.table.schema.types]

    @property
    def rows(self) -> list[list[Any]]:
        return [list(r.values()) for r in self.table.to_pylist()]

    def to_dict(self) -> dict[str, Any]:
        """The JSON answer of the API: values made JSON-safe (ISO dates, NaN -> null)."""
        return {
            "columns": self.columns,
            "types": self.types,
            "rows": [[json_value(v) for v in row] for row in self.rows],
            "truncated": self.truncated,
            "limit": self.limit,
            "offset": self.offset,
            "products": [
                {"id": p.id, "version": p.version, "columns": list(p.columns), "rows": p.rows}
                for p in self.products
            ],
            "elapsed_ms": round(self.elapsed_ms, 1),
            "warnings": list(self.warnings),
        }


def run_sql(
    sql: str,
    principal: Principal,
    *,
    path: AccessPath,
    limit: int = 1000,
    offset: int = 0,
    timeout_s: float = 30.0,
    purpose: str | None = None,
) -> SqlResult:
    """Run one SELECT over the products it names, as `principal`; see the module docstring."""
    started = time.monotonic()
    _check_paging(limit, offset, timeout_s)
    statement = single_select(sql)
    refs = product_refs(statement)
    specs = {ref: registry.get_product(ref.product_id) for ref in refs}  # unknown -> 404 naming it
    warnings = _lifecycle(specs, principal, path)
    grants = {ref: active_grants(spec, principal) for ref, spec in specs.items()}
    shapes = columns_used(statement, principal, specs, grants)
    purpose = purpose or _purpose(sql)
    _refuse_first_denied(principal, specs, grants, shapes, path, purpose)
    sources = [governed_source(r, spec, shapes[r], principal, path, purpose) for r, spec in specs.items()]
    with execution(sources) as con:
        remaining = timeout_s - (time.monotonic() - started)
        table, truncated = _execute(con, statement, limit, offset, max(remaining, 0.001), timeout_s)
    reads = [
        ProductRead(
            specs[s.ref].id,
            s.version.version,
            s.read,
            s.version.rows if s.table is None else s.table.num_rows,
            f"{s.ref.schema}.{s.ref.name}" if s.ref.schema else s.ref.name,
        )
        for s in sources
    ]
    elapsed = (time.monotonic() - started) * 1000.0
    return SqlResult(table, truncated, tuple(reads), elapsed, limit, offset, warnings)


def _lifecycle(
    specs: dict[ProductRef, ProductSpec], principal: Principal, path: AccessPath
) -> tuple[str, ...]:
    """Before the query is planned: a hidden draft is unknown (404), a retired product is refused by
    the reader (recorded, 410 naming the successor); the deprecation notices of the others."""
    from data_mesh.governance.reader import read_table

    warnings: dict[str, None] = {}
    for ref, spec in specs.items():
        try:
            notice = lifecycle.check_read(spec, principal)
        except ProductRetired:
            read_table(ref.product_id, principal, purpose="SQL", path=path)  # records the refusal, raises
            raise
        if notice:
            warnings[notice] = None
    return tuple(warnings)


def _purpose(sql: str) -> str:
    text = " ".join(sql.split())
    return f"SQL: {text[:200]}{'...' if len(text) > 200 else ''}"


def _check_paging(limit: int, offset: int, timeout_s: float) -> None:
    if not 1 <= limit <= MAX_LIMIT:
        raise SqlError(f"limit must be between 1 and {MAX_LIMIT}, not {limit}")
    if offset < 0:
        raise SqlError(f"offset must be 0 or more, not {offset}")
    if not timeout_s > 0:
        raise SqlError(f"timeout must be positive, not {timeout_s}")


def _refuse_first_denied(
    principal: Principal,
    specs: dict[ProductRef, ProductSpec],
    grants: dict[ProductRef, list[AccessRequest]],
    shapes: dict[ProductRef, Shape],
    path: AccessPath,
    purpose: str,
) -> None:
    """Before any data moves: a product the query may not read is refused (and recorded) by the reader."""
    from data_mesh.governance.reader import read_table

    for ref, spec in specs.items():
        used = list(shapes[ref].used)
        if not decide(spec, principal, used or spec.column_names[:1], grants[ref]).allowed:
            # the reader records the refusal and raises AccessDenied naming the columns
            read_table(ref.product_id, principal, purpose=purpose, path=path, columns=used or None)
            raise AssertionError(f"the reader let a refused read of {ref.product_id} through")


def _execute(
    con: duckdb.DuckDBPyConnection,
    statement: duckdb.Statement,
    limit: int,
    offset: int,
    seconds: float,
    timeout_s: float,
) -> tuple[pa.Table, bool]:
    """Run the statement under the watchdog; keep rows offset .. offset+limit, and say if more follow."""
    import duckdb
    import pyarrow as pa

    fired = threading.Event()

    def stop() -> None:
        fired.set()
        con.interrupt()

    alarm = watchdog.arm(seconds, stop)
    try:
        reader = con.execute(statement.query).to_arrow_reader(min(limit + 1, 10_000))
        batches, skip, keep = [], offset, limit + 1
        for batch in reader:
            if skip >= batch.num_rows:
                skip -= batch.num_rows
                continue
            batch = batch.slice(skip, keep)
            skip, keep = 0, keep - batch.num_rows
            batches.append(batch)
            if keep == 0:
                break
        table = pa.Table.from_batches(batches, schema=reader.schema)
    except duckdb.Error as error:
        if fired.is_set():
            raise SqlTimeout(
                f"the query ran longer than its {timeout_s:g} s timeout and was stopped"
            ) from None
        raise SqlError(str(error)) from None
    finally:
        watchdog.disarm(alarm)
    return table.slice(0, limit), table.num_rows > limit


def json_value(value: Any) -> Any:
    """A value of a result row as JSON: ISO 8601 for times, null for NaN and infinities."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, datetime | date | dtime):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, dict):
        return {str(k): json_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_value(v) for v in value]
    if value is None or isinstance(value, bool | int | str):
        return value
    return str(value)
