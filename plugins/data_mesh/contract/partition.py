"""Partitions: the slice of a product one run (re)builds, derived from the run's data interval."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from data_mesh.contract.spec import Granularity

_FORMATS = {"day": re.compile(r"^\d{4}-\d{2}-\d{2}$"), "month": re.compile(r"^\d{4}-\d{2}$")}


@dataclass(frozen=True)
class PartitionWindow:
    granularity: Granularity
    key: str  # "2026-11-22" (day) or "2026-11" (month)
    start: date
    end: date  # exclusive

    def template_values(self) -> dict[str, str]:
        """Values a source's endpoint and params may use, e.g. ``{"date": "{partition}"}``."""
        return {
            "partition": self.key,
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "year": str(self.start.year),
        }

    def contains(self, key: str) -> bool:
        """Whether a partition key of another product (any granularity) starts inside this window."""
        return self.start <= _start_of(key) < self.end


def _start_of(key: str) -> date:
    return date.fromisoformat(key if len(key) == 10 else f"{key}-01")


def window_of(granularity: Granularity, day: date) -> PartitionWindow:
    """The partition of `granularity` that contains `day`."""
    if granularity == "day":
        return PartitionWindow("day", day.isoformat(), day, day + timedelta(days=1))
    start = day.replace(day=1)
    end = (start + timedelta(days=32)).replace(day=1)
    return PartitionWindow("month", start.strftime("%Y-%m"), start, end)


def partition_end(granularity: Granularity, key: str) -> datetime | None:
    """When a partition's period ends (exclusive, UTC); None for a key that is not one of `granularity`."""
    try:
        window = parse_partition(granularity, key)
    except ValueError:
        return None
    return datetime.combine(window.end, datetime.min.time(), tzinfo=UTC)


def parse_partition(granularity: Granularity, key: str) -> PartitionWindow:
    """Validate a user-supplied partition key (a trigger param) and return its window."""
    if not isinstance(key, str) or not _FORMATS[granularity].match(key):
        example = "2026-11-22" if granularity == "day" else "2026-11"
        raise ValueError(f"partition {key!r} is not a {granularity} key like {example!r}")
    try:
        return window_of(granularity, _start_of(key))
    except ValueError as err:
        raise ValueError(f"partition {key!r} is not a valid date: {err}") from err


def resolve_partition(granularity: Granularity, context: dict[str, Any]) -> PartitionWindow:
    """Which partition an Airflow run builds, in order of precedence:

    1. the `partition` param of a manual trigger;
    2. the newest partition among the upstream Asset events that triggered the run;
    3. the run's data interval (scheduled runs);
    4. the last complete period before the run (manual runs without a param).
    """
    requested = (context.get("params") or {}).get("partition")
    if requested:
        return parse_partition(granularity, requested)
    upstream = [
        event.extra.get("partition")
        for events in (context.get("triggering_asset_events") or {}).values()
        for event in events
        if getattr(event, "extra", None) and event.extra.get("partition")
    ]
    if upstream:
        return window_of(granularity, max(_start_of(k) for k in upstream))
    start, end = context.get("data_interval_start"), context.get("data_interval_end")
    if start is not None and end is not None and end > start:
        return window_of(granularity, start.date())
    dag_run = context.get("dag_run")
    moment: datetime = (
        context.get("logical_date") or getattr(dag_run, "run_after", None) or datetime.now(UTC)
    )  # the run's own time, so a cleared run rebuilds the same partition
    previous = moment.date() - timedelta(days=1)
    if granularity == "month":
        previous = moment.date().replace(day=1) - timedelta(days=1)
    return window_of(granularity, previous)
