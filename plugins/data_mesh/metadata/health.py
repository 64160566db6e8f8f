"""A product's health, in one word, shared by the API, the UI and the CLI.

    invalid contract the contract breaks ODCS or a global policy (the catalog shows the error)
    retired          retired (contract status, or a deprecated product past its endOfLife): not published
    deprecated       deprecated: still published and served, readers are warned
    never published  no version has been published yet
    failing          the latest validation failed (the served version is older than the latest run)
    stale            the newest data partition ended longer ago than the contract's freshness limit
    fresh            otherwise

Freshness is measured on the data, as the contract defines latency: the age of the newest published
partition's end. It is the same quantity as the freshness chart (which shows it at each publication),
so a backfill of an old partition never makes a stale product look fresh.

The freshness limit is the contract's latency SLA; a contract with a frequency and no latency gets one
period of its frequency (`@daily`: 24 h; a cron expression: the longest gap between two of its
firings over the next 31 days). This module is the one place that decides fresh or stale: the
catalog's status and the freshness SLO (`data_mesh.slo`) both call `freshness`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

Status = Literal["fresh", "stale", "failing", "deprecated", "retired", "never published", "invalid contract"]

_PRESET_HOURS = {
    "@hourly": 1.0,
    "@daily": 24.0,
    "@midnight": 24.0,
    "@weekly": 24.0 * 7,
    "@monthly": 24.0 * 31,
    "@quarterly": 24.0 * 92,
    "@yearly": 24.0 * 366,
    "@annually": 24.0 * 366,
}
_CRON_SAMPLE_START = datetime(2026, 1, 1, tzinfo=UTC)


def frequency_hours(frequency: str | None) -> float | None:
    """One period of a frequency in hours (an irregular cron: its longest gap); None when unset."""
    if not frequency:
        return None
    text = frequency.strip().lower()
    if text in _PRESET_HOURS:
        return _PRESET_HOURS[text]
    from croniter import croniter  # Airflow's own dependency; imported only for a cron expression

    try:
        schedule = croniter(frequency, _CRON_SAMPLE_START)
    except (ValueError, KeyError) as error:
        raise ValueError(
            f"frequency {frequency!r} is neither a preset (@daily, ...) nor a cron: {error}"
        ) from None
    firings = [schedule.get_next(datetime)]
    while firings[-1] - firings[0] < timedelta(days=31) and len(firings) < 2000:
        firings.append(schedule.get_next(datetime))
    return max((b - a) / timedelta(hours=1) for a, b in zip(firings, firings[1:], strict=False))


def freshness_limit_hours(latency_hours: float | None, frequency: str | None) -> float | None:
    """How old the newest partition may be: the latency SLA, else one period of the frequency, else None."""
    if latency_hours is not None:
        return float(latency_hours)
    return frequency_hours(frequency)


@dataclass(frozen=True)
class Freshness:
    """The newest partition's age against the limit, both in hours (`age_hours` < 0: not over yet)."""

    age_hours: float
    limit_hours: float

    @property
    def fresh(self) -> bool:
        return self.age_hours <= self.limit_hours


def freshness(newest_partition_end: datetime, limit_hours: float, now: datetime | None = None) -> Freshness:
    """The age of the newest partition's end at `now` (default: the current time) against the limit."""
    now = now or datetime.now(UTC)
    end = newest_partition_end if newest_partition_end.tzinfo else newest_partition_end.replace(tzinfo=UTC)
    return Freshness((now - end) / timedelta(hours=1), float(limit_hours))


def product_status(
    lifecycle_state: str,
    limit_hours: float | None,
    *,
    published: bool,
    newest_partition_end: datetime | None,
    latest_validation_success: bool | None,
    now: datetime | None = None,
) -> Status:
    """The status of one product from its lifecycle state (`governance.lifecycle.state`), its newest
    partition and its latest validation.

    `limit_hours` is the freshness limit (`freshness_limit_hours`: the latency SLA, or the frequency).
    """
    if lifecycle_state == "retired":
        return "retired"
    if lifecycle_state == "deprecated":
        return "deprecated"
    if not published:
        return "never published"
    if latest_validation_success is False:
        return "failing"
    if limit_hours is None or newest_partition_end is None:
        return "fresh"
    return "fresh" if freshness(newest_partition_end, limit_hours, now).fresh else "stale"
