"""The platform DAG `data_mesh__slo`: every few minutes, every product's freshness SLO (see `run.py`).

Imported at DAG parse time (`dags/platform.py`): Airflow and `conf` only; the evaluation imports the
stores inside the task. The interval is `DATA_MESH_SLO_INTERVAL_MINUTES` (default 5), catchup is off
(an evaluation is about now, never a past interval) and one run at a time (no two evaluators racing
on the same transition, so an alert goes out once).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from airflow.sdk import DAG, task

from data_mesh import conf

SLO_DAG_ID = "data_mesh__slo"
START_DATE = datetime(2026, 1, 1)


def build_slo_dag() -> DAG:
    minutes = conf.slo_interval_minutes()
    with DAG(
        dag_id=SLO_DAG_ID,
        description="Freshness SLO of every data product; alerts on violation and recovery",
        schedule=timedelta(minutes=minutes),
        start_date=START_DATE,
        catchup=False,
        max_active_runs=1,
        tags=["data-mesh", "platform", "slo"],
        doc_md=__doc__,
        default_args={"owner": "data-mesh-platform", "retries": 0},
    ) as dag:

        @task(task_id="evaluate", execution_timeout=timedelta(minutes=max(minutes, 5)))
        def evaluate(**context: Any) -> dict:
            """Measure every product's freshness, send the alerts due, record the evaluations."""
            from data_mesh.slo.run import evaluate_mesh

            return evaluate_mesh(context=context).to_xcom()

        evaluate()
    return dag


def build_platform_dags() -> dict[str, DAG]:
    """The platform's own DAGs, keyed by dag_id (`dags/platform.py` puts them in its globals)."""
    dag = build_slo_dag()
    return {dag.dag_id: dag}
