"""The SQL port's planning: which statement, which products, which of their columns a query reads.

Nothing here reads a product: the statement is checked and parsed by DuckDB, and the columns come
from DuckDB's plan of the query over empty tables of the contracts' schemas (see `governance.sql`),
in a planning database kept per shape (`sql_duckdb`).

The query may only name products and the table functions of `TABLE_FUNCTIONS`: a table function
reading files, tables or databases by name (`read_parquet`, `glob`, `query_table`, ...) is refused
before anything runs, wherever it is written (a subquery, a CTE, a join). The execution database can
read the data files of the products a query names, so this check is what keeps a query to the
views, and to the columns the access decision let through.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from data_mesh.contract.spec import ProductSpec
from data_mesh.governance.access import Principal, readable_columns
from data_mesh.governance.sql_duckdb import Kept, close, cursor, lockdown, parser

if TYPE_CHECKING:
    import duckdb
    import pyarrow as pa

    from data_mesh.metadata.store import AccessRequest

__all__ = ["ProductRef", "Shape", "SqlError", "SqlTimeout", "columns_used", "product_refs"]

MAX_SQL_CHARS = 100_000
FIRST_WORDS = ("SELECT", "WITH", "FROM", "(")
_VERSION = re.compile(r"^v(\d+)$", re.IGNORECASE)
# The only table functions a query may call: they make rows, they read nothing.
TABLE_FUNCTIONS = frozenset({"range", "generate_series", "unnest"})
# Functions refused wherever they are called (scalar or table): they read files, tables, databases,
# the environment, or run SQL of their own.
_REFUSED = re.compile(
    r"^(read_|parquet_|iceberg_|delta_|sqlite_|postgres_|mysql_|duckdb_|pragma_|json_execute_|glob$|"
    r"sniff_csv$|query$|query_table$|getenv$|current_setting$|load_extension$|which_secret$)"
)


class SqlError(ValueError):
    """The query is not one the port runs (bad SQL, a refused statement); the message says why."""


class SqlTimeout(SqlError):
    """The query ran longer than its timeout and was interrupted."""


@dataclass(frozen=True)
class ProductRef:
    """A product as a query names it: the SQL table (schema, name) and the version it asks for."""

    schema: str  # "" for a quoted "domain.product@..." name in DuckDB's main schema
    name: str
    product_id: str
    version: int | None = None
    as_of: datetime | None = None

    @property
    def sql_name(self) -> str:
        return f"{quote(self.schema)}.{quote(self.name)}" if self.schema else quote(self.name)


def single_select(sql: str) -> duckdb.Statement:
    """The one SELECT statement of `sql`, or SqlError saying what else it is."""
    import duckdb

    if not sql or not sql.strip():
        raise SqlError("the query is empty")
    if len(sql) > MAX_SQL_CHARS:
        raise SqlError(f"the query is {len(sql)} characters long; at most {MAX_SQL_CHARS} are accepted")
    try:
        statements = duckdb.extract_statements(sql)
    except duckdb.Error as error:
        raise SqlError(str(error)) from None
    if len(statements) != 1:
        raise SqlError(f"one statement per query: this text holds {len(statements)}")
    [statement] = statements
    # PRAGMA, SHOW, DESCRIBE and SUMMARIZE parse as SELECTs: the first word decides as well.
    # (on the text as written: DuckDB rewrites a PRAGMA into the SELECT it stands for)
    tokens = duckdb.tokenize(sql)
    text = sql[tokens[0][0] :] if tokens else ""
    first = "(" if text.startswith("(") else re.split(r"[^A-Za-z_]", text, maxsplit=1)[0].upper()
    if statement.type != duckdb.StatementType.SELECT or first not in FIRST_WORDS:
        kind = first or statement.type.name
        raise SqlError(f"only SELECT queries are allowed (SELECT, WITH or FROM first), not {kind}")
    return statement


def product_refs(statement: duckdb.Statement) -> list[ProductRef]:
    """The products a statement names, in the order written (each distinct name once).

    A call of a table function other than `TABLE_FUNCTIONS`, or of a refused function, is a SqlError
    naming it. (The answer for a text is kept: it depends on nothing else.)
    """
    return list(_parsed.get(statement.query, lambda: tuple(_parse(statement.query))))


_parsed: Kept[tuple[ProductRef, ...]] = Kept(512)  # query text -> the products it names


def _parse(query: str) -> list[ProductRef]:
    con = parser()
    try:
        text = con.execute("SELECT json_serialize_sql($1)", [query]).fetchone()
    finally:
        close(con)
    tree = json.loads(text[0] if text else "{}")
    if tree.get("error"):
        raise SqlError(tree.get("error_message") or "the query cannot be parsed")
    ctes: set[str] = set()
    tables: list[dict[str, Any]] = []
    for node in _walk(tree):
        cte_map = node.get("cte_map")
        if isinstance(cte_map, dict):
            ctes |= {entry.get("key", "") for entry in cte_map.get("map", [])}
        if node.get("type") == "BASE_TABLE":
            tables.append(node)
        elif node.get("type") == "TABLE_FUNCTION":
            _refuse_table_function(node)
        elif node.get("class") == "FUNCTION":
            _refuse_function(node)
    refs: dict[tuple[str, str], ProductRef] = {}
    for node in tables:
        ref = _ref(node, ctes)
        if ref is not None:
            refs.setdefault((ref.schema, ref.name), ref)
    return list(refs.values())


_NOT_HERE = (
    "reading files, tables or databases by name is disabled by configuration in the SQL port "
    f"(table functions allowed: {', '.join(sorted(TABLE_FUNCTIONS))}); name the products instead"
)


@functools.cache
def _system_views() -> frozenset[str]:
    """DuckDB's catalog views a query could name unqualified (duckdb_views, sqlite_master, pg_settings)."""
    con = parser()
    try:
        rows = con.execute("SELECT DISTINCT lower(view_name) FROM duckdb_views() WHERE internal").fetchall()
    finally:
        close(con)
    return frozenset(r[0] for r in rows)


def _refuse_table_function(node: dict[str, Any]) -> None:
    function = node.get("function")
    name = str(function.get("function_name", "")) if isinstance(function, dict) else ""
    if name.lower() not in TABLE_FUNCTIONS:
        raise SqlError(
            f"the table function {name or '?'}() is not in the catalog of the SQL port: {_NOT_HERE}"
        )


def _refuse_function(node: dict[str, Any]) -> None:
    name = str(node.get("function_name", ""))
    if _REFUSED.match(name.lower()):
        raise SqlError(f"the function {name}() is not in the catalog of the SQL port: {_NOT_HERE}")


def _walk(node: Any) -> Iterator[dict[str, Any]]:
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from _walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from _walk(value)


def _ref(node: dict[str, Any], ctes: set[str]) -> ProductRef | None:
    catalog, schema, name = node.get("catalog_name", ""), node.get("schema_name", ""), node["table_name"]
    if catalog:
        from data_mesh.exceptions import UnknownProductError

        raise UnknownProductError(f"{catalog}.{schema}.{name}")
    if not schema and ("." not in name or name in ctes):
        if name not in ctes and name.lower() in _system_views():
            raise SqlError(f"{name} is DuckDB's own catalog, which the SQL port does not show: {_NOT_HERE}")
        return None  # a CTE, or a name DuckDB reports as missing
    text = f"{schema}.{name}" if schema else name
    product_id, at, when = text.partition("@")
    if not at:
        return ProductRef(schema, name, product_id)
    if match := _VERSION.match(when):
        return ProductRef(schema, name, product_id, version=int(match.group(1)))
    try:
        instant = datetime.fromisoformat(when)
    except ValueError:
        raise SqlError(
            f'"{text}": after @ comes a version (v3) or an ISO 8601 instant (2026-11-20T10:00:00Z), '
            f"not {when!r}"
        ) from None
    return ProductRef(
        schema, name, product_id, as_of=instant if instant.tzinfo else instant.replace(tzinfo=UTC)
    )


def quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


@dataclass(frozen=True)
class Shape:
    """A product's table as the query binds it: every column it may bind, their DuckDB types, and the
    columns the plan actually reads (the others are typed NULLs the optimizer never reads)."""

    columns: tuple[str, ...]
    types: tuple[str, ...]
    used: tuple[str, ...]


def columns_used(
    statement: duckdb.Statement,
    principal: Principal,
    specs: dict[ProductRef, ProductSpec],
    grants: dict[ProductRef, list[AccessRequest]],
) -> dict[ProductRef, Shape]:
    """The columns of each product the query reads, from DuckDB's plan over empty tables.

    First over the readable columns only (so `*` means what the principal may read); if that does
    not bind, over every column (a query naming a forbidden column then binds, and is refused later).
    """
    readable = {ref: readable_columns(spec, principal, grants[ref]) for ref, spec in specs.items()}
    try:
        return _plan_columns(statement, specs, readable)
    except SqlError as first:
        everything = {ref: list(spec.column_names) for ref, spec in specs.items()}
        if everything == readable:
            raise
        try:
            return _plan_columns(statement, specs, everything)
        except SqlError:
            raise first from None


_EXPLAIN = "EXPLAIN (FORMAT json) "


@dataclass(frozen=True)
class _Planner:
    """A planning database: an empty table per product, named as the query names it."""

    db: duckdb.DuckDBPyConnection
    scans: dict[str, int]  # the name a scan of the plan gives a table -> the product's position
    types: tuple[tuple[str, ...], ...]  # DuckDB types of each product's columns


_planners: Kept[_Planner] = Kept(32)  # no data in them: a few MB each
# (shape, query text) -> DuckDB types and columns used of each product: the plan depends on nothing else
_plans: Kept[tuple[tuple[tuple[str, ...], ...], tuple[tuple[str, ...], ...]]] = Kept(512)


def _plan_columns(
    statement: duckdb.Statement, specs: dict[ProductRef, ProductSpec], columns: dict[ProductRef, list[str]]
) -> dict[ProductRef, Shape]:
    import duckdb
    import pyarrow as pa

    from data_mesh.storage.arrow import arrow_schema

    schemas = []
    for ref, spec in specs.items():
        whole = arrow_schema(spec)
        schemas.append(pa.schema([whole.field(c) for c in columns[ref] or [spec.column_names[0]]]))
    key = tuple(
        (ref.schema, ref.name, tuple((f.name, str(f.type)) for f in schema))
        for ref, schema in zip(specs, schemas, strict=True)
    )
    try:
        types, used = _plans.get(
            (key, statement.query), lambda: _plan(key, list(specs), schemas, statement.query)
        )
    except duckdb.Error as error:
        raise SqlError(_without_explain(str(error))) from None
    return {
        ref: Shape(tuple(schema.names), types[i], tuple(c for c in spec.column_names if c in used[i]))
        for i, ((ref, spec), schema) in enumerate(zip(specs.items(), schemas, strict=True))
    }


def _plan(
    key: tuple[Any, ...], refs: list[ProductRef], schemas: list[pa.Schema], query: str
) -> tuple[tuple[tuple[str, ...], ...], tuple[tuple[str, ...], ...]]:
    """EXPLAIN `query` in the planning database of `key`: each product's types and columns scanned."""
    planner = _planners.get(key, lambda: _new_planner(refs, schemas))
    con = cursor(planner.db)
    try:
        used: list[list[str]] = [[] for _ in refs]
        for _, name, projected in _scans(con, query):
            if (position := planner.scans.get(name)) is not None:
                used[position] += [c for c in projected if c not in used[position]]
    finally:
        close(con)
    return planner.types, tuple(tuple(u) for u in used)


def _new_planner(refs: list[ProductRef], schemas: list[pa.Schema]) -> _Planner:
    import duckdb

    con = duckdb.connect(":memory:")
    try:
        scans: dict[str, int] = {}
        types = []
        for i, (ref, schema) in enumerate(zip(refs, schemas, strict=True)):
            con.register(f"_empty_{i}", schema.empty_table())
            if ref.schema:
                con.execute(f"CREATE SCHEMA IF NOT EXISTS {quote(ref.schema)}")
            con.execute(f"CREATE TABLE {ref.sql_name} AS SELECT * FROM _empty_{i}")
            con.unregister(f"_empty_{i}")
            types.append(tuple(str(t) for t in con.sql(f"FROM {ref.sql_name}").types))
            [(_, name)] = [s[:2] for s in _scans(con, f"SELECT * FROM {ref.sql_name}")]
            scans[name] = i
        # Only the optimizer that prunes unused columns runs: no scan is folded away or pushed down.
        optimizers = [r[0] for r in con.execute("SELECT name FROM duckdb_optimizers()").fetchall()]
        disabled = ",".join(o for o in optimizers if o != "unused_columns")
        lockdown(con, (), f"SET disabled_optimizers = '{disabled}'")
    except BaseException:
        con.close()
        raise
    return _Planner(con, scans, tuple(types))


def _without_explain(message: str) -> str:
    """DuckDB's message about the user's query, as if the query had run itself (no EXPLAIN shown)."""
    lines = message.split("\n")
    for i, line in enumerate(lines):
        if line.startswith(f"LINE 1: {_EXPLAIN}"):
            lines[i] = "LINE 1: " + line[len(f"LINE 1: {_EXPLAIN}") :]
            if i + 1 < len(lines) and lines[i + 1].startswith(" " * len(_EXPLAIN)):
                lines[i + 1] = lines[i + 1][len(_EXPLAIN) :]
    return "\n".join(lines)


def _scans(con: duckdb.DuckDBPyConnection, query: str) -> Iterator[tuple[str, str, list[str]]]:
    """(operator, table, projected columns) of every table scan in the physical plan of `query`."""
    rows = con.execute(f"{_EXPLAIN}{query}").fetchall()
    for _, text in rows:
        for node in _walk(json.loads(text)):
            info = node.get("extra_info")
            if isinstance(info, dict) and "Table" in info:
                projected = info.get("Projections") or []
                yield node["name"], info["Table"], [projected] if isinstance(projected, str) else projected
