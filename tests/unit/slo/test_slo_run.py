"""One evaluation of the mesh outside Airflow: a webhook that fails, a misconfigured Connection.

A failed delivery is recorded as such, fails the run with a message naming the Connection (never its
URL or secret), and stays due: the next run that can deliver it sends it, once.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from data_mesh.contract.registry import get_product
from data_mesh.metadata.store import MetadataStore, PublicationRecord
from data_mesh.metadata.store.slo import SloStore
from data_mesh.slo.notifier import AlertNotDelivered
from data_mesh.slo.run import evaluate_mesh

ORDERS = "sales.customer_orders"
SECRET = "run-test-secret-7f3a"


@pytest.fixture
def stale_store(tmp_path, monkeypatch) -> SloStore:
    """A metadata store of the test's own where ORDERS was last published for 2026-11-20 (stale)."""
    url = f"sqlite:///{tmp_path / 'metadata.db'}"
    monkeypatch.setenv("DATA_MESH_METADATA_URL", url)
    spec = get_product(ORDERS)
    store = MetadataStore(url)
    store.upsert_product(spec, Path(spec.contract_path).read_text())
    store.record_publication(PublicationRecord(product_id=ORDERS, version=1, partition="2026-11-20"))
    return SloStore(url)


def connect(monkeypatch, server, path: str, **extra) -> None:
    hook = {"conn_type": "http", "host": f"{server.url}{path}", "password": SECRET, "extra": extra}
    monkeypatch.setenv("AIRFLOW_CONN_DATA_MESH_ALERTS", json.dumps(hook))


def test_a_failed_delivery_is_recorded_and_retried_once_it_can_go(stale_store, server, monkeypatch, caplog):
    server.clear_webhooks()
    connect(monkeypatch, server, "/_control/no-such-receiver")  # answers 404
    with pytest.raises(
        AlertNotDelivered, match="sales.customer_orders through connection 'data_mesh_alerts'"
    ):
        evaluate_mesh(store=stale_store)
    failed = stale_store.latest(ORDERS)
    assert (failed.state, failed.alert, failed.delivery) == ("violated", "violation", "failed")
    assert "answered HTTP 404" in caplog.text
    assert "no-such-receiver" not in caplog.text and SECRET not in caplog.text  # the URL may be a secret

    connect(monkeypatch, server, "/_control/webhook")
    run = evaluate_mesh(store=stale_store)
    assert run.to_xcom()["alerts"] == {ORDERS: "violation: sent"}
    evaluate_mesh(store=stale_store)
    assert [w["body"]["alert"] for w in server.webhooks() if w["body"]["product"] == ORDERS] == ["violation"]


def test_an_unknown_notifier_is_named(stale_store, server, monkeypatch, caplog):
    connect(monkeypatch, server, "/_control/webhook", notifier="pager")
    with pytest.raises(AlertNotDelivered):
        evaluate_mesh(store=stale_store)
    assert "names notifier 'pager'; registered notifiers: ['webhook']" in caplog.text
    assert stale_store.latest(ORDERS).delivery == "failed"


def test_evaluations_past_the_retention_are_pruned_but_not_what_was_last_notified(
    stale_store, server, monkeypatch
):
    """Every 5 minutes, forever: the table keeps `DATA_MESH_SLO_RETENTION_DAYS` of history. The newest
    delivered alert outlives it, or the next run would announce the same violation again."""
    from datetime import UTC, datetime, timedelta

    server.clear_webhooks()
    connect(monkeypatch, server, "/_control/webhook")
    monkeypatch.setenv("DATA_MESH_SLO_RETENTION_DAYS", "31")
    start = datetime(2027, 1, 1, tzinfo=UTC)  # ORDERS was last published for 2026-11-20: stale
    first = evaluate_mesh(now=start, store=stale_store)  # the violation alert goes out
    assert first.to_xcom()["alerts"] == {ORDERS: "violation: sent"} and first.pruned == 0
    for day in (10, 20, 30):
        evaluate_mesh(now=start + timedelta(days=day), store=stale_store)
    late = start + timedelta(days=45)
    run = evaluate_mesh(now=late, store=stale_store)

    products = len(run.evaluations)
    assert run.pruned == 2 * products - 1  # days 0 and 10 are past 31 days, but day 0's sent alert
    assert run.to_xcom()["pruned_evaluations"] == run.pruned
    kept = stale_store.history(ORDERS, since=start - timedelta(days=1))
    assert [e.evaluated_at for e in kept] == [start + timedelta(days=d) for d in (0, 20, 30, 45)]
    assert kept[0].delivery == "sent"
    assert stale_store.notified_states([ORDERS]) == {ORDERS: "violated"}
    assert [w["body"]["alert"] for w in server.webhooks() if w["body"]["product"] == ORDERS] == ["violation"]


@pytest.mark.parametrize("days", ["30", "0", "ninety", "-5"])
def test_a_retention_shorter_than_the_attainment_window_is_refused(stale_store, monkeypatch, days):
    monkeypatch.setenv("DATA_MESH_SLO_RETENTION_DAYS", days)
    with pytest.raises(ValueError, match="DATA_MESH_SLO_RETENTION_DAYS must be a whole number of days >= 31"):
        evaluate_mesh(store=stale_store)
