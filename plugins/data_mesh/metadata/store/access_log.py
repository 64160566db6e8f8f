"""Access log queries: the audit trail of reads (paged, filtered) and usage per consumer."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from . import models as m
from .records import AccessEvent, ConsumerUsage, Page, as_utc


def list_access_events(
    conn: Connection,
    product_id: str | None = None,
    principal: str | None = None,
    path: str | None = None,
    allowed: bool | None = None,
    limit: int = 50,
    offset: int = 0,
) -> Page[AccessEvent]:
    """Access events, newest first, filtered; `total` counts every match."""
    ae = m.access_events
    conditions = []
    if product_id is not None:
        conditions.append(ae.c.product_id == product_id)
    if principal is not None:
        conditions.append(ae.c.principal == principal)
    if path is not None:
        conditions.append(ae.c.path == path)
    if allowed is not None:
        conditions.append(ae.c.allowed.is_(sa.true()) if allowed else ae.c.allowed.is_(sa.false()))
    count_query = sa.select(sa.func.count()).select_from(ae).where(*conditions)
    page_query = (
        sa.select(ae).where(*conditions).order_by(ae.c.at.desc(), ae.c.id.desc()).limit(limit).offset(offset)
    )
    total = int(conn.execute(count_query).scalar_one())
    rows = conn.execute(page_query).mappings().all()
    items = tuple(
        AccessEvent(
            **{k: r[k] for k in r if k != "columns"},
            columns=tuple(r["columns"]) if r["columns"] is not None else None,
        )
        for r in rows
    )
    return Page(items=items, total=total, limit=limit, offset=offset)


def usage_by_consumer(
    conn: Connection,
    product_id: str,
    since: datetime | None = None,
    columns: Collection[str] | None = None,
) -> list[ConsumerUsage]:
    """Allowed reads of a product per principal: (principal, reads, rows, last_at), most reads first;
    only the reads at or after `since`, and only those of any of `columns`, when given."""
    ae = m.access_events
    where = [ae.c.product_id == product_id, ae.c.allowed.is_(sa.true())]
    if since is not None:
        where.append(ae.c.at >= since)
    if columns is not None:
        return _usage_of_columns(conn, where, set(columns))
    reads = sa.func.count().label("reads")
    query = (
        sa.select(
            ae.c.principal,
            reads,
            sa.func.coalesce(sa.func.sum(ae.c.rows), 0).label("rows"),
            sa.func.max(ae.c.at).label("last_at"),
        )
        .where(*where)
        .group_by(ae.c.principal)
        .order_by(reads.desc(), ae.c.principal)
    )
    rows = conn.execute(query).all()
    return [
        ConsumerUsage(principal, int(n), int(total_rows), as_utc(last_at))
        for principal, n, total_rows, last_at in rows
    ]


def _usage_of_columns(conn: Connection, where: list, columns: set[str]) -> list[ConsumerUsage]:
    """The reads that touched any of `columns` (a JSON list per event: filtered here, portably)."""
    ae = m.access_events
    query = sa.select(ae.c.principal, ae.c.columns, ae.c.rows, ae.c.at).where(*where)
    totals: dict[str, list] = {}
    for principal, read, rows, at in conn.execute(query).all():
        if not columns.intersection(read or ()):
            continue
        entry = totals.setdefault(principal, [0, 0, None])
        entry[0] += 1
        entry[1] += int(rows or 0)
        at = as_utc(at)
        entry[2] = at if entry[2] is None or at > entry[2] else entry[2]
    ranked = sorted(totals.items(), key=lambda item: (-item[1][0], item[0]))
    return [ConsumerUsage(principal, n, total_rows, last) for principal, (n, total_rows, last) in ranked]


def usage_detail(conn: Connection, product_id: str, recent: int = 5_000) -> list[dict]:
    """Per consumer: reads, rows served, last read (all allowed reads), and the columns read and the
    purposes given (from the `recent` newest reads: the usage report, not the audit trail)."""
    ae = m.access_events
    details: dict[str, dict] = {
        u.principal: {
            "principal": u.principal,
            "reads": u.reads,
            "rows": u.rows,
            "last_at": u.last_at,
            "columns": {},
            "purposes": {},
            "paths": {},
        }
        for u in usage_by_consumer(conn, product_id)
    }
    query = (
        sa.select(ae.c.principal, ae.c.columns, ae.c.purpose, ae.c.path)
        .where(ae.c.product_id == product_id, ae.c.allowed.is_(sa.true()))
        .order_by(ae.c.at.desc(), ae.c.id.desc())
        .limit(recent)
    )
    for principal, columns, purpose, path in conn.execute(query).all():
        entry = details.get(principal)
        if entry is None:
            continue
        for column in columns or ():
            entry["columns"][column] = entry["columns"].get(column, 0) + 1
        if purpose:
            entry["purposes"][purpose] = entry["purposes"].get(purpose, 0) + 1
        entry["paths"][path] = entry["paths"].get(path, 0) + 1
    out = []
    for entry in details.values():
        entry["columns"] = sorted(entry["columns"], key=lambda c: -entry["columns"][c])
        entry["purposes"] = sorted(entry["purposes"], key=lambda p: -entry["purposes"][p])[:10]
        entry["paths"] = sorted(entry["paths"])
        out.append(entry)
    return out
