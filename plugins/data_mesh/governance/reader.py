"""The governed reader: the one way consumers read a data product.

Every read resolves a version through the product's manifests, checks the access policy for the
consumer and the columns it asks for, and records an access event (allowed or denied) in the
metadata store. Consumers never open product paths themselves.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from data_mesh.contract import registry
from data_mesh.contract.partition import PartitionWindow
from data_mesh.contract.spec import ProductSpec
from data_mesh.exceptions import AccessDenied
from data_mesh.governance.access import AccessPath, Principal, decide
from data_mesh.storage.products import ProductStorage, ProductVersion, product_storage

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ReadResult:
    table: pa.Table
    version: ProductVersion


def read_table(
    product_id: str,
    principal: Principal,
    *,
    purpose: str,
    path: AccessPath = "task",
    version: int | None = None,
    as_of: datetime | None = None,
    window: PartitionWindow | None = None,
    columns: list[str] | None = None,
) -> ReadResult:
    """Read one version of a product as an Arrow table, after the access check; the read is recorded."""
    store, wanted, resolved, reason = _authorize(
        product_id, principal, columns, purpose, path, version, as_of
    )
    table = store.read_table(resolved, window=window, columns=list(wanted))
    _record(product_id, principal, resolved, wanted, table.num_rows, purpose, path, True, reason)
    return ReadResult(table=table, version=resolved)


def read_batches(
    product_id: str,
    principal: Principal,
    *,
    purpose: str,
    path: AccessPath,
    version: int | None = None,
    as_of: datetime | None = None,
    columns: list[str] | None = None,
) -> tuple[ProductVersion, pa.Schema, Iterator[pa.RecordBatch]]:
    """A whole version as a stream of record batches (downloads): memory stays at one batch.

    Access is checked and the read recorded (with the version's row count) before any data moves.
    """
    store, wanted, resolved, reason = _authorize(
        product_id, principal, columns, purpose, path, version, as_of
    )
    _record(product_id, principal, resolved, wanted, resolved.rows, purpose, path, True, reason)
    return resolved, store.schema(list(wanted)), store.iter_batches(resolved, columns=list(wanted))


def _authorize(
    product_id: str,
    principal: Principal,
    columns: list[str] | None,
    purpose: str,
    path: AccessPath,
    version: int | None,
    as_of: datetime | None,
) -> tuple[ProductStorage, tuple[str, ...], ProductVersion, str]:
    """Check the access policy (a refusal is recorded and raised) and resolve the version to read.

    The storage that resolved the version is returned: it reads that version without loading the
    table again.
    """
    spec = registry.get_product(product_id)
    unknown = [c for c in columns or [] if c not in spec.column_names]
    if unknown:
        raise ValueError(f"{product_id} has no column(s) {unknown}; it has {list(spec.column_names)}")
    wanted = tuple(columns or spec.column_names)
    decision = decide(spec, principal, wanted)
    allowed, reason = decision.allowed, decision.reason
    if not allowed:
        _record(product_id, principal, None, wanted, 0, purpose, path, False, reason)
        raise AccessDenied(product_id, principal.name, reason)
    store = product_storage(spec)
    return store, wanted, store.version(version=version, as_of=as_of), reason


def read_product(
    product_id: str,
    *,
    purpose: str,
    principal: Principal | None = None,
    version: int | None = None,
    as_of: datetime | None = None,
    window: PartitionWindow | None = None,
    columns: list[str] | None = None,
) -> pd.DataFrame:
    """Read a product as a pandas DataFrame. Inside an Airflow task the consumer is the running task."""
    principal = principal or _current_task_principal()
    result = read_table(
        product_id, principal, purpose=purpose, version=version, as_of=as_of, window=window, columns=columns
    )
    return result.table.to_pandas()


def read_for_pipeline(
    consumer: ProductSpec,
    dag_id: str,
    task_id: str,
    product_id: str,
    *,
    purpose: str,
    window: PartitionWindow | None = None,
    columns: list[str] | None = None,
) -> ReadResult:
    """A product pipeline's read of one of its declared inputs, as its contract's domain."""
    principal = Principal.for_task(dag_id, task_id, consumer.domain)
    return read_table(product_id, principal, purpose=purpose, window=window, columns=columns)


def _current_task_principal() -> Principal:
    from airflow.sdk import get_current_context

    ti = get_current_context()["ti"]
    domain = ti.dag_id.split("__", 1)[0]
    return Principal.for_task(ti.dag_id, ti.task_id, domain)


def _record(
    product_id: str,
    principal: Principal,
    version: ProductVersion | None,
    columns: tuple[str, ...],
    rows: int,
    purpose: str,
    path: AccessPath,
    allowed: bool,
    reason: str,
) -> None:
    """Every read is audited; a read that cannot be recorded does not happen."""
    from data_mesh.metadata.openlineage import emit_read
    from data_mesh.metadata.store import AccessEvent, MetadataStore

    event = AccessEvent(
        principal=principal.name,
        principal_kind=principal.kind,
        product_id=product_id,
        version=version.version if version else None,
        columns=tuple(columns),
        rows=rows,
        purpose=purpose,
        path=path,
        allowed=allowed,
        reason=reason,
    )
    MetadataStore().record_access(event)
    emit_read(event, version.snapshot_id if version else None)  # OpenLineage for a task's read; never raises
    number = event.version
    log.info("%s read %s v%s (%d rows, %s): %s", principal.name, product_id, number, rows, path, reason)
