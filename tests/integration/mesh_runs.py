"""Run the shipped mesh through Airflow's REST API: the producers triggered, the consumer on their Assets.

Shared by the standalone fixture (`conftest.mesh_published`) and the distributed tests.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

PRODUCERS = ("marketing__ads_performance", "sales__customer_orders")
CONSUMER = "finance__monthly_revenue"
# The latest complete day: the very partition the producers' scheduled runs build once unpaused, so
# every Asset event the consumer sees is of one month (a mix made it build a month with no ads).
PARTITION = (datetime.now(UTC).date() - timedelta(days=1)).isoformat()


def run_mesh(api: Any, partition: str = PARTITION) -> dict[str, dict]:
    """Both producers triggered for `partition`, then the consumer's Asset-triggered run, all finished.

    `api` is the launcher's `Airflow` or `AirflowApi` (unpause, trigger, wait_for_run). Returns
    {dag_id: run} for the producers and CONSUMER.
    """
    api.unpause(CONSUMER)
    run_ids = {dag_id: api.trigger(dag_id, {"partition": partition}) for dag_id in PRODUCERS}
    for dag_id in PRODUCERS:
        api.unpause(dag_id)
    runs = {
        dag_id: api.wait_for_run(dag_id, lambda r, run_id=run_id: r["dag_run_id"] == run_id)
        for dag_id, run_id in run_ids.items()
    }
    runs[CONSUMER] = api.wait_for_run(CONSUMER, lambda r: r["run_type"] == "asset_triggered")
    return runs
