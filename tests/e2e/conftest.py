"""Shared by the end-to-end modules: the DagBag and the product DAGs run for real with dag.test()."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DAY = "2026-11-20"
MONTH = "2026-11"


def run_dag(dagbag, dag_id: str, partition: str):
    dag = dagbag.dags.get(dag_id)
    return dag.test(run_conf={"partition": partition})


@pytest.fixture(scope="module")
def dagbag(airflow_db):
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(REPO / "dags"))


@pytest.fixture(scope="module")
def producers_published(dagbag, demo_sources, airflow_db):
    """marketing.ads_performance and sales.customer_orders published for DAY from the demo sources."""
    demo_sources.clear_faults()
    for dag_id in ("marketing__ads_performance", "sales__customer_orders"):
        run = run_dag(dagbag, dag_id, DAY)
        assert run.state == "success", dag_id
    return True


@pytest.fixture(scope="module")
def products_published(dagbag, producers_published):
    """All three products published: the producers for DAY, then finance.monthly_revenue for MONTH."""
    run = run_dag(dagbag, "finance__monthly_revenue", MONTH)
    assert run.state == "success", "finance__monthly_revenue"
    return True
