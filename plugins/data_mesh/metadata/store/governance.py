"""The governance tables of the metadata store: the PII vault, access requests, audit, erasure receipts.

    from data_mesh.metadata.store import GovernanceStore
    gov = GovernanceStore()                  # the metadata database (same engine as MetadataStore)

Only storage lives here; the rules (who may approve, what a grant allows, how values are encrypted)
are in `data_mesh.governance`. Every method is one short transaction.

Invariants:

* the vault (its bulk reads and writes are `store.vault`) holds, per distinct restricted value, its
  keyed digest and its random token, and the value encrypted in a page of values; never a clear
  value. Erasure (here) deletes the entry and rewrites its page without the value, in one
  transaction: it is final, nothing maps the token back;
* access requests are never deleted: a decision, an expiry or a revocation changes their state, and
  each change is an audit event written in the same transaction.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from . import models as m
from .engine import ensure_migrated, get_engine, inserted_id, write_connection
from .records import _Record, as_utc, utcnow
from .vault import PageKeeper, VaultPage, VaultTable

log = logging.getLogger(__name__)

RequesterKind = Literal["user", "domain"]
RequestStatus = Literal["pending", "approved", "denied", "revoked"]


@dataclass(frozen=True)
class AccessRequest(_Record):
    """A request for access to a product, and once decided, the grant (a usage agreement)."""

    id: int
    product_id: str
    requester: str
    requester_kind: RequesterKind
    requested_by: str
    columns: tuple[str, ...]
    purpose: str
    duration_days: float
    status: RequestStatus
    created_at: datetime
    decided_by: str | None = None
    decided_at: datetime | None = None
    decision_reason: str | None = None
    expires_at: datetime | None = None
    revoked_by: str | None = None
    revoked_at: datetime | None = None

    def active(self, now: datetime | None = None) -> bool:
        """An approved grant that has neither expired nor been revoked."""
        now = now or utcnow()
        return self.status == "approved" and self.expires_at is not None and self.expires_at > now

    @property
    def state(self) -> str:
        """The status shown to people: `expired` for an approved grant past its expiry."""
        return "expired" if self.status == "approved" and not self.active() else self.status


@dataclass(frozen=True)
class AuditEvent(_Record):
    actor: str
    action: str
    product_id: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)
    at: datetime = field(default_factory=utcnow)
    id: int | None = None


@dataclass(frozen=True)
class ErasureReceipt(_Record):
    id: int
    at: datetime
    requested_by: str
    subject_column: str
    token: str
    holdings: list[dict[str, Any]]
    deleted_rows: list[dict[str, Any]] | None
    reason: str | None


def _request(row: Any) -> AccessRequest:
    values = dict(row)
    values["columns"] = tuple(values["columns"] or ())
    for key in ("created_at", "decided_at", "expires_at", "revoked_at"):
        values[key] = as_utc(values[key])
    return AccessRequest(**values)


class GovernanceStore(VaultTable):
    """Vault (`store.vault`), access requests, audit events and erasure receipts in the metadata
    database."""

    def __init__(self, engine_or_url: Engine | str | None = None) -> None:
        if isinstance(engine_or_url, Engine):
            self.engine = ensure_migrated(engine_or_url)
        else:
            self.engine = get_engine(engine_or_url)

    def _insert_ignoring_conflicts(self, table: sa.Table) -> Any:
        if self.engine.dialect.name == "postgresql":
            from sqlalchemy.dialects.postgresql import insert as pg_insert

            return pg_insert(table).on_conflict_do_nothing()
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        return sqlite_insert(table).on_conflict_do_nothing()

    # ---- access requests -------------------------------------------------------------------
    def create_request(
        self,
        product_id: str,
        requester: str,
        requester_kind: RequesterKind,
        requested_by: str,
        columns: Sequence[str],
        purpose: str,
        duration_days: float,
    ) -> AccessRequest:
        ar = m.access_requests
        values = {
            "product_id": product_id,
            "requester": requester,
            "requester_kind": requester_kind,
            "requested_by": requested_by,
            "columns": list(columns),
            "purpose": purpose,
            "duration_days": float(duration_days),
            "status": "pending",
            "created_at": utcnow(),
        }
        with write_connection(self.engine) as conn:
            request_id = inserted_id(conn.execute(sa.insert(ar).values(values)))
            self._audit(conn, requested_by, "access.request", product_id, {"request": request_id, **values})
        return self.get_request(request_id)

    def get_request(self, request_id: int) -> AccessRequest:
        ar = m.access_requests
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(ar).where(ar.c.id == request_id)).mappings().first()
        if row is None:
            raise LookupError(f"no access request #{request_id}")
        return _request(row)

    def list_requests(
        self,
        product_id: str | None = None,
        status: RequestStatus | None = None,
        requester: str | None = None,
        limit: int = 200,
    ) -> list[AccessRequest]:
        ar = m.access_requests
        conditions = []
        if product_id is not None:
            conditions.append(ar.c.product_id == product_id)
        if status is not None:
            conditions.append(ar.c.status == status)
        if requester is not None:
            conditions.append(ar.c.requester == requester)
        query = sa.select(ar).where(*conditions).order_by(ar.c.id.desc()).limit(limit)
        with self.engine.connect() as conn:
            return [_request(r) for r in conn.execute(query).mappings().all()]

    def active_grants(
        self, product_id: str, requester_kind: RequesterKind, requester: str, now: datetime | None = None
    ) -> list[AccessRequest]:
        """The approved, unexpired, unrevoked grants of one requester on one product (read per read)."""
        ar = m.access_requests
        now = now or utcnow()
        query = sa.select(ar).where(
            ar.c.product_id == product_id,
            ar.c.requester_kind == requester_kind,
            ar.c.requester == requester,
            ar.c.status == "approved",
            ar.c.expires_at > now,
        )
        with self.engine.connect() as conn:
            return [_request(r) for r in conn.execute(query).mappings().all()]

    def set_status(
        self,
        request_id: int,
        *,
        expected: RequestStatus,
        status: RequestStatus,
        actor: str,
        reason: str | None,
        expires_at: datetime | None = None,
    ) -> AccessRequest:
        """Move a request from `expected` to `status` (audited); LookupError if it was not `expected`."""
        ar = m.access_requests
        now = utcnow()
        if status == "revoked":
            values: dict[str, Any] = {"status": status, "revoked_by": actor, "revoked_at": now}
        else:
            values = {"status": status, "decided_by": actor, "decided_at": now, "decision_reason": reason}
            if expires_at is not None:
                values["expires_at"] = expires_at
        with write_connection(self.engine) as conn:
            current = conn.execute(sa.select(ar).where(ar.c.id == request_id)).mappings().first()
            if current is None:
                raise LookupError(f"no access request #{request_id}")
            if current["status"] != expected:
                raise LookupError(f"access request #{request_id} is {current['status']}, not {expected}")
            conn.execute(sa.update(ar).where(ar.c.id == request_id).values(values))
            detail = {"request": request_id, "status": status, "reason": reason}
            if expires_at is not None:
                detail["expires_at"] = expires_at.isoformat()
            self._audit(conn, actor, f"access.{status}", current["product_id"], detail)
        return self.get_request(request_id)

    # ---- audit -----------------------------------------------------------------------------
    @staticmethod
    def _audit(conn: Connection, actor: str, action: str, product_id: str | None, detail: dict) -> None:
        safe = {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in detail.items()}
        conn.execute(
            sa.insert(m.audit_events).values(
                actor=actor, action=action, product_id=product_id, detail=safe, at=utcnow()
            )
        )

    def audit(self, actor: str, action: str, product_id: str | None = None, **detail: Any) -> None:
        with write_connection(self.engine) as conn:
            self._audit(conn, actor, action, product_id, detail)

    def audit_events(
        self, product_id: str | None = None, action: str | None = None, limit: int = 200
    ) -> list[AuditEvent]:
        ae = m.audit_events
        conditions = []
        if product_id is not None:
            conditions.append(ae.c.product_id == product_id)
        if action is not None:
            conditions.append(ae.c.action == action)
        query = sa.select(ae).where(*conditions).order_by(ae.c.id.desc()).limit(limit)
        with self.engine.connect() as conn:
            rows = conn.execute(query).mappings().all()
        return [AuditEvent(**{**r, "at": as_utc(r["at"]), "detail": r["detail"] or {}}) for r in rows]

    # ---- erasure ---------------------------------------------------------------------------
    def erase(
        self,
        digest: str,
        *,
        requested_by: str,
        subject_column: str,
        holdings: list[dict[str, Any]],
        deleted_rows: list[dict[str, Any]] | None,
        reason: str | None,
        pages: PageKeeper,
    ) -> ErasureReceipt:
        """Delete the vault entry, rewrite its page without the value (`pages` seals it again), and
        write the receipt and its audit event, in one transaction."""
        ve, vp, er = m.vault_entries, m.vault_pages, m.erasure_receipts
        with write_connection(self.engine) as conn:  # SQLite zeroes what it frees (`secure_delete`)
            token = conn.execute(sa.select(ve.c.token).where(ve.c.digest == digest)).scalar_one_or_none()
            if token is None:
                raise LookupError("the vault holds no such value (already erased, or never published)")
            conn.execute(sa.delete(ve).where(ve.c.digest == digest))
            page_id = pages.page_of(token)
            where = vp.c.page_id == page_id
            sealed = conn.execute(sa.select(vp.c.sealed).where(where).with_for_update()).scalar_one_or_none()
            if sealed is not None:  # None: no page holds the value (nothing left to rewrite)
                resealed = pages.without(VaultPage(page_id, bytes(sealed)), token)
                if resealed is None:
                    conn.execute(sa.delete(vp).where(where))
                else:
                    conn.execute(sa.update(vp).where(where).values(sealed=resealed))
            values = {
                "at": utcnow(),
                "requested_by": requested_by,
                "subject_column": subject_column,
                "digest": digest,
                "token": token,
                "holdings": holdings,
                "deleted_rows": deleted_rows,
                "reason": reason,
            }
            receipt_id = inserted_id(conn.execute(sa.insert(er).values(values)))
            products = sorted({h["product"] for h in holdings})
            self._audit(
                conn,
                requested_by,
                "erasure",
                None,
                {"receipt": receipt_id, "column": subject_column, "products": products},
            )
        if self.engine.dialect.name == "sqlite":
            self._checkpoint()
        return self.receipts(receipt_id=receipt_id)[0]

    def _checkpoint(self) -> None:
        """SQLite: move the write-ahead log into the database file and truncate it, so that no frame
        of a page as it was before an erasure stays in the `-wal` file. Readers still on an older
        snapshot make it wait (the busy timeout), then give up: the next checkpoint completes it."""
        with self.engine.connect() as conn:
            busy, _, _ = conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)").one()
            conn.commit()
        if busy:
            log.warning("erasure: the SQLite write-ahead log could not be truncated yet (readers active)")

    def receipts(self, digest: str | None = None, receipt_id: int | None = None) -> list[ErasureReceipt]:
        er = m.erasure_receipts
        conditions = []
        if digest is not None:
            conditions.append(er.c.digest == digest)
        if receipt_id is not None:
            conditions.append(er.c.id == receipt_id)
        query = sa.select(er).where(*conditions).order_by(er.c.id.desc())
        with self.engine.connect() as conn:
            rows = conn.execute(query).mappings().all()
        return [
            ErasureReceipt(
                id=r["id"],
                at=as_utc(r["at"]) or utcnow(),
                requested_by=r["requested_by"],
                subject_column=r["subject_column"],
                token=r["token"],
                holdings=list(r["holdings"] or []),
                deleted_rows=r["deleted_rows"],
                reason=r["reason"],
            )
            for r in rows
        ]
