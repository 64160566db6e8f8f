"""The CLI's governance commands: access, requests and their decisions, usage, audit, erase, correct.

Each one is an API call as the token's user: who requests, approves, erases or corrects is always
the user the api-server reads from the token, never an argument. The rules are the api-server's
(`governance.requests`, the erasure and correction endpoints); these commands only shape the call
and print the answer. `erase` never prints the subject's value, not even in an error.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import Any

from data_mesh.cli import commands
from data_mesh.cli.backends import Backend
from data_mesh.cli.commands import _table, _when
from data_mesh.web.client import ApiError

STATUSES = ("pending", "approved", "denied", "revoked")
LOG_FLAGS = ("product", "principal", "limit")


def _list(values: Any) -> str:
    if isinstance(values, str):
        return values
    return ", ".join(str(v) for v in values) or "-"


def _short(text: str | None, width: int = 60) -> str | None:
    return text if text is None or len(text) <= width else text[: width - 3] + "..."


def _days(value: float) -> str:
    return f"{value:g}"


def _requester(r: dict[str, Any]) -> str:
    if r["requester_kind"] == "domain":
        return f"domain {r['requester']} (by {r['requested_by']})"
    return r["requester"]


def _requests_table(items: list[dict[str, Any]]) -> str:
    rows = [
        [
            r["id"],
            r["product_id"],
            _requester(r),
            _list(r["columns"]),
            _days(r["duration_days"]),
            r["status"],
            _when(r["created_at"]),
            r["decided_by"],
            _when(r["expires_at"]) if r["expires_at"] else None,
            _short(r["purpose"]),
        ]
        for r in items
    ]
    header = ["ID", "PRODUCT", "REQUESTER", "COLUMNS", "DAYS", "STATUS", "CREATED", "DECIDED BY", "EXPIRES"]
    return _table(rows, [*header, "PURPOSE"])


def _required(text: str | None, what: str) -> str:
    if not (text and text.strip()):
        raise ValueError(what)
    return text.strip()


# ---- access -----------------------------------------------------------------------------------


def cmd_access(backend: Backend, args: argparse.Namespace) -> int:
    """`access <product>`: your access; `access [--product P] ...` (no product): the access log."""
    log_flags = [f"--{f}" for f in LOG_FLAGS if getattr(args, f) is not None]
    if args.target is None:
        print(
            "data-mesh: note: the access log is `data-mesh access-log` now; "
            "`data-mesh access <product>` shows your access to a product",
            file=sys.stderr,
        )
        args.limit = 50 if args.limit is None else args.limit
        return commands.cmd_access_log(backend, args)
    if log_flags:
        raise ValueError(
            f"`access <product>` shows your access to it and takes no {', '.join(log_flags)}: "
            "for the access log run `data-mesh access-log --product P [--principal X] [--limit N]`"
        )
    return _overview(backend.access(args.target))


def _overview(o: dict[str, Any]) -> int:
    me = o["me"]
    steward = " (you steward it: you decide its access requests)" if me["may_steward"] else ""
    print(f"{o['product_id']}: access of {me['name']}{steward}")
    print(f"  readable: {_list(me['readable_columns'])}")
    print(f"  masked:   {_list(me['masked_columns'])}")
    print("\nContract roles:")
    roles = [
        [r["role"], _list(r["domains"]), _list(r["airflow_roles"]), _list(r["users"]), _list(r["columns"])]
        for r in o["roles"]
    ]
    print(_table(roles, ["ROLE", "DOMAINS", "AIRFLOW ROLES", "USERS", "COLUMNS"]))
    for title, items in (("Active grants", o["grants"]), ("Pending requests", o["pending"])):
        print(f"\n{title}:")
        print(_requests_table(items) if items else "  none")
    if o["pending"] and me["may_steward"]:
        print("\ndecide with: data-mesh approve <id> [--reason R] | data-mesh deny <id> --reason R")
    elif me["masked_columns"]:
        print(f"\nrequest more: data-mesh request-access {o['product_id']} --columns C --purpose P --days N")
    return 0


def cmd_request_access(backend: Backend, args: argparse.Namespace) -> int:
    columns = [c.strip() for c in (args.columns or "").split(",") if c.strip()]
    if not columns:
        raise ValueError("--columns names the columns you need, e.g. --columns customer_email")
    purpose = _required(args.purpose, "--purpose says what the data will be used for (it is required)")
    r = backend.request_access(
        args.product, columns=columns, purpose=purpose, days=args.days, domain=args.for_domain
    )
    print(f"access request #{r['id']}: {r['status']}")
    who = f"domain {r['requester']}'s DAGs" if r["requester_kind"] == "domain" else r["requester"]
    print(f"  {r['product_id']}: {_list(r['columns'])} for {_days(r['duration_days'])} days, for {who}")
    print(f"  purpose: {r['purpose']}")
    if r["status"] == "pending":
        print(f"  the owning team of {r['product_id']} or an admin decides it (data-mesh requests --mine)")
    return 0


def cmd_requests(backend: Backend, args: argparse.Namespace) -> int:
    items = backend.requests(args.product, args.status, mine=args.mine, limit=args.limit)
    if not items:
        print("no access request matches")
        return 0
    print(_requests_table(items))
    print(f"({len(items)} request{'' if len(items) == 1 else 's'})")
    return 0


def cmd_decide(backend: Backend, args: argparse.Namespace) -> int:
    if args.decision == "deny":
        _required(args.reason, 'deny needs --reason: the requester reads why (e.g. --reason "no need shown")')
    reason = args.reason.strip() if args.reason and args.reason.strip() else None
    r = backend.decide(args.id, args.decision, reason)
    head = f"access request #{r['id']} ({r['product_id']}, {_requester(r)}, {_list(r['columns'])})"
    if args.decision == "approve":
        print(f"{head}: approved by {r['decided_by']}; the grant expires {_when(r['expires_at'])}")
    elif args.decision == "deny":
        print(f"{head}: denied by {r['decided_by']}: {r['decision_reason']}")
    else:
        print(f"{head}: revoked by {r['revoked_by']}; effective on the next read")
    return 0


# ---- usage and audit ---------------------------------------------------------------------------


def cmd_usage(backend: Backend, args: argparse.Namespace) -> int:
    u = backend.usage(args.product)
    if not u["consumers"]:
        print(f"no reads of {u['product_id']} yet")
        return 0
    rows = [
        [
            c["principal"],
            c["reads"],
            c["rows"],
            _list(c["columns"]),
            _list([_short(p, 40) for p in c["purposes"]]),
            _list(c["paths"]),
            _when(c["last_at"]),
        ]
        for c in u["consumers"]
    ]
    print(f"{u['product_id']}: reads per consumer (allowed reads)")
    print(_table(rows, ["CONSUMER", "READS", "ROWS", "COLUMNS", "PURPOSES", "PATHS", "LAST READ"]))
    return 0


def cmd_audit(backend: Backend, args: argparse.Namespace) -> int:
    items = backend.audit(args.product, args.action, args.limit)
    if not items:
        print("no audit event matches")
        return 0
    rows = [
        [_when(e["at"]), e["actor"], e["action"], e["product_id"], json.dumps(e["detail"], sort_keys=True)]
        for e in items
    ]
    print(_table(rows, ["AT", "ACTOR", "ACTION", "PRODUCT", "DETAIL"]))
    print(f"({len(items)} event{'' if len(items) == 1 else 's'})")
    return 0


# ---- erase and correct -------------------------------------------------------------------------


def _pairs(items: Sequence[str] | None, option: str) -> dict[str, str]:
    """`k=v` options as a dict (an empty value means null to the api-server)."""
    found: dict[str, str] = {}
    for item in items or ():
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ValueError(f"{option} is COLUMN=VALUE, not {item!r}")
        if key in found:
            raise ValueError(f"{option} names {key!r} twice")
        found[key] = value
    return found


def _scrubbed(error: Exception, value: str) -> str:
    return str(error.detail if isinstance(error, ApiError) else error).replace(value, "***")


def cmd_erase(backend: Backend, args: argparse.Namespace) -> int:
    column, sep, value = (args.subject or "").partition("=")
    if not sep or not column.strip() or not value:
        raise ValueError("--subject is COLUMN=VALUE, e.g. --subject customer_email=alice@example.com")
    reason = _required(
        args.reason, "erase needs --reason (e.g. the request's reference): it is on the receipt"
    )
    try:
        receipt = backend.erase(column.strip(), value, delete_rows=args.delete_rows, reason=reason)
    except ApiError as refused:
        detail = _scrubbed(refused, value)
        if refused.status == 409:
            raise ApiError(409, f"already erased: {detail}", refused.kind) from None
        if refused.status == 404 and refused.kind != "no_route":
            raise ApiError(404, f"unknown subject, nothing erased: {detail}", "unknown_subject") from None
        raise ApiError(refused.status, detail, refused.kind) from None
    except (ValueError, PermissionError, LookupError) as refused:  # --local-admin: the module's errors
        raise ValueError(_scrubbed(refused, value)) from None
    _receipt(receipt)
    return 0


def _receipt(r: dict[str, Any]) -> None:
    print(
        f"erasure receipt #{r['id']}: {r['subject_column']} erased by {r['requested_by']} at {_when(r['at'])}"
    )
    print(f"  reason: {r.get('reason') or '-'}")
    holdings = r.get("holdings") or []
    if holdings:
        rows = [[h["product"], h["column"], ", ".join(f"v{v}" for v in h["versions"])] for h in holdings]
        print("held in (these versions now hold an unreadable token):")
        print(_table(rows, ["PRODUCT", "COLUMN", "VERSIONS"]))
    else:
        print("held in no kept version (its vault entry is deleted)")
    deleted = r.get("deleted_rows")
    if deleted is None:
        print("rows kept, as unreadable tokens (--delete-rows writes new versions without them)")
    elif deleted:
        rows = [[d["product"], f"v{d['version']}", d["rows"]] for d in deleted]
        print("rows deleted, in new versions:")
        print(_table(rows, ["PRODUCT", "VERSION", "ROWS DELETED"]))
    else:
        print("no current version held rows to delete")
    for product in r.get("unsearched") or []:
        print(f"data-mesh: warning: {product} not searched (invalid contract)", file=sys.stderr)


def cmd_correct(backend: Backend, args: argparse.Namespace) -> int:
    where = _pairs(args.where, "--where")
    if not where:
        raise ValueError("--where COLUMN=VALUE picks the rows to correct (e.g. --where order_id=o-001)")
    set_values = _pairs(args.set, "--set")
    if not args.delete and not set_values:
        raise ValueError("give --set COLUMN=VALUE (update the rows) or --delete")
    reason = _required(args.reason, "correct needs --reason: why the published data is wrong")
    try:
        r = backend.correct(
            args.product,
            where=where,
            set_values=None if args.delete else set_values,
            delete=args.delete,
            reason=reason,
        )
    except ApiError as refused:
        if refused.status == 404 and refused.kind is None:  # no row matched: not a missing version
            raise ApiError(404, refused.detail, "not_found") from None
        raise
    product, action = r.get("product", args.product), r.get("action", "delete" if args.delete else "update")
    previous = f" (from v{r['previous_version']})" if r.get("previous_version") is not None else ""
    print(f"{product}: corrected ({action}), now v{r.get('version')}{previous}")
    counts = [f"{r[f'rows_{k}']} {k}" for k in ("matched", "changed", "deleted") if f"rows_{k}" in r]
    if counts:
        print(f"  rows: {', '.join(counts)}")
    if len(r.get("versions") or []) > 1:
        print(f"  versions published: {', '.join(f'v{v}' for v in r['versions'])}")
    if r.get("message"):
        print(f"  {r['message']}")
    return 0


# ---- the parsers -------------------------------------------------------------------------------


def add_parsers(sub: Any, url_option: argparse.ArgumentParser) -> None:
    def command(name: str, func: Any, text: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, parents=[url_option], help=text)
        p.set_defaults(func=func, auth=False)
        return p

    p = command("access", cmd_access, "your access to a product: columns, roles, grants, pending requests")
    p.add_argument("target", nargs="?", metavar="product")
    p.add_argument("--product", help="(without a product: the access log, now `access-log`)")
    p.add_argument("--principal", help=argparse.SUPPRESS)
    p.add_argument("--limit", type=int, help=argparse.SUPPRESS)
    p = command("request-access", cmd_request_access, "request access to columns, with a purpose")
    p.add_argument("product")
    p.add_argument("--columns", required=True, help="comma-separated, e.g. customer_email")
    p.add_argument("--purpose", required=True, help="what the data will be used for")
    p.add_argument("--days", type=float, required=True, help="how long access is needed (at most 365)")
    p.add_argument("--for-domain", metavar="DOMAIN", help="for that domain's DAGs (its owners and admins)")
    p = command("requests", cmd_requests, "access requests and grants, newest first")
    p.add_argument("--product")
    p.add_argument("--status", choices=STATUSES)
    p.add_argument("--mine", action="store_true", help="only the requests you made")
    p.add_argument("--limit", type=int, default=100)
    for name, text in (
        ("approve", "approve a pending request (the owning team or an admin)"),
        ("deny", "deny a pending request, with a reason"),
        ("revoke", "end a grant now (a steward, or its requester)"),
    ):
        p = command(name, cmd_decide, text)
        p.set_defaults(decision=name)
        p.add_argument("id", type=int, help="the request's id (data-mesh requests)")
        p.add_argument("--reason", help="required to deny")
    p = command("usage", cmd_usage, "reads per consumer: rows, columns, purposes, last read")
    p.add_argument("product")
    p = command("audit", cmd_audit, "the governance audit trail, newest first")
    p.add_argument("--product")
    p.add_argument("--action", help="e.g. access.approved, access.revoked")
    p.add_argument("--limit", type=int, default=100)
    p = command("erase", cmd_erase, "erase a data subject everywhere (admins); prints the receipt")
    p.add_argument("--subject", required=True, metavar="COLUMN=VALUE", help="e.g. customer_email=...")
    p.add_argument("--delete-rows", action="store_true", help="also publish versions without their rows")
    p.add_argument("--reason", help="required: on the receipt")
    p = command("correct", cmd_correct, "update or delete rows as a new version (stewards)")
    p.add_argument("product")
    p.add_argument("--where", action="append", metavar="COLUMN=VALUE", help="repeatable: every one matches")
    change = p.add_mutually_exclusive_group(required=True)
    change.add_argument("--set", action="append", metavar="COLUMN=VALUE", help="repeatable")
    change.add_argument("--delete", action="store_true", help="delete the matched rows")
    p.add_argument("--reason", help="required: why the published data is wrong")
