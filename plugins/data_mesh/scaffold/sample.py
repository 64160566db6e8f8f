"""One sample page of a source, fetched the way the product's DAG will fetch it.

The request is the platform's own (`sources.http.sample_page`: the source's URL, auth, retries and
registered paginator, secrets kept out of messages) with the Airflow Connection the contract will
name, so a source that samples here also fetches in the DAG. Only the first page is read: a schema is
inferred from it, the source is not pulled.

Every failure is a `SampleError` (a ValueError: the CLI's exit 2) that says what to fix: an unknown
connection, an HTTP error (with a hint at `--auth` on 401/403), a body that is not JSON records, an
empty page.
"""

from __future__ import annotations

from typing import Any

from data_mesh.contract.partition import PartitionWindow
from data_mesh.contract.spec import HttpSource
from data_mesh.exceptions import SourceError


class SampleError(ValueError):
    """The source could not give a sample to infer a product from."""


def connection(conn_id: str) -> Any:
    """The Airflow Connection as the fetch needs it (`ConnectionInfo`); SampleError if it is not defined."""
    from airflow.sdk import BaseHook
    from airflow.sdk.exceptions import AirflowNotFoundException

    from data_mesh.sources.http import ConnectionInfo

    try:
        return ConnectionInfo.from_airflow(BaseHook.get_connection(conn_id))
    except AirflowNotFoundException:
        raise SampleError(
            f"unknown Airflow connection {conn_id!r}: add it first (`airflow connections add {conn_id} "
            f"--conn-type http --conn-host https://...`, or AIRFLOW_CONN_{conn_id.upper()})"
        ) from None


def fetch_sample(source: HttpSource, window: PartitionWindow) -> list[dict[str, Any]]:
    """The records of the source's first page for the partition `window` (its template values)."""
    from data_mesh.sources.http import RetryPolicy, sample_page

    info = connection(source.conn_id)
    try:
        rows = sample_page(source, info, window.template_values(), policy=RetryPolicy(max_attempts=3))
    except SourceError as error:
        hint = ""
        if error.status in (401, 403):
            hint = f" (the source refuses the request with auth {source.auth.value!r}: is --auth right?)"
        elif error.status == 200:
            hint = (
                " (new-product reads JSON records: a list, or an object holding them under --records-field)"
            )
        raise SampleError(f"could not sample the source: {error}{hint}") from None
    except ValueError as error:  # the connection's host or the endpoint template
        raise SampleError(f"could not sample the source: {error}") from None
    if not rows:
        raise SampleError(
            f"the source returned no records for partition {window.key} ({source.endpoint}): "
            "sample another one with --sample-partition"
        )
    return rows
