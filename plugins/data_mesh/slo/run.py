"""One evaluation of the whole mesh: measure every product's freshness, alert on changes, record it all.

The body of the `data_mesh__slo` DAG's task (also callable outside Airflow, e.g. by tests):

1. every valid contract's product is evaluated (`evaluate.evaluate_product`) on its newest published
   partition in the metadata store; a product whose contract is invalid is named in the log, not
   evaluated (its SLA cannot be read);
2. the alerts due (`evaluate.alert_due`: a change from what the last delivered alert announced) go
   through the alerts Connection's notifier, one per product;
3. every evaluation is recorded in one transaction, with the alert due and its delivery;
4. evaluations older than the retention (`DATA_MESH_SLO_RETENTION_DAYS`, default 90) are deleted,
   except each product's newest delivered alert (see `SloStore.prune`).

Without the alerts Connection, alerts are disabled: the log says so once per run and the evaluations
are recorded with delivery `disabled` (the alert stays due). A delivery that fails is logged and
recorded as `failed`; once everything is recorded the task fails, naming the products whose alert did
not go out, so Airflow shows it (the next run tries again).
"""

from __future__ import annotations

import dataclasses
import logging
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from data_mesh import conf
from data_mesh.contract import registry
from data_mesh.metadata.store.slo import Delivery, SloEvaluation, SloStore
from data_mesh.slo.evaluate import alert_due, evaluate_product
from data_mesh.slo.notifier import Alert, AlertChannel, AlertNotDelivered, open_channel

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SloRun:
    """What one evaluation of the mesh measured and sent."""

    evaluated_at: datetime
    evaluations: tuple[SloEvaluation, ...]
    alerts_enabled: bool
    invalid: tuple[str, ...] = ()
    pruned: int = 0  # evaluations past the retention deleted by this run

    @property
    def failed_alerts(self) -> list[str]:
        return [e.product_id for e in self.evaluations if e.delivery == "failed"]

    def to_xcom(self) -> dict[str, Any]:
        """A small summary (the evaluations themselves are in the metadata store)."""
        return {
            "evaluated_at": self.evaluated_at.isoformat(),
            "states": dict(Counter(e.state for e in self.evaluations)),
            "alerts": {e.product_id: f"{e.alert}: {e.delivery}" for e in self.evaluations if e.alert},
            "alerts_enabled": self.alerts_enabled,
            "invalid_contracts": list(self.invalid),
            "pruned_evaluations": self.pruned,
        }


def _describe(evaluation: SloEvaluation) -> str:
    if evaluation.state == "unknown":
        return f"unknown ({evaluation.reason})"
    return (
        f"{evaluation.state} (newest partition {evaluation.newest_partition}, "
        f"{evaluation.age_hours:.1f} h old, limit {evaluation.sla_hours:g} h)"
    )


def _deliver(channel: AlertChannel | None, alert: Alert, context: Any) -> Delivery:
    if channel is None:
        return "disabled"
    try:
        channel.send(alert, context)
    except AlertNotDelivered as error:
        log.error("%s alert of %s not delivered: %s", alert.kind, alert.product_id, error)
        return "failed"
    return "sent"


def _channel(conn_id: str) -> tuple[AlertChannel | None, str | None]:
    """The alerts channel and, when it is misconfigured, why (alerts then fail and stay due)."""
    try:
        channel = open_channel(conn_id)
    except ValueError as error:
        log.error("SLO alerts cannot be sent: %s", error)
        return None, str(error)
    if channel is None:
        log.warning(
            "SLO alerts are disabled: there is no Airflow Connection %r (set DATA_MESH_SLO_ALERTS_CONN_ID "
            "or add it); the evaluations are still recorded",
            conn_id,
        )
    else:
        log.info("SLO alerts go through Connection %r (notifier %s)", conn_id, channel.notifier)
    return channel, None


def evaluate_mesh(
    now: datetime | None = None,
    *,
    conn_id: str | None = None,
    context: Any = None,
    store: SloStore | None = None,
) -> SloRun:
    """Evaluate every product now, send the alerts due, record the evaluations (see the module doc)."""
    from data_mesh.metadata.store import MetadataStore

    now = now or datetime.now(UTC)
    mesh = registry.load_mesh()
    for product_id, error in sorted(mesh.errors.items()):
        log.warning("%s: not evaluated, its contract is invalid: %s", product_id, error)
    slo_store = store or SloStore()
    newest = {
        s.id: s.newest_partition for s in MetadataStore(slo_store.engine).list_products(ids=mesh.products)
    }
    notified = slo_store.notified_states(mesh.products)
    conn_id = conn_id or conf.slo_alerts_conn_id()
    channel, misconfigured = _channel(conn_id)
    base_url = conf.public_url()
    evaluations = []
    for product_id, spec in sorted(mesh.products.items()):
        evaluation = evaluate_product(spec, newest.get(product_id), now)
        kind = alert_due(evaluation.state, notified.get(product_id))
        delivery: Delivery | None = None
        if kind is not None:
            alert = Alert.for_product(
                base_url,
                product_id=product_id,
                kind=kind,
                state=evaluation.state,
                age_hours=evaluation.age_hours,
                sla_hours=evaluation.sla_hours,
                newest_partition=evaluation.newest_partition,
                evaluated_at=now,
            )
            delivery = "failed" if misconfigured else _deliver(channel, alert, context)
        evaluation = dataclasses.replace(evaluation, alert=kind, delivery=delivery)
        evaluations.append(evaluation)
        due = f"; {kind} alert {delivery}" if kind else ""
        log.info("%s: %s%s", product_id, _describe(evaluation), due)
    slo_store.record(evaluations)
    retention = timedelta(days=conf.slo_retention_days())
    pruned = slo_store.prune(before=now - retention)
    if pruned:
        log.info("%d evaluation(s) older than %d days pruned", pruned, retention.days)
    run = SloRun(now, tuple(evaluations), channel is not None, tuple(sorted(mesh.errors)), pruned)
    if run.failed_alerts:
        raise AlertNotDelivered(
            f"alerts not delivered for {', '.join(run.failed_alerts)} through connection {conn_id!r} "
            f"(the evaluations are recorded; the next run tries again)"
        )
    return run
