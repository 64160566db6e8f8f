"""Attainment over a synthetic history, with every figure worked out by hand below.

max_gap = 2 h; the report ends at 2026-12-10 00:00 UTC. Each evaluation's state holds until the next
evaluation, at most 2 h:

    e0 12-02 23:00 met       -> 12-03 01:00   2.0 h met      (1.0 h of it inside the 7-day window)
    e1 12-03 01:00 violated  -> 02:30         1.5 h violated
    e2 12-03 02:30 unknown   -> 03:00         0.5 h unknown  (excluded)
    e3 12-03 03:00 met       -> 05:00         2.0 h met      (capped: the next is 10:00; 05-10 uncovered)
    e4 12-03 10:00 violated  -> 11:00         1.0 h violated
    e5 12-03 11:00 met       -> 13:00         2.0 h met      (capped: the next is 12-09 23:00)
    e6 12-09 23:00 met       -> 12-10 00:00   1.0 h met      (the end of the report)

7 days  [12-03 00:00, 12-10 00:00): met 1 + 2 + 2 + 1 = 6 h, violated 1.5 + 1 = 2.5 h -> 6 / 8.5
30 days [11-10 00:00, 12-10 00:00): met 2 + 2 + 2 + 1 = 7 h, violated 2.5 h          -> 7 / 9.5
Daily: 12-02 1 h met -> 1.0; 12-03 met 1 + 2 + 2 = 5 h, violated 2.5 h -> 5 / 7.5; 12-09 1 h met -> 1.0;
every other day measured nothing -> None.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from data_mesh.metadata.store.slo import SloEvaluation
from data_mesh.slo.attainment import attainment, daily_series, intervals, windows

END = datetime(2026, 12, 10, tzinfo=UTC)
GAP = timedelta(hours=2)


def at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 12, day, hour, minute, tzinfo=UTC)


HISTORY = [
    SloEvaluation("p.x", at(2, 23), "met"),
    SloEvaluation("p.x", at(3, 1), "violated"),
    SloEvaluation("p.x", at(3, 2, 30), "unknown"),
    SloEvaluation("p.x", at(3, 3), "met"),
    SloEvaluation("p.x", at(3, 10), "violated"),
    SloEvaluation("p.x", at(3, 11), "met"),
    SloEvaluation("p.x", at(9, 23), "met"),
]


def test_seven_and_thirty_day_attainment():
    held = intervals(list(reversed(HISTORY)), END, GAP)  # the order given does not matter
    result = windows(held, END)
    assert (result[7].met_hours, result[7].violated_hours) == pytest.approx((6.0, 2.5))
    assert result[7].ratio == pytest.approx(6 / 8.5)  # 70.6 %
    assert (result[30].met_hours, result[30].violated_hours) == pytest.approx((7.0, 2.5))
    assert result[30].ratio == pytest.approx(7 / 9.5)  # 73.7 %
    assert result[7].to_dict()["attainment"] == round(6 / 8.5, 6)


def test_daily_series():
    series = daily_series(intervals(HISTORY, END, GAP), END)
    assert len(series) == 30 and series[-1].day == date(2026, 12, 9)  # the end is midnight: 12-10 is empty
    by_day = {p.day: p.attainment.ratio for p in series}
    assert by_day[date(2026, 12, 2)] == pytest.approx(1.0)
    assert by_day[date(2026, 12, 3)] == pytest.approx(5 / 7.5)
    assert by_day[date(2026, 12, 9)] == pytest.approx(1.0)
    assert [d for d, r in by_day.items() if r is not None] == [date(2026, 12, d) for d in (2, 3, 9)]


def test_a_state_holds_until_the_next_evaluation_at_most_max_gap():
    held = intervals(HISTORY[3:5], END, GAP)  # met at 03:00, violated at 10:00
    assert [(i.start, i.end, i.state) for i in held] == [
        (at(3, 3), at(3, 5), "met"),
        (at(3, 10), at(3, 12), "violated"),
    ]


def test_nothing_measured_is_none_not_zero():
    unknown_only = intervals([SloEvaluation("p.x", at(9, 12), "unknown")], END, GAP)
    assert windows(unknown_only, END)[7].ratio is None
    assert attainment([], END - timedelta(days=7), END).ratio is None


def test_violated_all_the_time_is_zero():
    held = intervals([SloEvaluation("p.x", at(9, 23, 30), "violated")], END, GAP)
    assert windows(held, END)[7].ratio == 0.0 and windows(held, END)[7].violated_hours == pytest.approx(0.5)
