"""Who is reading, from the execution context: never from the caller.

A task's identity is the running task instance (`airflow.sdk.get_current_context()`). Its DAG counts
as a domain's DAG only if the platform built that very DAG object from a contract
(`pipeline.dags.build_product_dag` registers each one here); its domain is then that contract's
domain. A DAG the platform did not build, whatever its dag_id (`sales__evil`), gets no domain and
so no domain grant. Outside a task there is no identity and the public reader refuses to read.

What this does not stop: code running inside a task process can import the platform's internals
and build any `Principal` it likes (see the README's threat model); it stops every caller that uses
the public API, and every DAG that is not the platform's.
"""

from __future__ import annotations

import weakref
from typing import Any

from data_mesh.contract.spec import ProductSpec
from data_mesh.exceptions import AccessDenied
from data_mesh.governance.access import Principal

# dag_id -> (the DAG object the platform built, its product spec)
_BUILT: dict[str, tuple[weakref.ref[Any], ProductSpec]] = {}


def register_built_dag(dag: Any, spec: ProductSpec) -> None:
    """Called by the DAG builder for every DAG it builds from a contract."""
    _BUILT[dag.dag_id] = (weakref.ref(dag), spec)


def built_spec(dag: Any) -> ProductSpec | None:
    """The contract a DAG object was built from by the platform, or None for any other DAG."""
    entry = _BUILT.get(getattr(dag, "dag_id", ""))
    if entry is None or entry[0]() is not dag:
        return None
    return entry[1]


def current_task_principal() -> Principal:
    """The running task as a principal: its platform DAG's domain, or no domain at all."""
    try:
        from airflow.sdk import get_current_context

        context = get_current_context()
    except Exception:  # no task is running in this process
        raise AccessDenied(
            "(any product)",
            "a process outside an Airflow task",
            "read_product identifies its reader from the running task; people read through the "
            "API, the UI or the `data-mesh` CLI",
        ) from None
    ti = context["ti"]
    dag = context.get("dag") or getattr(getattr(ti, "task", None), "dag", None)
    spec = built_spec(dag)
    return Principal.for_task(ti.dag_id, ti.task_id, spec.domain if spec else None)
