"""Health: freshness is the age of the newest data partition, as the contract's latency defines it."""

from __future__ import annotations

from datetime import UTC, datetime

from data_mesh.contract.partition import partition_end
from data_mesh.metadata.health import product_status

NOW = datetime(2026, 11, 25, 12, tzinfo=UTC)


def status(newest: str | None, granularity: str = "day", latency: float | None = 36, **kw):
    end = partition_end(granularity, newest) if newest else None  # type: ignore[arg-type]
    return product_status(
        "active", latency, published=newest is not None, newest_partition_end=end,
        latest_validation_success=kw.get("validated", True), now=NOW,
    )  # fmt: skip


def test_the_newest_partition_decides_freshness():
    assert status("2026-11-24") == "fresh"  # ended 12 h ago
    assert status("2026-11-22") == "stale"  # ended 60 h ago


def test_a_backfill_of_an_old_partition_does_not_make_a_stale_product_fresh():
    """Publishing 2026-11-01 today is a new publication, but the newest data is still 2026-11-22."""
    newest = max("2026-11-22", "2026-11-01")
    assert status(newest) == "stale"


def test_monthly_partitions_end_at_the_end_of_the_month():
    assert partition_end("month", "2026-11") == datetime(2026, 12, 1, tzinfo=UTC)
    assert status("2026-11", "month", latency=24 * 40) == "fresh"
    assert status("2026-09", "month", latency=24 * 40) == "stale"


def test_other_states_come_first():
    assert status(None) == "never published"
    assert status("2026-11-24", validated=False) == "failing"
    assert status("2026-11-01", latency=None) == "fresh"  # no SLA: nothing to be late for
