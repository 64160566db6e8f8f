"""`data-mesh`: the catalog, lineage, access log and OpenLineage events from a terminal.

    data-mesh products [--search X] [--domain D]
    data-mesh show <product>
    data-mesh lineage <product> [--depth N]
    data-mesh access [--product X] [--principal P] [--limit N]
    data-mesh openlineage <product>          # JSON lines, one RunEvent each
    data-mesh download <product> [--version N] [--columns a,b] [--format csv|parquet] [-o FILE]
    data-mesh sql "<SELECT ...>" [--format table|csv|json|parquet] [--limit N] [--offset N] [-o FILE]

Reads the same metadata store as Airflow and the API (DATA_MESH_* settings). `download` goes
through the governed reader (path "cli", principal = the OS user, no restricted columns); so does
`sql`, which runs one SELECT over the products it names (`sales.customer_orders`,
`"sales.customer_orders@v3"`), see `data_mesh.governance.sql`.
Exit codes: 0 ok, 2 unknown product or bad arguments, 3 access denied, 4 version not found.
"""

from __future__ import annotations

import argparse
import getpass
import json
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from data_mesh.contract import registry
from data_mesh.exceptions import AccessDenied, UnknownProductError, VersionNotFound


def _store():
    from data_mesh.metadata.store import MetadataStore

    return MetadataStore()


def _when(value: datetime | None) -> str:
    if value is None:
        return "-"
    return (value if value.tzinfo else value.replace(tzinfo=UTC)).strftime("%Y-%m-%d %H:%M:%SZ")


def _table(rows: list[list[Any]], header: list[str]) -> str:
    cells = [header, *[[("-" if v is None else str(v)) for v in row] for row in rows]]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    lines = ["  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip() for row in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def cmd_products(args: argparse.Namespace) -> int:
    from data_mesh.metadata.catalog import product_summaries

    products = product_summaries(args.search, args.domain)
    if not products:
        print("no data product matches")
        return 0
    rows = [
        [p["id"], p["owner"], p["status"], p["latest_version"], p["latest_rows"], p["latest_published_at"]]
        for p in products
    ]
    print(_table(rows, ["PRODUCT", "OWNER", "STATUS", "VERSION", "ROWS", "PUBLISHED"]))
    return 0


def _key(column: dict[str, Any]) -> str:
    return "pk" if column["primary_key"] else ""


def cmd_show(args: argparse.Namespace) -> int:
    from data_mesh.metadata.catalog import product_detail

    d = product_detail(args.product)
    print(f"{d['id']}  ({d['status']})")
    print(f"  {d['description']}")
    print(f"  owner: {d['owner']}   contract: {d['contract_id']} v{d['contract_version']}", end="")
    print(f" ({d['contract_status']})")
    sla = d["sla"]
    print(f"  SLA: frequency {sla['frequency'] or 'asset-triggered'}, latency {sla['latency_hours']} h")
    if d["inputs"]:
        print(f"  inputs: {', '.join(d['inputs'])}")
    print("\nSchema:")
    cols = [
        [c["name"], c["logical_type"], c["classification"], _key(c), c["description"]] for c in d["columns"]
    ]
    print(_table(cols, ["COLUMN", "TYPE", "CLASSIFICATION", "KEY", "DESCRIPTION"]))
    pubs = _store().list_publications(d["id"], limit=args.versions)
    print("\nVersions:")
    if not pubs:
        print("  never published")
    else:
        rows = [
            [p.version, _when(p.published_at), p.partition, p.rows, p.bytes, p.validation_success, p.run_id]
            for p in pubs
        ]
        print(_table(rows, ["VERSION", "PUBLISHED", "PARTITION", "ROWS", "BYTES", "VALID", "RUN"]))
    return 0


def _print_tree(node: str, children: dict[str, list[str]], depth: int, prefix: str, seen: set[str]) -> None:
    kids = children.get(node, [])
    for i, child in enumerate(kids):
        last = i == len(kids) - 1
        print(f"{prefix}{'└── ' if last else '├── '}{child}")
        if depth > 1 and child not in seen:
            _print_tree(child, children, depth - 1, prefix + ("    " if last else "│   "), seen | {child})


def cmd_lineage(args: argparse.Namespace) -> int:
    spec = registry.get_product(args.product)
    graph = _store().lineage(spec.id, depth=args.depth)
    upstream: dict[str, list[str]] = {}
    downstream: dict[str, list[str]] = {}
    for edge in graph.edges:
        up, down = edge.upstream.key, edge.downstream.key
        upstream.setdefault(down, []).append(up)
        downstream.setdefault(up, []).append(down)
    root = f"product:{spec.id}"
    print(root)
    print("upstream:")
    _print_tree(root, upstream, args.depth, "  ", {root})
    print("downstream:")
    _print_tree(root, downstream, args.depth, "  ", {root})
    return 0


def _yes(value: bool) -> str:
    return "yes" if value else "NO"


def cmd_access(args: argparse.Namespace) -> int:
    if args.product:
        registry.get_product(args.product)
    page = _store().list_access_events(product_id=args.product, principal=args.principal, limit=args.limit)
    rows = [
        [_when(e.at), e.principal, e.product_id, e.version, e.path, _yes(e.allowed), e.rows, e.reason]
        for e in page.items
    ]
    print(_table(rows, ["AT", "PRINCIPAL", "PRODUCT", "VERSION", "PATH", "ALLOWED", "ROWS", "REASON"]))
    print(f"({len(page.items)} of {page.total})")
    return 0


def cmd_openlineage(args: argparse.Namespace) -> int:
    from data_mesh.metadata.openlineage import product_events

    for event in product_events(registry.get_product(args.product).id, _store()):
        print(json.dumps(event, sort_keys=True))
    return 0


def cmd_sql(args: argparse.Namespace) -> int:
    from data_mesh.governance.access import Principal
    from data_mesh.governance.sql import json_value, run_sql
    from data_mesh.metadata.catalog import write_batches

    principal = Principal(name=getpass.getuser(), kind="user")
    result = run_sql(
        args.query, principal, path="cli", limit=args.limit, offset=args.offset, timeout_s=args.timeout
    )
    if args.format in ("csv", "parquet"):
        batches = result.table.to_batches()
        if args.output == "-":
            write_batches(result.table.schema, batches, args.format, sys.stdout.buffer)
        else:
            with open(args.output, "wb") as handle:
                write_batches(result.table.schema, batches, args.format, handle)
    else:
        if args.format == "json":
            text = json.dumps(result.to_dict(), sort_keys=True)
        else:
            text = _table([[json_value(v) for v in row] for row in result.rows], result.columns)
        if args.output == "-":
            print(text)
        else:
            with open(args.output, "w", encoding="utf-8") as out:
                out.write(text + "\n")
    read = ", ".join(f"{p.id} v{p.version}" for p in result.products) or "no product"
    more = f"; more rows follow: --offset {result.offset + result.limit}" if result.truncated else ""
    print(f"({result.table.num_rows} rows from {read} in {result.elapsed_ms:.0f} ms{more})", file=sys.stderr)
    return 0


def _as_of(text: str | None) -> datetime | None:
    """An ISO time for time travel; naive means UTC."""
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"--as-of {text!r} is not an ISO date or time (e.g. 2026-11-20T10:00:00Z)") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def cmd_table(args: argparse.Namespace) -> int:
    """Where a product's Iceberg table is, and how DuckDB, pyiceberg, Spark and Trino read it."""
    from data_mesh.metadata.snippets import table_snippets
    from data_mesh.storage.products import product_storage

    spec = registry.get_product(args.product)
    storage = product_storage(spec)
    location = storage.metadata_location()
    latest = storage.version()
    print(f"{spec.id}: Iceberg table {spec.domain}.{spec.name} in catalog mesh, v{latest.version}")
    print(f"  location:  {storage.uri}")
    print(f"  metadata:  {location}")
    print(f"  snapshot:  {latest.snapshot_id} ({latest.operation}, partition {latest.changed_partition})")
    print("  direct reads of the table files skip the platform's access checks and audit\n")
    for snippet in table_snippets(spec, location):
        print(f"-- {snippet.engine}\n{snippet.code}\n")
    return 0


def cmd_download(args: argparse.Namespace) -> int:
    from data_mesh.governance.access import Principal
    from data_mesh.governance.reader import read_batches
    from data_mesh.metadata.catalog import parse_columns, write_batches

    columns = parse_columns(args.columns)
    principal = Principal(name=getpass.getuser(), kind="user")
    resolved, schema, batches = read_batches(
        args.product,
        principal,
        purpose="download with the CLI",
        path="cli",
        version=args.version,
        as_of=_as_of(args.as_of),
        columns=columns,
    )
    if args.output == "-":
        write_batches(schema, batches, args.format, sys.stdout.buffer)
    else:
        with open(args.output, "wb") as handle:
            rows = write_batches(schema, batches, args.format, handle)
        print(f"{args.product} v{resolved.version}: {rows} rows -> {args.output}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="data-mesh", description="Browse the data mesh's products.")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("products", help="list the products and their health")
    p.add_argument("--search")
    p.add_argument("--domain")
    p.set_defaults(func=cmd_products)
    p = sub.add_parser("show", help="schema with classifications, versions and health of a product")
    p.add_argument("product")
    p.add_argument("--versions", type=int, default=10, help="how many versions to list")
    p.set_defaults(func=cmd_show)
    p = sub.add_parser("lineage", help="upstream and downstream lineage as a tree")
    p.add_argument("product")
    p.add_argument("--depth", type=int, default=3, choices=range(1, 11), metavar="1..10")
    p.set_defaults(func=cmd_lineage)
    p = sub.add_parser("access", help="the access log, newest first")
    p.add_argument("--product")
    p.add_argument("--principal")
    p.add_argument("--limit", type=int, default=50)
    p.set_defaults(func=cmd_access)
    p = sub.add_parser("openlineage", help="the product's OpenLineage events as JSON lines")
    p.add_argument("product")
    p.set_defaults(func=cmd_openlineage)
    p = sub.add_parser("download", help="read a version through the governed reader")
    p.add_argument("product")
    p.add_argument("--version", type=int)
    p.add_argument("--as-of", help="time travel: the version published at or before this ISO time")
    p.add_argument("--columns")
    p.add_argument("--format", choices=("csv", "parquet"), default="csv")
    p.add_argument("-o", "--output", default="-")
    p.set_defaults(func=cmd_download)
    p = sub.add_parser("table", help="the product's Iceberg table and how other engines read it")
    p.add_argument("product")
    p.set_defaults(func=cmd_table)
    p = sub.add_parser("sql", help="run one SELECT over data products (governed reads)")
    p.add_argument("query", help='e.g. "SELECT region, sum(amount) FROM sales.customer_orders GROUP BY 1"')
    p.add_argument("--format", choices=("table", "csv", "json", "parquet"), default="table")
    p.add_argument("--limit", type=int, default=1000)
    p.add_argument("--offset", type=int, default=0)
    p.add_argument("--timeout", type=float, default=30.0, help="seconds")
    p.add_argument("-o", "--output", default="-")
    p.set_defaults(func=cmd_sql)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except UnknownProductError as error:
        print(f"data-mesh: {error}", file=sys.stderr)
        return 2
    except AccessDenied as error:
        print(f"data-mesh: access denied: {error}", file=sys.stderr)
        return 3
    except VersionNotFound as error:
        print(f"data-mesh: {error}", file=sys.stderr)
        return 4
    except ValueError as error:
        print(f"data-mesh: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
