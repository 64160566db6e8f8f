"""Freshness SLO evaluations in the metadata store: what `data_mesh__slo` measured, and the alerts.

    from data_mesh.metadata.store.slo import SloStore
    slo = SloStore()                         # the metadata database (same engine as MetadataStore)

Only storage lives here; what met or violated means, when an alert is due and how attainment is
computed are in `data_mesh.slo`. Rows are inserted, one per product per evaluation (every 5 minutes:
~57,600 a day for 200 products), and pruned past the retention (`prune`, run by the SLO DAG).

Invariants:

* `state` is `met`, `violated` or `unknown` (never published, no freshness limit, deprecated);
  `age_hours`, `sla_hours` and `newest_partition` are what the state was decided on;
* `alert` names the alert that was due at that evaluation (`violation` or `recovery`), `delivery`
  what became of it (`sent`, `failed`, `disabled`): the state of the newest row whose alert was
  `sent` is what the receivers were last told, so a failed or disabled alert stays due.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Literal, NamedTuple

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from . import models as m
from .engine import ensure_migrated, get_engine, inserted_id, write_connection
from .records import _Record, as_utc

SloState = Literal["met", "violated", "unknown"]
AlertKind = Literal["violation", "recovery"]
Delivery = Literal["sent", "failed", "disabled"]
SLO_STATES: frozenset[str] = frozenset({"met", "violated", "unknown"})


@dataclass(frozen=True)
class SloEvaluation(_Record):
    """One product's freshness at one evaluation, and the alert it led to (if one was due)."""

    product_id: str
    evaluated_at: datetime
    state: SloState
    age_hours: float | None = None
    sla_hours: float | None = None
    newest_partition: str | None = None
    reason: str | None = None
    alert: AlertKind | None = None
    delivery: Delivery | None = None
    id: int | None = None

    def __post_init__(self) -> None:
        if self.state not in SLO_STATES:
            raise ValueError(f"an SLO state is one of {sorted(SLO_STATES)}, not {self.state!r}")


class StatePoint(NamedTuple):
    """An evaluation's time and state (what `data_mesh.slo.attainment` reads of it)."""

    evaluated_at: datetime
    state: SloState


def _evaluation(row: sa.RowMapping) -> SloEvaluation:
    values = dict(row)
    values["evaluated_at"] = as_utc(values["evaluated_at"])
    return SloEvaluation(**values)


class SloStore:
    """The `slo_evaluations` table: insert evaluations, read a product's history and what was notified."""

    def __init__(self, engine_or_url: Engine | str | None = None) -> None:
        if isinstance(engine_or_url, Engine):
            self.engine = ensure_migrated(engine_or_url)
        else:
            self.engine = get_engine(engine_or_url)

    def record(self, evaluations: Iterable[SloEvaluation]) -> list[int]:
        """Insert evaluations in one transaction; their ids, in order."""
        ids = []
        with write_connection(self.engine) as conn:
            for evaluation in evaluations:
                values = {f.name: getattr(evaluation, f.name) for f in dataclasses.fields(evaluation)}
                values.pop("id")
                ids.append(inserted_id(conn.execute(sa.insert(m.slo_evaluations).values(values))))
        return ids

    def history(self, product_id: str, since: datetime, until: datetime | None = None) -> list[SloEvaluation]:
        """Evaluations of a product from `since` (and the one just before it, whose state still held at
        `since`) up to `until`, oldest first."""
        se = m.slo_evaluations
        query = self._from(sa.select(se), product_id, since, until)
        with self.engine.connect() as conn:
            rows = conn.execute(query.order_by(se.c.evaluated_at, se.c.id)).mappings().all()
        return [_evaluation(r) for r in rows]

    def states(self, product_id: str, since: datetime, until: datetime | None = None) -> list[StatePoint]:
        """`history`'s times and states only, what attainment needs: 30 days at one evaluation per 5
        minutes are 8,640 rows, ~4x faster to read as pairs than as full records."""
        se = m.slo_evaluations
        query = self._from(sa.select(se.c.evaluated_at, se.c.state), product_id, since, until)
        with self.engine.connect() as conn:
            rows = conn.execute(query.order_by(se.c.evaluated_at, se.c.id)).all()
        return [StatePoint(at, state) for at, state in rows]  # UtcDateTime: aware UTC already

    @staticmethod
    def _from(query: sa.Select, product_id: str, since: datetime, until: datetime | None) -> sa.Select:
        se = m.slo_evaluations
        before = (
            sa.select(sa.func.max(se.c.evaluated_at))
            .where(se.c.product_id == product_id, se.c.evaluated_at < since)
            .scalar_subquery()
        )
        query = query.where(
            se.c.product_id == product_id, se.c.evaluated_at >= sa.func.coalesce(before, since)
        )
        return query if until is None else query.where(se.c.evaluated_at <= until)

    def latest(self, product_id: str, until: datetime | None = None) -> SloEvaluation | None:
        """The product's newest evaluation (at or before `until`, when given)."""
        se = m.slo_evaluations
        query = (
            sa.select(se)
            .where(se.c.product_id == product_id)
            .order_by(se.c.evaluated_at.desc(), se.c.id.desc())
            .limit(1)
        )
        if until is not None:
            query = query.where(se.c.evaluated_at <= until)
        with self.engine.connect() as conn:
            row = conn.execute(query).mappings().first()
        return _evaluation(row) if row else None

    def notified_states(self, product_ids: Iterable[str]) -> dict[str, SloState]:
        """product id -> the state its last delivered alert announced (absent: never alerted)."""
        se = m.slo_evaluations
        wanted = sorted(set(product_ids))
        if not wanted:
            return {}
        newest = (
            sa.select(sa.func.max(se.c.id).label("id"))
            .where(se.c.delivery == "sent", se.c.product_id.in_(wanted))
            .group_by(se.c.product_id)
            .subquery()
        )
        query = sa.select(se.c.product_id, se.c.state).join(newest, newest.c.id == se.c.id)
        with self.engine.connect() as conn:
            return {product: state for product, state in conn.execute(query).all()}

    def prune(self, before: datetime) -> int:
        """Delete the evaluations older than `before`, except each product's newest `sent` one (what
        its receivers were last told: the next alert depends on it). The number deleted."""
        se = m.slo_evaluations
        newest_sent = sa.select(sa.func.max(se.c.id)).where(se.c.delivery == "sent").group_by(se.c.product_id)
        query = sa.delete(se).where(se.c.evaluated_at < before, se.c.id.not_in(newest_sent))
        with write_connection(self.engine) as conn:
            return conn.execute(query).rowcount

    def alerts(self, product_id: str, limit: int = 20) -> list[SloEvaluation]:
        """The evaluations at which an alert was sent or failed to be, newest first."""
        se = m.slo_evaluations
        query = (
            sa.select(se)
            .where(se.c.product_id == product_id, se.c.delivery.in_(("sent", "failed")))
            .order_by(se.c.evaluated_at.desc(), se.c.id.desc())
            .limit(limit)
        )
        with self.engine.connect() as conn:
            return [_evaluation(r) for r in conn.execute(query).mappings().all()]


__all__ = ["AlertKind", "Delivery", "SloEvaluation", "SloState", "SloStore", "StatePoint"]
