"""A product's health, in one word, shared by the API, the UI and the CLI.

    deprecated       the contract's status is deprecated or retired
    never published  no version has been published yet
    failing          the latest validation failed (the served version is older than the latest run)
    stale            the newest publication is older than the contract's latency SLA
    fresh            otherwise
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Literal

Status = Literal["fresh", "stale", "failing", "deprecated", "never published"]


def product_status(
    contract_status: str,
    latency_hours: float | None,
    latest_published_at: datetime | None,
    latest_validation_success: bool | None,
    now: datetime | None = None,
) -> Status:
    """The status of one product from its contract and its latest publication and validation."""
    if contract_status in ("deprecated", "retired"):
        return "deprecated"
    if latest_published_at is None:
        return "never published"
    if latest_validation_success is False:
        return "failing"
    now = now or datetime.now(UTC)
    published = latest_published_at if latest_published_at.tzinfo else latest_published_at.replace(tzinfo=UTC)
    if latency_hours is not None and now - published > timedelta(hours=latency_hours):
        return "stale"
    return "fresh"
