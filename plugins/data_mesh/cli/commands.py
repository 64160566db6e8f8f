"""The CLI's commands: one implementation each, formatting the API-shaped answers of a `Backend`."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import IO, Any

from data_mesh.cli.backends import Backend


def _when(value: str | datetime | None) -> str:
    if value is None:
        return "-"
    if isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            return value
    else:
        moment = value
    moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def _table(rows: list[list[Any]], header: list[str]) -> str:
    cells = [header, *[[("-" if v is None else str(v)) for v in row] for row in rows]]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    lines = ["  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip() for row in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


@contextlib.contextmanager
def binary_output(target: str) -> Iterator[IO[bytes]]:
    """stdout for "-", else the file: written as `<file>.part` and renamed once complete."""
    if target == "-":
        yield sys.stdout.buffer
        sys.stdout.buffer.flush()
        return
    part = f"{target}.part"
    try:
        with open(part, "wb") as handle:
            yield handle
        os.replace(part, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(part)
        raise


def cmd_products(backend: Backend, args: argparse.Namespace) -> int:
    products = backend.products(args.search, args.domain)
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


def cmd_show(backend: Backend, args: argparse.Namespace) -> int:
    d = backend.product(args.product)
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
    pubs = backend.versions(d["id"], args.versions)
    print("\nVersions:")
    if not pubs:
        print("  never published")
    else:
        rows = [
            [
                p["version"],
                _when(p["published_at"]),
                p["partition"],
                p["rows"],
                p["bytes"],
                p["validation_success"],
                p["run_id"],
            ]
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


def cmd_lineage(backend: Backend, args: argparse.Namespace) -> int:
    graph = backend.lineage(args.product, args.depth)
    upstream: dict[str, list[str]] = {}
    downstream: dict[str, list[str]] = {}
    for edge in graph["edges"]:
        up = f"{edge['upstream_kind']}:{edge['upstream_id']}"
        down = f"{edge['downstream_kind']}:{edge['downstream_id']}"
        upstream.setdefault(down, []).append(up)
        downstream.setdefault(up, []).append(down)
    root = f"product:{graph['product_id']}"
    print(root)
    print("upstream:")
    _print_tree(root, upstream, args.depth, "  ", {root})
    print("downstream:")
    _print_tree(root, downstream, args.depth, "  ", {root})
    return 0


def cmd_access_log(backend: Backend, args: argparse.Namespace) -> int:
    page = backend.access_events(args.product, args.principal, args.limit)
    rows = [
        [
            _when(e["at"]),
            e["principal"],
            e["product_id"],
            e["version"],
            e["path"],
            "yes" if e["allowed"] else "NO",
            e["rows"],
            e["reason"],
        ]
        for e in page["items"]
    ]
    print(_table(rows, ["AT", "PRINCIPAL", "PRODUCT", "VERSION", "PATH", "ALLOWED", "ROWS", "REASON"]))
    print(f"({len(page['items'])} of {page['total']})")
    return 0


def cmd_openlineage(backend: Backend, args: argparse.Namespace) -> int:
    for event in backend.openlineage(args.product):
        print(json.dumps(event, sort_keys=True))
    return 0


def cmd_table(backend: Backend, args: argparse.Namespace) -> int:
    """Where a product's Iceberg table is, and how DuckDB, pyiceberg, Spark and Trino read it."""
    t = backend.table(args.product)
    latest = t["latest_snapshot"]
    where = f"Iceberg table {t['identifier']} in catalog {t['catalog']}"
    print(f"{t['product_id']}: {where}, v{latest['version']}")
    print(f"  location:  {t['location']}")
    print(f"  metadata:  {t['metadata_location']}")
    change = f"{latest['operation']}, partition {latest['changed_partition']}"
    print(f"  snapshot:  {latest['snapshot_id']} ({change})")
    print(f"  {t['note']}\n")
    for snippet in t["snippets"]:
        print(f"-- {snippet['engine']}\n{snippet['code']}\n")
    return 0


def cmd_odps(backend: Backend, args: argparse.Namespace) -> int:
    """The product's ODPS descriptor, as JSON or YAML: the text `GET .../odps?format=` answers."""
    from data_mesh.metadata.odps import render

    text = render(backend.odps(args.product), args.format)
    if args.output == "-":
        sys.stdout.write(text)
    else:
        with open(args.output, "w", encoding="utf-8") as out:
            out.write(text)
        print(f"{args.product}: ODPS descriptor ({args.format}) -> {args.output}", file=sys.stderr)
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


def cmd_download(backend: Backend, args: argparse.Namespace) -> int:
    if args.version is not None and args.as_of:
        raise ValueError("give --version or --as-of, not both")
    got = backend.download(
        args.product,
        lambda: binary_output(args.output),
        version=args.version,
        as_of=_as_of(args.as_of),
        columns=args.columns,
        fmt=args.format,
    )
    if got.warning:
        print(f"data-mesh: warning: {got.warning}", file=sys.stderr)
    if args.output != "-":
        print(f"{args.product} v{got.version}: {got.rows} rows -> {args.output}")
    return 0


def _summary(rows: int, products: list[dict[str, Any]], elapsed_ms: float | None, more_at: int | None) -> str:
    read = ", ".join(f"{p['id']} v{p['version']}" for p in products) or "no product"
    took = f" in {elapsed_ms:.0f} ms" if elapsed_ms is not None else ""
    more = f"; more rows follow: --offset {more_at}" if more_at is not None else ""
    return f"({rows} rows from {read}{took}{more})"


def cmd_sql(backend: Backend, args: argparse.Namespace) -> int:
    paging = {"limit": args.limit, "offset": args.offset, "timeout": args.timeout}
    next_page = args.offset + args.limit
    if args.format in ("csv", "parquet"):
        got = backend.sql_file(args.query, lambda: binary_output(args.output), fmt=args.format, **paging)
        more = next_page if got.truncated else None
        _warn(got.warnings)
        print(_summary(got.rows, got.products, got.elapsed_ms, more), file=sys.stderr)
        return 0
    result = backend.sql(args.query, **paging)
    if args.format == "json":
        text = json.dumps(result, sort_keys=True)
    else:
        text = _table(result["rows"], result["columns"])
    if args.output == "-":
        print(text)
    else:
        with open(args.output, "w", encoding="utf-8") as out:
            out.write(text + "\n")
    more = next_page if result["truncated"] else None
    _warn(result.get("warnings") or ())
    print(_summary(len(result["rows"]), result["products"], result["elapsed_ms"], more), file=sys.stderr)
    return 0


def _warn(warnings: Any) -> None:
    for warning in warnings:
        print(f"data-mesh: warning: {warning}", file=sys.stderr)


def cmd_check(args: argparse.Namespace) -> int:
    """Every policy (global, the domain's own, waivers) on every contract; 1 when one blocks."""
    from data_mesh.contract.policies.report import check_domains

    report = check_domains(args.domain)
    if not report.domains:
        raise ValueError(
            f"no contract found for domain {args.domain!r}" if args.domain else "no contract found"
        )
    if args.format == "json":
        print(json.dumps(report.to_dict(), indent=1))
    else:
        print(report.to_text())
    return 1 if report.blocking else 0


def _percent(ratio: float | None) -> str:
    return "-" if ratio is None else f"{100 * ratio:.1f} %"


def cmd_slo(backend: Backend, args: argparse.Namespace) -> int:
    """A product's freshness SLO: the state now, attainment over 7 and 30 days, daily history, alerts."""
    slo = backend.slo(args.product)
    if args.format == "json":
        print(json.dumps(slo, indent=1, sort_keys=True))
        return 0
    limit = (
        "no latency or frequency"
        if slo["sla_hours"] is None
        else f"newest partition at most {slo['sla_hours']:g} h old"
    )
    print(f"{slo['product_id']}  freshness SLO: {limit}")
    current = slo["current"]
    if current is None:
        print("  now: not evaluated yet (the data_mesh__slo DAG)")
    elif current["state"] == "unknown":
        print(f"  now: unknown ({current['reason']}) at {_when(current['evaluated_at'])}")
    else:
        hours = current["age_hours"]
        age = f"{hours:.1f} h old" if hours >= 0 else f"not ended yet, ends in {-hours:.1f} h"
        print(
            f"  now: {current['state']} (newest partition {current['newest_partition']}, {age}) at ", end=""
        )
        print(_when(current["evaluated_at"]))
    week, month = slo["attainment"]["7d"], slo["attainment"]["30d"]
    print(f"  attainment: 7 d {_percent(week['attainment'])}, 30 d {_percent(month['attainment'])}", end="")
    print(f"  (7 d: {week['met_hours']:.1f} h met, {week['violated_hours']:.1f} h violated)")
    days = [p for p in slo["series"] if p["attainment"] is not None]
    if days:
        print("\nDaily (days measured):")
        rows = [
            [p["day"], _percent(p["attainment"]), f"{p['met_hours']:.1f}", f"{p['violated_hours']:.1f}"]
            for p in days
        ]
        print(_table(rows, ["DAY", "ATTAINMENT", "MET_H", "VIOLATED_H"]))
    if slo["alerts"]:
        print("\nAlerts:")
        rows = [
            [_when(a["evaluated_at"]), a["alert"], a["state"], a["age_hours"], a["delivery"]]
            for a in slo["alerts"]
        ]
        print(_table(rows, ["EVALUATED", "ALERT", "STATE", "AGE_H", "DELIVERY"]))
    return 0


def cmd_trust(backend: Backend, args: argparse.Namespace) -> int:
    """A product's trust score, its components and the steps that raise it; or a domain's ranking."""
    trust = backend.trust(args.target)
    if args.format == "json":
        print(json.dumps(trust, indent=1, sort_keys=True))
        return 0
    if "products" in trust:  # a domain
        score = "-" if trust["score"] is None else f"{trust['score']:.1f}"
        print(f"domain {trust['domain']}: trust {score} ({trust['level']})")
        for rank, p in enumerate(trust["products"], 1):
            print(f"  {rank:>2}. {p['product_id']:<40} {p['score']:5.1f}  {p['level']}")
        return 0
    print(f"{trust['product_id']}: trust {trust['score']:.1f} / 100 ({trust['level']})")
    for c in trust["components"]:
        print(f"  {c['name']:<13} {c['points']:5.1f} / {c['weight']:<3} {c['detail']}")
    for step in trust["steps"]:
        print(f"  +{step['gain']:<5.1f} {step['step']}")
    return 0
