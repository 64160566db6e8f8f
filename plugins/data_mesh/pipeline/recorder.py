"""Writes pipeline metadata (products, validations, publications, lineage) to the metadata store.

Metadata never fails a pipeline: the product is already published (or rejected) when these run, so
a store outage is logged and the run goes on. Access events are different (see `reader`): a read
that cannot be audited does not happen.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from data_mesh.contract.spec import ProductSpec

if TYPE_CHECKING:
    from data_mesh.pipeline.context import RunInfo, Validated
    from data_mesh.storage.products import ProductVersion

log = logging.getLogger(__name__)


def _store():
    from data_mesh.metadata.store import MetadataStore

    return MetadataStore()


def _guarded(what: str):
    def wrap(func):
        def run(*args: Any, **kwargs: Any) -> None:
            try:
                func(*args, **kwargs)
            except Exception:  # metadata must not fail the task: log and go on
                log.exception("could not record %s in the metadata store (no impact on the task)", what)

        run.__doc__ = func.__doc__
        return run

    return wrap


def register_products(specs: list[ProductSpec]) -> None:
    """Products and their product-level lineage, from the contracts."""
    store = _store()
    for spec in specs:
        store.upsert_product(spec, Path(spec.contract_path).read_text(encoding="utf-8"))
        for source in spec.sources:
            store.add_lineage_edge("source", f"{source.conn_id}:{source.endpoint}", "product", spec.id)
        for upstream in spec.inputs:
            store.add_lineage_edge("product", upstream, "product", spec.id)
            store.add_lineage_edge("product", upstream, "dag", spec.dag_id)


@_guarded("a validation")
def validation(
    spec: ProductSpec, run: RunInfo, partition: str, report: Any, quarantine_path: str | None
) -> None:
    from data_mesh.metadata.store import ValidationRecord

    _store().record_validation(
        ValidationRecord(
            product_id=spec.id,
            success=report.success,
            partition=partition,
            run_id=run.run_id,
            evaluated=report.evaluated,
            successful=report.successful,
            failed=report.failed,
            report=report.to_dict(),
            quarantine_path=quarantine_path,
        )
    )


@_guarded("a publication")
def publication(
    spec: ProductSpec, run: RunInfo, published: ProductVersion, validated: Validated, duration_s: float
) -> None:
    from data_mesh.metadata.openlineage import emit_publication
    from data_mesh.metadata.store import PublicationRecord

    register_products([spec])
    record = PublicationRecord(
        product_id=spec.id,
        version=published.version,
        partition=published.changed_partition,
        rows=validated.staged_partition.rows,
        bytes=validated.staged_partition.bytes,
        files=published.files,
        schema=validated.schema,
        schema_hash=published.schema_hash,
        duration_s=duration_s,
        dag_id=run.dag_id,
        run_id=run.run_id,
        task_id=run.task_id,
        validation_success=validated.validation.success,
        validation_summary=validated.report,
        inputs=tuple(validated.transformed.inputs.items()),
        snapshot_id=published.snapshot_id,
        operation=published.operation,
    )
    _store().record_publication(record)
    emit_publication(spec, record)  # OpenLineage; never raises
