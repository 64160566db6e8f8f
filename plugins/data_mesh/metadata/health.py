"""A product's health, in one word, shared by the API, the UI and the CLI.

    invalid contract the contract breaks ODCS or a global policy (the catalog shows the error)
    retired          retired (contract status, or a deprecated product past its endOfLife): not published
    deprecated       deprecated: still published and served, readers are warned
    never published  no version has been published yet
    failing          the latest validation failed (the served version is older than the latest run)
    stale            the newest data partition ended longer ago than the contract's latency SLA
    fresh            otherwise

Freshness is measured on the data, as the contract defines latency: the age of the newest published
partition's end. It is the same quantity as the freshness chart (which shows it at each publication),
so a backfill of an old partition never makes a stale product look fresh.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Literal

Status = Literal["fresh", "stale", "failing", "deprecated", "retired", "never published", "invalid contract"]


def product_status(
    lifecycle_state: str,
    latency_hours: float | None,
    *,
    published: bool,
    newest_partition_end: datetime | None,
    latest_validation_success: bool | None,
    now: datetime | None = None,
) -> Status:
    """The status of one product from its lifecycle state (`governance.lifecycle.state`), its newest
    partition and its latest validation."""
    if lifecycle_state == "retired":
        return "retired"
    if lifecycle_state == "deprecated":
        return "deprecated"
    if not published:
        return "never published"
    if latest_validation_success is False:
        return "failing"
    if latency_hours is None or newest_partition_end is None:
        return "fresh"
    now = now or datetime.now(UTC)
    end = newest_partition_end if newest_partition_end.tzinfo else newest_partition_end.replace(tzinfo=UTC)
    return "stale" if now - end > timedelta(hours=latency_hours) else "fresh"
