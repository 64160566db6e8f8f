"""One product's freshness SLO at one moment, and whether the change calls for an alert.

The SLO of a product: its newest published partition ended no longer ago than the freshness limit
(`metadata.health.freshness_limit_hours`: the contract's latency, else one period of its frequency).

    met       the newest partition's age <= the limit
    violated  the newest partition's age >  the limit
    unknown   nothing to measure: never published, no latency nor frequency, or a deprecated/retired
              contract (the product is not expected to stay fresh); unknown never alerts

Alerts follow state transitions, not evaluations: an alert is due when a product's state (met or
violated) differs from the state its last *delivered* alert announced, a product never alerted
counting as met. So a product going stale alerts once (`violation`), stays silent while it stays
stale, and alerts once when it is fresh again (`recovery`); an alert that could not be delivered (or
was not sent because alerts are disabled) stays due and goes out at the next evaluation that can
send it. Unknown in between changes nothing (violated -> unknown -> violated alerts once).
"""

from __future__ import annotations

from datetime import datetime

from data_mesh.contract.partition import partition_end
from data_mesh.contract.spec import ProductSpec
from data_mesh.governance import lifecycle
from data_mesh.metadata.health import freshness, freshness_limit_hours
from data_mesh.metadata.store.slo import AlertKind, SloEvaluation, SloState


def evaluate_product(spec: ProductSpec, newest_partition: str | None, now: datetime) -> SloEvaluation:
    """The product's SLO state at `now`, from its newest published partition (None: never published)."""
    limit = freshness_limit_hours(spec.sla.latency_hours, spec.sla.frequency)
    end = partition_end(spec.partitioning.granularity, newest_partition) if newest_partition else None
    state: SloState = "unknown"
    age, reason = None, None
    if lifecycle.state(spec) == "retired":  # a deprecated product is still served: still measured
        reason = "the product is retired"
    elif limit is None:
        reason = "the contract sets no latency or frequency"
    elif end is None:
        reason = "never published"
    else:
        measured = freshness(end, limit, now)
        state, age = ("met" if measured.fresh else "violated"), round(measured.age_hours, 4)
    return SloEvaluation(
        product_id=spec.id,
        evaluated_at=now,
        state=state,
        age_hours=age,
        sla_hours=limit,
        newest_partition=newest_partition,
        reason=reason,
    )


def alert_due(state: SloState, notified: SloState | None) -> AlertKind | None:
    """The alert a product's state calls for, given what its last delivered alert announced."""
    if state == "unknown" or state == (notified or "met"):
        return None
    return "violation" if state == "violated" else "recovery"
