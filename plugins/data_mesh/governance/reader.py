"""The governed reader: the one way consumers read a data product.

Every read checks the access decision for the principal and the columns it asks for (with the
principal's active grants, read at that moment: a revocation takes effect on the next read),
applies the product's lifecycle (`governance.lifecycle`: a hidden draft is unknown, a retired
product is refused naming its successor, a deprecated one warns), resolves a version of the product's
Iceberg table, re-identifies the restricted columns it was
granted (the table itself only holds vault tokens), and records an access event (allowed or denied,
naming the grants it used) in the metadata store.

`read_product`, the public API for task code, takes no principal: the consumer is the running task,
identified by `governance.identity`. The API, UI and SQL port call `read_table`/`read_batches` with the
principal of the authenticated Airflow user.
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
from data_mesh.exceptions import AccessDenied, ProductRetired
from data_mesh.governance import lifecycle
from data_mesh.governance.access import AccessPath, Decision, Principal, active_grants, decide
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
    store, wanted, resolved, decision = _authorize(
        product_id, principal, columns, purpose, path, version, as_of
    )
    table = _reidentified(store.spec, store.read_table(resolved, window=window, columns=list(wanted)))
    _record(product_id, principal, resolved, wanted, table.num_rows, purpose, path, decision)
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
    store, wanted, resolved, decision = _authorize(
        product_id, principal, columns, purpose, path, version, as_of
    )
    _record(product_id, principal, resolved, wanted, resolved.rows, purpose, path, decision)
    batches = store.iter_batches(resolved, columns=list(wanted))
    if any(c in store.spec.restricted_columns for c in wanted):
        batches = (b for t in batches for b in _reidentified(store.spec, _one(t)).to_batches())
    return resolved, store.schema(list(wanted)), batches


def _authorize(
    product_id: str,
    principal: Principal,
    columns: list[str] | None,
    purpose: str,
    path: AccessPath,
    version: int | None,
    as_of: datetime | None,
) -> tuple[ProductStorage, tuple[str, ...], ProductVersion, Decision]:
    """Check the access policy (a refusal is recorded and raised) and resolve the version to read.

    The storage that resolved the version is returned: it reads that version without loading the
    table again.
    """
    spec = registry.get_product(product_id)
    try:  # a hidden draft is an unknown product; a deprecated one warns (in the task log too)
        lifecycle.check_read(spec, principal)
    except ProductRetired as retired:
        _record(product_id, principal, None, (), 0, purpose, path, Decision(False, str(retired)))
        raise
    unknown = [c for c in columns or [] if c not in spec.column_names]
    if unknown:
        raise ValueError(f"{product_id} has no column(s) {unknown}; it has {list(spec.column_names)}")
    wanted = tuple(columns or spec.column_names)
    decision = decide(spec, principal, wanted, active_grants(spec, principal))
    if not decision.allowed:
        _record(product_id, principal, None, wanted, 0, purpose, path, decision)
        raise AccessDenied(product_id, principal.name, decision.reason)
    store = product_storage(spec)
    return store, wanted, store.version(version=version, as_of=as_of), decision


def _one(batch: pa.RecordBatch) -> pa.Table:
    import pyarrow as pa

    return pa.Table.from_batches([batch])


def _reidentified(spec: ProductSpec, table: pa.Table) -> pa.Table:
    """The granted restricted columns of `table` with their values instead of vault tokens."""
    restricted = [c for c in table.column_names if c in spec.restricted_columns]
    if not restricted:
        return table
    from data_mesh.governance.vault import Vault

    return Vault().reidentify(table, restricted)


def read_product(
    product_id: str,
    *,
    purpose: str,
    version: int | None = None,
    as_of: datetime | None = None,
    window: PartitionWindow | None = None,
    columns: list[str] | None = None,
) -> pd.DataFrame:
    """Read a product as a pandas DataFrame, as the running Airflow task (see `governance.identity`).

    There is no way to say who reads: a DAG the platform built from a contract reads with its
    domain's grants, any other DAG with none, and outside a task the call is refused.
    """
    from data_mesh.governance.identity import current_task_principal

    result = read_table(
        product_id,
        current_task_principal(),
        purpose=purpose,
        version=version,
        as_of=as_of,
        window=window,
        columns=columns,
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


def _record(
    product_id: str,
    principal: Principal,
    version: ProductVersion | None,
    columns: tuple[str, ...],
    rows: int,
    purpose: str,
    path: AccessPath,
    decision: Decision,
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
        allowed=decision.allowed,
        reason=decision.reason,
        grant_id=decision.grants[0] if decision.grants else None,
    )
    MetadataStore().record_access(event)
    emit_read(event, version.snapshot_id if version else None)  # OpenLineage for a task's read; never raises
    number = event.version
    log.info(
        "%s read %s v%s (%d rows, %s): %s", principal.name, product_id, number, rows, path, decision.reason
    )
