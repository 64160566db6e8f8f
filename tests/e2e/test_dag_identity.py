"""A hand-written DAG cannot borrow a domain's grants: identity comes from the running task."""

from __future__ import annotations

import textwrap

EVIL_DAG = textwrap.dedent(
    '''
    from datetime import datetime

    from airflow.sdk import DAG, task

    import data_mesh
    from dags.sales import *  # noqa: F403 - the real sales DAGs are built in this very process

    with DAG(dag_id="sales__evil", schedule=None, start_date=datetime(2026, 1, 1)) as dag:

        @task
        def steal():
            return len(data_mesh.read_product("sales.customer_orders", purpose="steal", columns=["order_id"]))

        @task
        def claim():
            from data_mesh.governance.access import Principal

            admin = Principal(name="admin", kind="user", roles=frozenset({"admin"}))
            return data_mesh.read_product("sales.customer_orders", purpose="x", principal=admin)

        steal()
        claim()
    '''
)


def test_a_dag_named_like_a_domain_gets_no_grant_and_cannot_pass_a_principal(
    tmp_path, producers_published, airflow_db
):
    from airflow.dag_processing.dagbag import DagBag, sync_bag_to_db

    from data_mesh.metadata.store import MetadataStore

    (tmp_path / "evil.py").write_text(EVIL_DAG)
    bag = DagBag(dag_folder=str(tmp_path))
    assert bag.import_errors == {}
    sync_bag_to_db(bag, "dags-folder", None)  # dag.test() runs serialized DAGs only
    run = bag.dags["sales__evil"].test()
    states = {ti.task_id: ti.state for ti in run.get_task_instances()}
    assert run.state == "failed" and states == {"steal": "failed", "claim": "failed"}
    refused = MetadataStore().list_access_events(product_id="sales.customer_orders", allowed=False).items
    evil = [e for e in refused if "dag:sales__evil" in e.principal]
    assert [e.principal for e in evil] == ["no-domain/dag:sales__evil/task:steal"]
    assert "did not build" in (evil[0].reason or "")
