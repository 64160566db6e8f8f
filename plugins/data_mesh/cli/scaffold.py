"""`data-mesh new-domain` and `data-mesh new-product`: the parsers and the printing, nothing else.

The work is `data_mesh.scaffold` (imported when the command runs: it needs Airflow for the
Connection). Offline commands, like `check`: they write into this checkout (DATA_MESH_HOME), never
through the api-server. A refusal is a ValueError, so exit 2 with its message.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any


def _shown(path: Path) -> str:
    """A written path, relative to the home when it is inside it (as the README shows them)."""
    from data_mesh import conf

    try:
        return str(path.resolve().relative_to(conf.home()))
    except ValueError:
        return str(path)


def add_parsers(sub: Any) -> None:
    from data_mesh.contract.spec import Auth

    p = sub.add_parser("new-domain", help="create a domain: domains/<d>/, dags/<d>.py, expectations/<d>/")
    p.set_defaults(func=cmd_new_domain, auth=False, offline=True)
    p.add_argument("name", help="snake_case, e.g. growth")
    p.add_argument("--owner", required=True, help="the owner's user name (the contracts' team owner)")
    p.add_argument("--team", help="the team's name (default: <name>-team)")
    p.add_argument("--support-channel", default="", help='where consumers ask, e.g. "#growth-data"')
    p.add_argument("--support-url", default="")
    p = sub.add_parser(
        "new-product", help="sample a source and write the product's contract, GX suite and transform"
    )
    p.set_defaults(func=cmd_new_product, auth=False, offline=True)
    p.add_argument("product", help="<domain>.<product>, e.g. growth.campaign_stats")
    p.add_argument("--source", required=True, metavar="CONN_ID", help="the source's Airflow connection id")
    p.add_argument("--endpoint", required=True, help="the path, e.g. /ads/v1/campaign-performance")
    p.add_argument("--pagination", default="none", help="a registered paginator (see the error for the list)")
    p.add_argument("--auth", default="none", choices=[a.value for a in Auth])
    p.add_argument("--param", action="append", default=[], metavar="K=V", help="query parameter; repeatable")
    p.add_argument("--partition", default="day", choices=("day", "month"), help="partition granularity")
    p.add_argument("--partition-column", help="the date/timestamp field to partition by (default: the first)")
    p.add_argument("--sample-partition", help="the partition to sample (default: the last complete one)")
    p.add_argument("--records-field", default="data", help="the JSON key holding a page's records")
    p.add_argument("--cursor-field", default="next_cursor", help="the JSON key holding the next cursor")
    p.add_argument("--page-size", type=int, default=500)
    p.add_argument("--source-name", help="the source's name in the contract (default: from the endpoint)")


def cmd_new_domain(args: argparse.Namespace) -> int:
    from data_mesh.scaffold.domain import new_domain

    files = new_domain(
        args.name, args.owner, team=args.team,
        support_channel=args.support_channel, support_url=args.support_url,
    )  # fmt: skip
    print(f"domain {args.name} created, owned by {args.owner}:")
    for path in files:
        print(f"  {_shown(path)}")
    print(f"next: data-mesh new-product {args.name}.<product> --source <connection id> --endpoint <path>")
    return 0


def cmd_new_product(args: argparse.Namespace) -> int:
    from data_mesh.scaffold.product import SourceOptions, new_product, parse_params

    options = SourceOptions(
        conn_id=args.source, endpoint=args.endpoint, pagination=args.pagination, auth=args.auth,
        params=parse_params(args.param), records_field=args.records_field, cursor_field=args.cursor_field,
        page_size=args.page_size, name=args.source_name,
    )  # fmt: skip
    result = new_product(
        args.product, options, granularity=args.partition,
        partition_column=args.partition_column, sample_partition=args.sample_partition,
    )  # fmt: skip
    inf = result.inference
    print(
        f"sampled {inf.rows} records of {args.endpoint} (partition {result.window.key}) through {args.source}"
    )
    width = max(len(c.name) for c in inf.columns)
    for col in inf.columns:
        flags = [
            "required" if col.required else ("optional: null in the sample" if col.optional else ""),
            "key" if col.name in inf.primary_key else "",
            f"partition ({args.partition})" if col.name == inf.partition_column else "",
        ]
        origin = f"date of {col.field}" if col.derived else col.field
        shown = ", ".join(f for f in flags if f)
        print(
            f"  {col.name:<{width}}  {col.logical_type:<9}  <- {origin}{'  [' + shown + ']' if shown else ''}"
        )
    for skipped in inf.skipped:
        print(f"  skipped: {skipped}")
    if not inf.primary_key:
        print("  no key candidate in the sample: mark the primaryKey columns in the contract")
    print("wrote:")
    for path in result.files:
        print(f"  {_shown(path)}")
    print(
        f"{result.todos} TODO(s) left for a person (purpose, usage, each column's description and "
        f"classification): fill them in, then `data-mesh check --domain {result.product_id.split('.')[0]}`"
    )
    return 0
