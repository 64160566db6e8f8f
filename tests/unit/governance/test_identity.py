"""Identity from the execution context: the platform's own DAG objects have a domain, nothing else does."""

from __future__ import annotations

from dataclasses import replace

import pytest

from data_mesh.contract import registry
from data_mesh.contract.spec import Access
from data_mesh.exceptions import AccessDenied, ContractError
from data_mesh.governance.identity import built_spec, current_task_principal


def test_only_the_dag_object_the_platform_built_carries_its_contract(airflow_db):
    from airflow.sdk import DAG

    from data_mesh.pipeline.dags import build_product_dag

    spec = registry.get_product("sales.customer_orders")
    built = build_product_dag(spec)
    assert built_spec(built) == spec
    impostor = DAG(dag_id=spec.dag_id, schedule=None)  # the same dag_id, written by hand
    assert built_spec(impostor) is None
    assert built_spec(DAG(dag_id="sales__evil", schedule=None)) is None


def test_read_product_takes_no_principal_and_outside_a_task_reads_nothing():
    import inspect

    from data_mesh import read_product

    assert "principal" not in inspect.signature(read_product).parameters
    with pytest.raises(TypeError):
        read_product("sales.customer_orders", purpose="x", principal=object())  # type: ignore[call-arg]
    with pytest.raises(AccessDenied, match="outside an Airflow task"):
        current_task_principal()


def test_a_consumer_without_a_grant_is_a_dag_import_error_naming_the_product(monkeypatch, tmp_path):
    from data_mesh.pipeline import dags

    monkeypatch.setenv("DATA_MESH_METADATA_URL", f"sqlite:///{tmp_path / 'meta.db'}")
    real = registry.get_product
    guarded = replace(real("sales.customer_orders"), access=Access.of(readers=("finance",)))
    consumer = replace(real("marketing.ads_performance"), inputs=("sales.customer_orders",))
    monkeypatch.setattr(registry, "get_product", lambda pid: guarded if pid == guarded.id else real(pid))
    with pytest.raises(ContractError) as error:
        dags._inputs(consumer)
    assert "sales.customer_orders" in str(error.value) and "no grant for domain 'marketing'" in str(
        error.value
    )
    assert error.value.field == "customProperties.inputs"

    from data_mesh.metadata.store import GovernanceStore

    store = GovernanceStore()
    request = store.create_request(
        guarded.id, "marketing", "domain", "carol.marketing", ["region"], "attribution", 30
    )
    from datetime import UTC, datetime, timedelta

    store.set_status(
        request.id,
        expected="pending",
        status="approved",
        actor="alice.sales",
        reason=None,
        expires_at=datetime.now(UTC) + timedelta(days=1),
    )
    assert [u.id for u in dags._inputs(consumer)] == [guarded.id]  # the approved domain grant counts


def test_a_task_of_a_platform_dag_reads_as_its_contracts_domain(airflow_db, monkeypatch):
    from types import SimpleNamespace

    import airflow.sdk
    from airflow.sdk import DAG

    from data_mesh.pipeline.dags import build_product_dag

    spec = registry.get_product("finance.monthly_revenue")
    built = build_product_dag(spec)
    for dag, domain in ((built, "finance"), (DAG(dag_id=spec.dag_id, schedule=None), None)):
        context = {"ti": SimpleNamespace(dag_id=spec.dag_id, task_id="transform"), "dag": dag}
        monkeypatch.setattr(airflow.sdk, "get_current_context", lambda context=context: context)
        principal = current_task_principal()
        assert (principal.kind, principal.domain) == ("task", domain)
        assert principal.name.startswith("domain:finance/" if domain else "no-domain/")
