"""`data-mesh`: the catalog, lineage, access log, governed downloads and SQL from a terminal.

    data-mesh login [--url U] [--username NAME] [--password-stdin]    # stores your Airflow token
    data-mesh logout | whoami
    data-mesh products [--search X] [--domain D]
    data-mesh show <product>
    data-mesh lineage <product> [--depth N]
    data-mesh access-log [--product X] [--principal P] [--limit N]
    data-mesh openlineage <product>          # JSON lines, one RunEvent each
    data-mesh table <product>                # the Iceberg table and other engines' snippets
    data-mesh odps <product> [--format json|yaml] [-o FILE]    # the ODPS v1.1.0 product descriptor
    data-mesh download <product> [--version N | --as-of T] [--columns a,b] [--format csv|parquet] [-o FILE]
    data-mesh sql "<SELECT ...>" [--format table|csv|json|parquet] [--limit N] [--offset N] [-o FILE]
    data-mesh slo <product> [--format text|json]   # freshness SLO: state, attainment 7 d / 30 d, alerts
    data-mesh trust <product|domain> [--format text|json]   # trust score, level, steps (domain: ranked)

Governance, as the token's user (see `data_mesh.cli.governance`):

    data-mesh access <product>              # your readable/masked columns, roles, grants, pending
    data-mesh request-access <product> --columns a,b --purpose "..." --days N [--for-domain D]
    data-mesh requests [--product P] [--status pending|approved|denied|revoked] [--mine]
    data-mesh approve <id> [--reason R] | deny <id> --reason R | revoke <id> [--reason R]
    data-mesh usage <product>               # reads per consumer
    data-mesh audit [--product P] [--action A]
    data-mesh erase --subject COLUMN=VALUE [--delete-rows] --reason R      # admins
    data-mesh correct <product> --where k=v [...] (--set k=v [...] | --delete) --reason R

Governance as code, on this checkout's contracts (no api-server; exit 1 on a blocking finding):

    data-mesh check [--domain D] [--format text|json]

Self-serve scaffolding, into this checkout (no api-server; see `data_mesh.cli.scaffold`):

    data-mesh new-domain <d> --owner USER [--team T] [--support-channel C]
    data-mesh new-product <d>.<p> --source CONN_ID --endpoint PATH [--pagination P] [--auth A]
        [--param k=v ...] [--partition day|month] [--partition-column F] [--sample-partition KEY]

`access` without a product is still the access log (`access --product X`), with a note on stderr.

A client of the plugin's API on Airflow's api-server (`--url`, else DATA_MESH_API_URL, else
http://localhost:8080), like Airflow's own CLI: each call carries your Airflow token
(DATA_MESH_API_TOKEN, else the one `data-mesh login` stored; see `data_mesh.web.client`), so the
api-server decides who you are, what you may read, and records your reads (path "cli") under your
Airflow user. Nothing the caller sets (an OS user name, a header) is an identity.

`data-mesh --local-admin <command>` is the operators' mode on the platform host: it reads the
stores directly with the rights of whoever runs it (DATA_MESH_* settings), as the principal
`local-admin:<OS user>` with the admin role, says so on stderr, and audits its governed reads
with path "cli" (see `data_mesh.cli.local`).

Exit codes: 0 ok, 1 other error, 2 unknown product or bad arguments (HTTP 400, 404, 409, 422), 3 access
denied (403), 4 version not found, 5 not logged in or the token expired (run `data-mesh login`), 6 the
api-server is not reachable, 7 the product is retired (the message names its successor).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

from data_mesh.cli import commands, governance, scaffold
from data_mesh.cli.auth import add_parsers
from data_mesh.exceptions import (
    AccessDenied,
    ContractError,
    NotAllowed,
    ProductRetired,
    UnknownProductError,
    VersionNotFound,
)
from data_mesh.web.client import (
    DEFAULT_URL,
    TOKEN_ENV,
    URL_ENV,
    ApiError,
    LoginFailed,
    NotLoggedIn,
    Unreachable,
)

if TYPE_CHECKING:
    from data_mesh.cli.backends import Backend

__all__ = ["build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="data-mesh", description="Browse and read the mesh's data products."
    )
    parser.add_argument("--url", help=f"the Airflow api-server (DATA_MESH_API_URL, default {DEFAULT_URL})")
    parser.add_argument(
        "--local-admin",
        action="store_true",
        help="operators on the platform host: read the stores directly, bypassing the API (admin role)",
    )
    url_option = argparse.ArgumentParser(add_help=False)  # --url after the command too
    url_option.add_argument("--url", default=argparse.SUPPRESS, help="the Airflow api-server")
    sub = parser.add_subparsers(dest="command", required=True)
    add_parsers(sub, url_option)

    def command(name: str, func, text: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, parents=[url_option], help=text)
        p.set_defaults(func=func, auth=False)
        return p

    p = command("products", commands.cmd_products, "list the products and their health")
    p.add_argument("--search")
    p.add_argument("--domain")
    p = command("show", commands.cmd_show, "schema with classifications, versions and health of a product")
    p.add_argument("product")
    p.add_argument("--versions", type=int, default=10, help="how many versions to list")
    p = command("lineage", commands.cmd_lineage, "upstream and downstream lineage as a tree")
    p.add_argument("product")
    p.add_argument("--depth", type=int, default=3, choices=range(1, 11), metavar="1..10")
    p = command("access-log", commands.cmd_access_log, "the access log, newest first")
    p.add_argument("--product")
    p.add_argument("--principal")
    p.add_argument("--limit", type=int, default=50)
    p = command("openlineage", commands.cmd_openlineage, "the product's OpenLineage events as JSON lines")
    p.add_argument("product")
    p = command("download", commands.cmd_download, "read a version through the governed reader")
    p.add_argument("product")
    p.add_argument("--version", type=int)
    p.add_argument("--as-of", help="time travel: the version published at or before this ISO time")
    p.add_argument("--columns", help="comma-separated; default every column")
    p.add_argument("--format", choices=("csv", "parquet"), default="csv")
    p.add_argument("-o", "--output", default="-")
    p = command("table", commands.cmd_table, "the product's Iceberg table and how other engines read it")
    p.add_argument("product")
    p = command("odps", commands.cmd_odps, "the product's ODPS v1.1.0 descriptor (ports, owner, contract)")
    p.add_argument("product")
    p.add_argument("--format", choices=("json", "yaml"), default="json")
    p.add_argument("-o", "--output", default="-")
    p = command("sql", commands.cmd_sql, "run one SELECT over data products (governed reads)")
    p.add_argument("query", help='e.g. "SELECT region, sum(amount) FROM sales.customer_orders GROUP BY 1"')
    p.add_argument("--format", choices=("table", "csv", "json", "parquet"), default="table")
    p.add_argument("--limit", type=int, default=1000)
    p.add_argument("--offset", type=int, default=0)
    p.add_argument("--timeout", type=float, default=30.0, help="seconds (at most 30 through the API)")
    p.add_argument("-o", "--output", default="-")
    p = command("slo", commands.cmd_slo, "freshness SLO: state now, attainment over 7 and 30 days, alerts")
    p.add_argument("product")
    p.add_argument("--format", choices=("text", "json"), default="text")
    p = command(
        "trust", commands.cmd_trust, "trust score and quality level of a product, or a domain's ranking"
    )
    p.add_argument("target", help="a product id (domain.product) or a domain")
    p.add_argument("--format", choices=("text", "json"), default="text")
    governance.add_parsers(sub, url_option)
    p = sub.add_parser("check", help="every policy on every contract of this checkout, per domain")
    p.set_defaults(func=commands.cmd_check, auth=False, offline=True)
    p.add_argument("--domain")
    p.add_argument("--format", choices=("text", "json"), default="text")
    scaffold.add_parsers(sub)
    return parser


def _backend(args: argparse.Namespace) -> Backend:
    if args.local_admin:
        from data_mesh.cli.local import LocalBackend, warning

        backend = LocalBackend()
        print(warning(backend.principal), file=sys.stderr)
        return backend
    from data_mesh.cli.backends import ApiBackend
    from data_mesh.web.client import ApiClient

    return ApiBackend(ApiClient.from_environment(args.url))


def _login_hint(error: NotLoggedIn) -> str:
    if error.token_source == TOKEN_ENV:
        return f"the token in {TOKEN_ENV} was refused: set a fresh one, or unset it and run `data-mesh login`"
    url = "" if error.url == DEFAULT_URL else f" --url {error.url}"
    return f"not logged in to {error.url} or the token expired: run `data-mesh login{url}`"


def _api_error(error: ApiError) -> tuple[int, str]:
    """The exit code and message of a refusal by the api-server (its `detail` is the message)."""
    if error.kind == "no_route":
        return 1, error.detail
    if error.status == 403:
        return 3, f"access denied: {error.detail}"
    if error.status == 404:
        version = error.kind == "version_not_found" or (error.kind is None and "version" in error.detail)
        return (4 if version else 2), error.detail
    if error.status == 410:
        return 7, error.detail
    if error.status in (400, 409, 422):
        return 2, error.detail
    return 1, f"the api-server answered {error.status}: {error.detail}"


def _run(args: argparse.Namespace) -> int:
    if getattr(args, "offline", False):  # reads this checkout's contracts, like `datacontract lint`
        return args.func(args)
    if args.auth:
        if args.local_admin:
            raise ValueError(f"{args.command} is about the API; --local-admin does not apply")
        return args.func(args)
    if args.local_admin and args.url:
        raise ValueError("--local-admin reads the local stores; it takes no --url")
    return args.func(_backend(args), args)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return _run(args)
    except UnknownProductError as error:
        message, code = str(error), 2
    except (AccessDenied, NotAllowed) as error:
        message, code = f"access denied: {error}", 3
    except VersionNotFound as error:
        message, code = str(error), 4
    except ProductRetired as error:
        message, code = str(error), 7
    except (ValueError, ContractError) as error:
        message, code = str(error), 2
    except LoginFailed as error:
        message, code = f"login to {error.url} failed: {error.detail}", 5
    except NotLoggedIn as error:
        message, code = f"{error.detail}: {_login_hint(error)}", 5
    except Unreachable as error:
        message, code = f"{error}; is it running, and is this its URL? (--url or {URL_ENV})", 6
    except ApiError as error:
        code, message = _api_error(error)
    except OSError as error:
        message, code = str(error), 1
    print(f"data-mesh: {message}", file=sys.stderr)
    return code
