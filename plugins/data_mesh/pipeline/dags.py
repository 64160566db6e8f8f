"""Turn product specs into Airflow DAGs: one DAG per product, fetch -> transform -> validate -> publish,
then the `cleanup` teardown (the run's staging and uncommitted staged file removed, whatever the outcome).

Imported at DAG parse time: only Airflow and the light spec/contract modules here; the pipeline's
heavy work (pandas, pyarrow, GX) is imported inside the tasks.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from airflow.sdk import DAG, Asset, Param, task
from airflow.timetables.interval import CronDataIntervalTimetable

from data_mesh import conf
from data_mesh.contract import registry
from data_mesh.contract.spec import ProductSpec
from data_mesh.exceptions import ContractError
from data_mesh.governance import breaking, lifecycle
from data_mesh.governance.access import domain_decision
from data_mesh.governance.identity import register_built_dag
from data_mesh.storage.products import product_storage

START_DATE = datetime(2026, 1, 1)


def product_asset(spec: ProductSpec) -> Asset:
    """The Airflow Asset of a product: named by its id, addressed by its storage URI."""
    return Asset(
        name=spec.id,
        uri=product_storage(spec).uri,
        group="data-products",
        extra={"domain": spec.domain, "owner": spec.owner, "contract": spec.contract_id},
    )


def _inputs(spec: ProductSpec) -> list[ProductSpec]:
    """Upstream products, checked at parse time: they exist and grant this domain read access
    (by a role in their contract, or by an approved access request of this domain)."""
    upstreams = []
    for upstream_id in spec.inputs:
        upstream = registry.get_product(upstream_id)
        problem = lifecycle.input_problem(upstream, spec.domain)
        if problem:
            raise ContractError(spec.contract_path, "customProperties.inputs", problem)
        decision = domain_decision(upstream, spec.domain)
        if not decision.allowed:  # only then is the metadata store asked for the domain's grants
            decision = domain_decision(upstream, spec.domain, grants=_domain_grants(upstream, spec.domain))
        if not decision.allowed:
            reason = f"{upstream_id}: {decision.reason} (no grant for domain {spec.domain!r})"
            raise ContractError(spec.contract_path, "customProperties.inputs", reason)
        upstreams.append(upstream)
    return upstreams


def _domain_grants(upstream: ProductSpec, domain: str) -> list:
    """The domain's approved access requests on `upstream` (none when the store cannot be read)."""
    from data_mesh.governance.access import Principal, active_grants

    try:
        return active_grants(upstream, Principal(name=f"domain:{domain}", kind="task", domain=domain))
    except Exception:  # the store is down: only the contracts' roles count, and the error says so
        return []


def _schedule(spec: ProductSpec) -> Any:
    upstreams = _inputs(spec)
    if upstreams and not spec.sla.frequency:
        return [product_asset(upstream) for upstream in upstreams]  # runs once every input has published
    return CronDataIntervalTimetable(spec.sla.frequency or "@daily", timezone="UTC")


def build_product_dag(spec: ProductSpec) -> DAG:
    breaking.check_at_parse(spec)  # a breaking change to the published contract is an import error
    asset = product_asset(spec)
    granularity = spec.partitioning.granularity
    example = "2026-11-22" if granularity == "day" else "2026-11"
    with DAG(
        dag_id=spec.dag_id,
        description=spec.description[:200],
        schedule=_schedule(spec),
        start_date=START_DATE,
        catchup=False,
        max_active_runs=1,  # one publisher per product at a time
        tags=[spec.domain, "data-product", *spec.tags],
        owner_links={spec.owner: spec.support[0][1]} if spec.support and spec.support[0][1] else {},
        doc_md=spec.doc_md,
        default_args={
            "owner": spec.owner,
            "retries": conf.task_retries(),
            "retry_delay": timedelta(seconds=conf.task_retry_delay_seconds()),
            # A run that started is finished before new runs' fetches take the slots: under Airflow's
            # default ("downstream") the `cleanup` teardown has the lowest weight, and on the 200-product
            # mesh on 4 Celery slots no run reached `success` in 30 min, their teardowns queued behind
            # the fetches of newly triggered runs.
            "weight_rule": "upstream",
        },
        params={
            "partition": Param(
                None,
                type=["null", "string"],
                pattern=r"^\d{4}-\d{2}-\d{2}$" if granularity == "day" else r"^\d{4}-\d{2}$",
                title="Partition to (re)build",
                description=f"A {granularity} like {example}. Empty: the run's data interval.",
            )
        },
    ) as dag:
        fetched = _fetch_task(spec)()
        transformed = _transform_task(spec)(fetched)
        validated = _validate_task(spec)(transformed)
        published = _publish_task(spec, asset)(validated)
        # a teardown: runs once the work tasks are done, whatever their outcome, and never decides
        # the run's state (a failed run stays failed; a cleanup error fails only this task)
        [fetched, transformed, validated, published] >> _cleanup_task(spec)().as_teardown()
    register_built_dag(dag, spec)
    return dag


def _run(context: dict[str, Any]) -> Any:
    from data_mesh.pipeline.context import RunInfo

    ti = context["ti"]
    return RunInfo(dag_id=ti.dag_id, run_id=ti.run_id, task_id=ti.task_id)


def _fetch_task(spec: ProductSpec):
    @task(task_id="fetch")
    def fetch(**context: Any) -> dict:
        """Pull every source of the product over HTTP into the run's staging folder."""
        from airflow.sdk import BaseHook

        from data_mesh.contract.partition import resolve_partition
        from data_mesh.pipeline import steps
        from data_mesh.sources.http import ConnectionInfo

        window = resolve_partition(spec.partitioning.granularity, context)
        connections = {
            s.conn_id: ConnectionInfo.from_airflow(BaseHook.get_connection(s.conn_id)) for s in spec.sources
        }
        return steps.fetch(spec, window, _run(context), connections).to_xcom()

    return fetch


def _transform_task(spec: ProductSpec):
    @task(task_id="transform")
    def transform(fetched: dict, **context: Any) -> dict:
        """Run the domain's transform code; upstream products are read through the governed reader."""
        from data_mesh.pipeline import steps
        from data_mesh.pipeline.context import Fetched

        return steps.transform(spec, _run(context), Fetched.from_xcom(fetched)).to_xcom()

    return transform


def _validate_task(spec: ProductSpec):
    @task(task_id="validate")
    def validate(transformed: dict, **context: Any) -> dict:
        """Check the contract's schema and the GX suite; quarantine the batch on failure.

        Rejected data fails the task for good (AirflowFailException: bad data does not get better by
        retrying); anything else (the metadata database or the object store unreachable) is retried.
        """
        from airflow.sdk.exceptions import AirflowFailException

        from data_mesh.exceptions import ContractViolation, SuiteError, ValidationFailed
        from data_mesh.pipeline import steps
        from data_mesh.pipeline.context import Transformed

        try:
            return steps.validate(spec, _run(context), Transformed.from_xcom(transformed)).to_xcom()
        except (ValidationFailed, ContractViolation, SuiteError) as rejected:
            raise AirflowFailException(f"{type(rejected).__name__}: {rejected}") from rejected

    return validate


def _publish_task(spec: ProductSpec, asset: Asset):
    @task(task_id="publish", outlets=[asset])
    def publish(validated: dict, **context: Any) -> dict:
        """Publish the partition as the product's next version and emit the Asset event."""
        from data_mesh.pipeline import steps
        from data_mesh.pipeline.context import Validated

        extra = steps.publish(spec, _run(context), Validated.from_xcom(validated)).to_xcom()
        context["outlet_events"][asset].extra = extra
        return extra

    return publish


def _cleanup_task(spec: ProductSpec):
    @task(task_id="cleanup", retries=0)
    def cleanup(**context: Any) -> dict:
        """Remove the run's staging folder and an uncommitted staged file; prune old quarantine."""
        from data_mesh.pipeline.cleanup import teardown

        ti = context["ti"]
        return teardown(
            spec,
            _run(context),
            lambda: ti.xcom_pull(task_ids="validate"),
            lambda: ti.xcom_pull(task_ids="publish"),
        )

    return cleanup


def build_domain_dags(domain: str) -> dict[str, DAG]:
    """Every product DAG of a domain, keyed by dag_id (a DAG file puts them in its globals); a retired
    product has none: it is no longer published, and reads of it fail naming its successor."""
    return {
        spec.dag_id: build_product_dag(spec)
        for spec in registry.load_products(domain).values()
        if lifecycle.state(spec) != "retired"
    }
