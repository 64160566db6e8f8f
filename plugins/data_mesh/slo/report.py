"""A product's freshness SLO as the API, the CLI and the UI show it: one composition, one shape.

The current state (the newest evaluation), attainment over 7 and 30 days and the daily series
(`attainment.py` defines them), and the latest alerts sent or failed. Reads the metadata store only.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from data_mesh import conf
from data_mesh.contract import registry
from data_mesh.metadata.health import freshness_limit_hours
from data_mesh.metadata.store.slo import SloEvaluation, SloStore
from data_mesh.slo.attainment import (
    SERIES_DAYS,
    Attainment,
    DayPoint,
    Interval,
    attainment,
    daily_series,
    intervals,
    windows,
)

DEFINITION = (
    "time-weighted share of the window in which the newest partition was no older than the limit; "
    "each evaluation's state holds until the next one (at most 3 evaluation intervals); unknown excluded"
)


@dataclass(frozen=True)
class SloReport:
    product_id: str
    sla_hours: float | None
    evaluated_until: datetime
    current: SloEvaluation | None
    attainment: dict[int, Attainment]  # days -> attainment over the window ending at evaluated_until
    series: list[DayPoint]
    alerts: list[SloEvaluation]
    interval_minutes: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "product_id": self.product_id,
            "sla_hours": self.sla_hours,
            "evaluated_until": self.evaluated_until.isoformat(),
            "evaluation_interval_minutes": self.interval_minutes,
            "definition": DEFINITION,
            "current": self.current.to_dict() if self.current else None,
            "attainment": {f"{days}d": a.to_dict() for days, a in sorted(self.attainment.items())},
            "series": [p.to_dict() for p in self.series],
            "alerts": [a.to_dict() for a in self.alerts],
        }


def slo_report(product_id: str, now: datetime | None = None, store: SloStore | None = None) -> SloReport:
    """The product's SLO up to `now` (default: the current time); an unknown product raises."""
    spec = registry.get_product(product_id)
    store = store or SloStore()
    now = now or datetime.now(UTC)
    minutes = conf.slo_interval_minutes()
    held = _held(store, spec.id, now, SERIES_DAYS, minutes)
    return SloReport(
        product_id=spec.id,
        sla_hours=freshness_limit_hours(spec.sla.latency_hours, spec.sla.frequency),
        evaluated_until=now,
        current=store.latest(spec.id, until=now),
        attainment=windows(held, now),
        series=daily_series(held, now),
        alerts=store.alerts(spec.id),
        interval_minutes=minutes,
    )


def attainment_over(product_id: str, days: int, now: datetime, store: SloStore | None = None) -> Attainment:
    """The attainment over the `days` days up to `now` alone (what the trust score reads): no series,
    no alerts, and only the days it covers read."""
    held = _held(store or SloStore(), product_id, now, days, conf.slo_interval_minutes())
    return attainment(held, now - timedelta(days=days), now)


def _held(store: SloStore, product_id: str, now: datetime, days: int, minutes: float) -> list[Interval]:
    history = store.states(product_id, since=now - timedelta(days=days), until=now)
    return intervals(history, now, max_gap=timedelta(minutes=3 * minutes))
