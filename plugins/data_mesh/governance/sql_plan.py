"""The SQL port's planning: which statement, which products, which of their columns a query reads.

Nothing here reads a product: the statement is checked and parsed by DuckDB, and the columns come
from DuckDB's plan of the query over empty tables of the contracts' schemas (see `governance.sql`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from data_mesh.contract.spec import ProductSpec
from data_mesh.governance.access import Principal, readable_columns

if TYPE_CHECKING:
    import duckdb

    from data_mesh.metadata.store import AccessRequest

MAX_SQL_CHARS = 100_000
FIRST_WORDS = ("SELECT", "WITH", "FROM", "(")
_VERSION = re.compile(r"^v(\d+)$", re.IGNORECASE)
# Settings made before the lock: no extension is installed or loaded behind the query's back.
LOCKDOWN = (
    "SET autoinstall_known_extensions = false",
    "SET autoload_known_extensions = false",
    "SET enable_external_access = false",
    "SET lock_configuration = true",
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
    """The products a statement names, in the order written (each distinct name once)."""
    import duckdb

    con = duckdb.connect(":memory:")
    try:
        text = con.execute("SELECT json_serialize_sql($1)", [statement.query]).fetchone()
    finally:
        con.close()
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
    refs: dict[tuple[str, str], ProductRef] = {}
    for node in tables:
        ref = _ref(node, ctes)
        if ref is not None:
            refs.setdefault((ref.schema, ref.name), ref)
    return list(refs.values())


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


def _plan_columns(
    statement: duckdb.Statement, specs: dict[ProductRef, ProductSpec], columns: dict[ProductRef, list[str]]
) -> dict[ProductRef, Shape]:
    import duckdb

    from data_mesh.storage.arrow import arrow_schema

    con = duckdb.connect(":memory:")
    try:
        scans: dict[str, ProductRef] = {}
        types: dict[ProductRef, tuple[str, ...]] = {}
        for i, (ref, spec) in enumerate(specs.items()):
            wanted = columns[ref] or [spec.column_names[0]]
            con.register(f"_empty_{i}", arrow_schema(spec).empty_table().select(wanted))
            if ref.schema:
                con.execute(f"CREATE SCHEMA IF NOT EXISTS {quote(ref.schema)}")
            con.execute(f"CREATE TABLE {ref.sql_name} AS SELECT * FROM _empty_{i}")
            con.unregister(f"_empty_{i}")
            types[ref] = tuple(str(t) for t in con.sql(f"FROM {ref.sql_name}").types)
            [(_, name)] = [s[:2] for s in _scans(con, f"SELECT * FROM {ref.sql_name}")]
            scans[name] = ref
        # Only the optimizer that prunes unused columns runs: no scan is folded away or pushed down.
        optimizers = [r[0] for r in con.execute("SELECT name FROM duckdb_optimizers()").fetchall()]
        disabled = ",".join(o for o in optimizers if o != "unused_columns")
        con.execute(f"SET disabled_optimizers = '{disabled}'")
        for setting in LOCKDOWN:
            con.execute(setting)
        used: dict[ProductRef, list[str]] = {ref: [] for ref in specs}
        for _, name, projected in _scans(con, statement.query):
            if (scanned := scans.get(name)) is not None:
                used[scanned] += [c for c in projected if c not in used[scanned]]
    except duckdb.Error as error:
        raise SqlError(_without_explain(str(error))) from None
    finally:
        con.close()
    return {
        ref: Shape(
            tuple(columns[ref] or [spec.column_names[0]]),
            types[ref],
            tuple(c for c in spec.column_names if c in used[ref]),
        )
        for ref, spec in specs.items()
    }


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
