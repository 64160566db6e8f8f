"""Freshness SLO end to end: the real `data_mesh__slo` DAG (dag.test()) against real publications.

sales.customer_orders is published for an old partition (stale); the SLO run records the evaluation
and the demo server's webhook receives exactly one violation alert; a second run sends nothing more;
once the product DAG has published a current partition, the next SLO run sends exactly one recovery.
Without the alerts Connection the evaluation is still recorded and the log says alerts are disabled.
The webhook's secret reaches the receiver, and nothing else: not the task log, not the metadata store.
"""

from __future__ import annotations

import json
import os
import secrets
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.e2e.conftest import DAY, run_dag

ORDERS = "sales.customer_orders"
SLO_DAG = "data_mesh__slo"
SECRET = f"slo-hook-{secrets.token_urlsafe(24)}"


@pytest.fixture(scope="module")
def alerts(demo_sources):
    """The alerts Connection: the demo server's webhook receiver, with a secret token."""
    with pytest.MonkeyPatch.context() as patch:
        hook = {"conn_type": "http", "host": f"{demo_sources.url}/_control/webhook", "password": SECRET}
        patch.setenv("AIRFLOW_CONN_DATA_MESH_ALERTS", json.dumps(hook))
        patch.setenv("DATA_MESH_PUBLIC_URL", "http://airflow.example:8080")
        demo_sources.clear_webhooks()
        yield demo_sources


def received(server) -> list[dict]:
    """The alerts about ORDERS the webhook received, oldest first."""
    return [w for w in server.webhooks() if w["body"]["product"] == ORDERS]


def slo_run(dagbag):
    run = dagbag.dags[SLO_DAG].test()
    assert run.state == "success", f"{SLO_DAG}: {run.state}"
    return run


def evaluations():
    from data_mesh.metadata.store.slo import SloStore

    return SloStore().history(ORDERS, since=datetime.now(UTC) - timedelta(days=1))


def test_one_alert_per_violation_and_one_on_recovery(
    dagbag, demo_sources, alerts, monkeypatch, caplog, capfd
):
    assert run_dag(dagbag, "sales__customer_orders", DAY).state == "success"  # 2026-11-20: long stale

    # no Connection: recorded all the same, nothing sent, and the log says why
    monkeypatch.setenv("DATA_MESH_SLO_ALERTS_CONN_ID", "data_mesh_alerts_not_configured")
    slo_run(dagbag)
    first = evaluations()[-1]
    assert (first.state, first.newest_partition, first.sla_hours) == ("violated", DAY, 36.0)
    assert first.age_hours > 36 and (first.alert, first.delivery) == ("violation", "disabled")
    assert received(alerts) == [] and "SLO alerts are disabled" in caplog.text + capfd.readouterr().err
    monkeypatch.delenv("DATA_MESH_SLO_ALERTS_CONN_ID")

    slo_run(dagbag)  # the violation was never delivered: it is still due
    hooks = received(alerts)
    assert len(hooks) == 1, hooks
    violation = hooks[0]["body"]
    assert (violation["alert"], violation["state"], violation["sla_hours"]) == ("violation", "violated", 36.0)
    assert violation["newest_partition"] == DAY and violation["age_hours"] > 36
    assert violation["url"] == f"http://airflow.example:8080/data-mesh/ui/products/{ORDERS}"
    assert hooks[0]["authorization"] == f"Bearer {SECRET}"  # the secret went where it belongs
    assert evaluations()[-1].delivery == "sent"

    slo_run(dagbag)  # still stale: recorded, not alerted again
    assert len(received(alerts)) == 1
    latest = evaluations()[-1]
    assert (latest.state, latest.alert, latest.delivery) == ("violated", None, None)

    current = (datetime.now(UTC) - timedelta(days=1)).date().isoformat()  # yesterday's daily partition
    assert run_dag(dagbag, "sales__customer_orders", current).state == "success"
    slo_run(dagbag)
    hooks = received(alerts)
    assert [h["body"]["alert"] for h in hooks] == ["violation", "recovery"]
    recovery = hooks[1]["body"]
    assert (recovery["state"], recovery["newest_partition"]) == ("met", current) and recovery[
        "age_hours"
    ] < 36
    slo_run(dagbag)
    assert len(received(alerts)) == 2  # fresh and staying fresh: no more alerts
    history = evaluations()
    assert [e.state for e in history] == ["violated", "violated", "violated", "met", "met"]
    assert [e.alert for e in history] == ["violation", "violation", None, "recovery", None]

    # the secret is in no task log (what dag.test() printed and logged, Airflow's log files if any) and
    # nowhere in the metadata store (the SQLite file and its WAL)
    from data_mesh import conf

    captured = capfd.readouterr()
    logs = caplog.text + captured.out + captured.err
    assert "SLO alerts go through Connection 'data_mesh_alerts'" in logs  # the task log was captured
    assert f"{ORDERS}: met (newest partition {current}" in logs
    assert SECRET not in logs
    log_files = [p for p in (Path(os.environ["AIRFLOW_HOME"]) / "logs").rglob("*") if p.is_file()]
    assert all(SECRET.encode() not in p.read_bytes() for p in log_files)
    metadata_db = Path(conf.metadata_url().removeprefix("sqlite:///"))
    files = [p for p in metadata_db.parent.glob(metadata_db.name + "*") if p.is_file()]
    assert files and all(SECRET.encode() not in p.read_bytes() for p in files)
