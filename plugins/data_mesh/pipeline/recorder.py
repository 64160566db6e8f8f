"""Writes pipeline metadata (products, validations, publications, lineage) to the metadata store.

Metadata never fails a pipeline: the product is already published (or rejected) when these run, so
a store outage is logged and the run goes on. A publication record lost that way is re-derived
from the table's snapshot summaries by the next publish (`reconcile_publications`). Access events
are different (see `reader`): a read that cannot be audited does not happen.
"""

from __future__ import annotations

import logging
from datetime import datetime
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


def reconcile_publications(spec: ProductSpec, below: int, keep: int = 1000) -> list[int]:
    """Record the versions before `below` that the table holds and the store lacks; returns them.

    A version is committed before its publication is recorded: when the metadata database goes down
    in between (it holds the catalog too, so the task then fails and its retry records it), or when
    every retry failed, the version is live with no record. The snapshot's summary has what the
    commit wrote (run, partition, rows, schema hash, validation), so each publish re-derives the
    missing ones (`duration_s` stays unknown; a row delete is recorded as `governance.erasure` does).
    Versions from `below` on are left alone: their own writer may be recording them right now.
    Never raises: logged, tried again next time.
    """
    from data_mesh.metadata.store import PublicationRecord
    from data_mesh.storage.products import product_storage

    try:
        store = _store()
        known = {p.version for p in store.list_publications(spec.id, limit=keep)}
        history = product_storage(spec).history()[-keep:]
        missing = [v for v in history if v.version < below and v.version not in known]
        for version in missing:
            props = version.summary
            success = props.get("data-mesh.validation.success")
            deleted = version.operation == "delete"
            store.record_publication(
                PublicationRecord(
                    product_id=spec.id,
                    version=version.version,
                    partition=None if deleted else version.changed_partition or None,
                    rows=version.rows if deleted else version.changed_rows,
                    bytes=int(props.get("added-files-size", 0)),
                    files=version.files,
                    schema_hash=version.schema_hash or None,
                    dag_id=None if deleted else spec.dag_id,
                    run_id=version.run_id or None,
                    task_id=None if deleted else "publish",
                    published_at=datetime.fromisoformat(version.published_at),
                    validation_success=None if success is None else success == "True",
                    snapshot_id=version.snapshot_id,
                    operation=version.operation,
                )
            )
    except Exception:  # metadata must not fail the task: the next publish tries again
        log.exception("%s: could not reconcile the publications with the table (no impact)", spec.id)
        return []
    if missing:
        log.warning(
            "%s: publication record(s) of version(s) %s were missing (lost while the store was down); "
            "re-derived from the table's snapshots",
            spec.id,
            ", ".join(str(v.version) for v in missing),
        )
    return [v.version for v in missing]
