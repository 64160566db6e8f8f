"""SLO attainment: the share of a window in which a product's freshness SLO was met.

Definition (what the API, the CLI and the UI show as attainment over 7 and 30 days):

* Each evaluation's state holds from its `evaluated_at` until the next evaluation of the product,
  but for at most `max_gap` (default: 3 evaluation intervals, `DATA_MESH_SLO_INTERVAL_MINUTES`):
  time the evaluator did not cover (it was paused or down) is not counted either way.
* Over a window `[end - days, end)`, `met` is the time covered by `met` states and `violated` the
  time covered by `violated` states, each interval clipped to the window (the evaluation just before
  the window counts for the part of its interval inside it). `unknown` time is excluded.
* attainment = met / (met + violated): a time-weighted share in [0, 1]; None when the window holds
  no met or violated time at all (never evaluated, or unknown throughout).

The history series is the same quantity per UTC day over the last 30 days (the last one up to `end`).
Everything here is pure (no store, no clock): the caller passes the evaluations and `end`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from data_mesh.metadata.store.slo import SloEvaluation, SloState, StatePoint

WINDOWS_DAYS = (7, 30)
SERIES_DAYS = 30


@dataclass(frozen=True)
class Interval:
    start: datetime
    end: datetime
    state: SloState


@dataclass(frozen=True)
class Attainment:
    """Met and violated time within one window; `ratio` is the attainment (None: nothing measured)."""

    start: datetime
    end: datetime
    met_hours: float
    violated_hours: float

    @property
    def ratio(self) -> float | None:
        measured = self.met_hours + self.violated_hours
        return self.met_hours / measured if measured > 0 else None

    def to_dict(self) -> dict[str, object]:
        return {
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "met_hours": round(self.met_hours, 4),
            "violated_hours": round(self.violated_hours, 4),
            "attainment": None if self.ratio is None else round(self.ratio, 6),
        }


def intervals(
    evaluations: Sequence[SloEvaluation | StatePoint], end: datetime, max_gap: timedelta
) -> list[Interval]:
    """The time each evaluation's state held: until the next one, at most `max_gap`, never past `end`."""
    ordered = sorted(evaluations, key=lambda e: e.evaluated_at)
    out = []
    for i, evaluation in enumerate(ordered):
        start = evaluation.evaluated_at
        stop = min(start + max_gap, end)
        if i + 1 < len(ordered):
            stop = min(stop, ordered[i + 1].evaluated_at)
        if stop > start:
            out.append(Interval(start, stop, evaluation.state))
    return out


def attainment(held: Sequence[Interval], start: datetime, end: datetime) -> Attainment:
    """Met and violated hours of `held` inside `[start, end)`."""
    totals = {"met": 0.0, "violated": 0.0, "unknown": 0.0}
    for interval in held:
        overlap = min(interval.end, end) - max(interval.start, start)
        if overlap > timedelta(0):
            totals[interval.state] += overlap / timedelta(hours=1)
    return Attainment(start, end, totals["met"], totals["violated"])


@dataclass(frozen=True)
class DayPoint:
    day: date
    attainment: Attainment

    def to_dict(self) -> dict[str, object]:
        return {"day": self.day.isoformat(), **self.attainment.to_dict()}


def daily_series(held: Sequence[Interval], end: datetime, days: int = SERIES_DAYS) -> list[DayPoint]:
    """Attainment per UTC day, oldest first: the `days` days up to the one holding `end` (exclusive).

    One sweep over the intervals, each split at midnights (30 days at one evaluation per 5 minutes
    is 8,640 intervals: a window per day would visit each of them 30 times).
    """
    last = (end.astimezone(UTC) - timedelta(microseconds=1)).date()
    first = last - timedelta(days=days - 1)
    totals = {first + timedelta(days=i): {"met": 0.0, "violated": 0.0, "unknown": 0.0} for i in range(days)}
    lower = datetime.combine(first, time.min, tzinfo=UTC)
    for interval in held:
        start, stop = max(interval.start, lower), min(interval.end, end)
        while start < stop:
            midnight = datetime.combine(
                start.astimezone(UTC).date() + timedelta(days=1), time.min, tzinfo=UTC
            )
            piece_end = min(stop, midnight)
            totals[start.astimezone(UTC).date()][interval.state] += (piece_end - start) / timedelta(hours=1)
            start = piece_end
    return [
        DayPoint(
            day,
            Attainment(
                datetime.combine(day, time.min, tzinfo=UTC),
                min(datetime.combine(day + timedelta(days=1), time.min, tzinfo=UTC), end),
                hours["met"],
                hours["violated"],
            ),
        )
        for day, hours in totals.items()
    ]


def windows(held: Sequence[Interval], end: datetime) -> dict[int, Attainment]:
    """Attainment over each of `WINDOWS_DAYS` (7 and 30 days) ending at `end`."""
    return {days: attainment(held, end - timedelta(days=days), end) for days in WINDOWS_DAYS}
