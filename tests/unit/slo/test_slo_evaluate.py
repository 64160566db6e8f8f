"""One product's SLO state, when an alert is due, and the evaluations as the store keeps them."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import pytest

from data_mesh.contract.registry import get_product
from data_mesh.metadata.health import frequency_hours, freshness_limit_hours
from data_mesh.metadata.store.slo import SloEvaluation, SloStore
from data_mesh.slo.evaluate import alert_due, evaluate_product

ORDERS = "sales.customer_orders"  # daily partitions, latency 36 h
ENDED = datetime(2026, 11, 21, tzinfo=UTC)  # the end of partition 2026-11-20


def test_met_up_to_the_latency_then_violated():
    spec = get_product(ORDERS)
    at_limit = evaluate_product(spec, "2026-11-20", ENDED + timedelta(hours=36))
    assert (at_limit.state, at_limit.age_hours, at_limit.sla_hours) == ("met", 36.0, 36.0)
    late = evaluate_product(spec, "2026-11-20", ENDED + timedelta(hours=36, seconds=36))
    assert (late.state, late.age_hours, late.newest_partition) == ("violated", 36.01, "2026-11-20")


def test_unknown_when_there_is_nothing_to_measure():
    spec = get_product(ORDERS)
    assert evaluate_product(spec, None, ENDED).reason == "never published"
    retired = dataclasses.replace(spec, status="retired")
    assert evaluate_product(retired, "2026-11-20", ENDED + timedelta(days=9)).state == "unknown"
    no_sla = dataclasses.replace(spec, sla=dataclasses.replace(spec.sla, latency_hours=None, frequency=None))
    assert evaluate_product(no_sla, "2026-11-20", ENDED).reason == "the contract sets no latency or frequency"


def test_without_a_latency_the_frequency_is_the_limit():
    assert freshness_limit_hours(None, "@daily") == 24.0
    assert freshness_limit_hours(12, "@daily") == 12.0
    assert frequency_hours("0 6 * * 1-5") == 72.0  # weekdays at 06:00: Friday to Monday is the longest gap
    with pytest.raises(ValueError, match="neither a preset"):
        frequency_hours("every tuesday")


@pytest.mark.parametrize(
    ("state", "notified", "due"),
    [
        ("violated", None, "violation"),  # never alerted counts as met
        ("violated", "met", "violation"),
        ("violated", "violated", None),  # still stale: silent
        ("met", "violated", "recovery"),
        ("met", None, None),
        ("met", "met", None),
        ("unknown", "violated", None),  # unknown never alerts and changes nothing
    ],
)
def test_alerts_follow_transitions(state, notified, due):
    assert alert_due(state, notified) == due


def test_the_store_keeps_history_and_what_was_notified(tmp_path):
    store = SloStore(f"sqlite:///{tmp_path / 'slo.db'}")
    t0 = datetime(2026, 12, 1, tzinfo=UTC)
    rows = [
        SloEvaluation(ORDERS, t0, "met", 10.0, 36.0, "2026-11-30"),
        SloEvaluation(
            ORDERS, t0 + timedelta(hours=1), "violated", 40.0, 36.0, "2026-11-29", None, "violation", "sent"
        ),
        SloEvaluation(
            ORDERS, t0 + timedelta(hours=2), "met", 1.0, 36.0, "2026-12-01", None, "recovery", "failed"
        ),
        SloEvaluation("x.other", t0, "violated", 99.0, 24.0, "2026-11-01", None, "violation", "disabled"),
    ]
    assert len(store.record(rows)) == 4
    # a failed recovery leaves the violation as what the receivers were last told: it stays due
    assert store.notified_states([ORDERS, "x.other", "x.none"]) == {ORDERS: "violated"}
    since = store.history(ORDERS, since=t0 + timedelta(minutes=90))
    assert [e.state for e in since] == ["violated", "met"]  # the one before `since` still held then
    assert since[0].evaluated_at == t0 + timedelta(hours=1) and since[0].age_hours == 40.0
    assert [a.alert for a in store.alerts(ORDERS)] == ["recovery", "violation"]
    assert store.latest(ORDERS).delivery == "failed"
    assert store.latest(ORDERS, until=t0 + timedelta(minutes=90)).state == "violated"
    # what attainment reads: the same times and states, as pairs
    pairs = store.states(ORDERS, since=t0 + timedelta(minutes=90))
    assert [(p.evaluated_at, p.state) for p in pairs] == [(e.evaluated_at, e.state) for e in since]
    assert store.states(ORDERS, since=t0, until=t0 + timedelta(minutes=30)) == [(t0, "met")]
    with pytest.raises(ValueError, match="an SLO state is one of"):
        SloEvaluation(ORDERS, t0, "stale")  # type: ignore[arg-type]
