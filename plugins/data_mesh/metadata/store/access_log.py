"""Access log queries: the audit trail of reads (paged, filtered) and usage per consumer."""

from __future__ import annotations

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


def usage_by_consumer(conn: Connection, product_id: str) -> list[ConsumerUsage]:
    """Allowed reads of a product per principal: (principal, reads, rows, last_at), most reads first."""
    ae = m.access_events
    reads = sa.func.count().label("reads")
    query = (
        sa.select(
            ae.c.principal,
            reads,
            sa.func.coalesce(sa.func.sum(ae.c.rows), 0).label("rows"),
            sa.func.max(ae.c.at).label("last_at"),
        )
        .where(ae.c.product_id == product_id, ae.c.allowed.is_(sa.true()))
        .group_by(ae.c.principal)
        .order_by(reads.desc(), ae.c.principal)
    )
    rows = conn.execute(query).all()
    return [
        ConsumerUsage(principal, int(n), int(total_rows), as_utc(last_at))
        for principal, n, total_rows, last_at in rows
    ]
