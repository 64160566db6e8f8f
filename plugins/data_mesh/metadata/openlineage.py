"""OpenLineage (spec 2-0-2) RunEvents for what the mesh does, and the transport that sends them.

* One COMPLETE event per publication: job `<dag_id>.<task_id>` (the product DAG's publish task),
  inputs = the upstream products (at the versions read) and the HTTP sources, output = the product
  with facets schema, tags (classification per column), documentation, ownership, version,
  dataQualityAssertions (the publication's validation results) and outputStatistics; a `parent`
  run facet links the task run to its DAG run.
* One COMPLETE event per allowed read by a consuming task: job = the consuming task, input = the
  product at the version read (schema facet limited to the columns read).

Run ids are UUIDs derived from what the event describes, so the same publication always gives the
same event (the API and CLI rebuild events from the metadata store; the file transport appends).

Datasets are named after their storage address (`file` + absolute path, or `s3://bucket` + key),
the way Airflow's OpenLineage provider names an Asset; HTTP sources are `conn://<conn_id>` +
endpoint (the base URL lives in an Airflow Connection and is not exposed).

The transport is `conf.openlineage_transport()`: `file` (JSON lines appended to
`conf.openlineage_file()`), `http` (`conf.openlineage_url()`, e.g. Marquez) or `none`. Emission
never raises: a lineage backend outage is logged and the pipeline goes on.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from openlineage.client.event_v2 import InputDataset, Job, OutputDataset, Run, RunEvent, RunState
from openlineage.client.facet_v2 import (
    catalog_dataset,
    data_quality_assertions_dataset,
    dataset_version_dataset,
    documentation_dataset,
    job_type_job,
    output_statistics_output_dataset,
    ownership_dataset,
    ownership_job,
    parent_run,
    schema_dataset,
    symlinks_dataset,
    tags_dataset,
)
from openlineage.client.serde import Serde

from data_mesh import conf
from data_mesh.contract.spec import ProductSpec

if TYPE_CHECKING:
    from openlineage.client.transport import Transport

    from data_mesh.metadata.store import AccessEvent, MetadataStore, PublicationRecord

log = logging.getLogger(__name__)

PRODUCER = "https://github.com/data-mesh/data-mesh/tree/0.1.0"
_UUID_NAMESPACE = uuid.UUID("5b0f6a51-3c53-4d0e-9f2e-2f7d8e0c9a61")


# ---- naming ------------------------------------------------------------------------------------


def _uuid(*parts: object) -> str:
    return str(uuid.uuid5(_UUID_NAMESPACE, "/".join(str(p) for p in parts)))


def dataset_address(spec: ProductSpec) -> tuple[str, str]:
    """(namespace, name) of a product's dataset, from its storage URI."""
    from data_mesh.storage.products import product_storage

    uri = product_storage(spec).uri
    scheme, _, rest = uri.partition("://")
    if scheme == "file":
        return "file", rest
    authority, _, path = rest.partition("/")
    return f"{scheme}://{authority}", path


def _table_facets(spec: ProductSpec) -> dict[str, Any]:
    """The Iceberg table behind a product: its catalog, and its catalog name as a symlink."""
    from data_mesh.storage.catalog import CATALOG_NAME, catalog_display_url, warehouse_url

    catalog_uri = catalog_display_url()
    return {
        "catalog": catalog_dataset.CatalogDatasetFacet(
            framework="iceberg",
            type="jdbc",
            name=CATALOG_NAME,
            metadataUri=catalog_uri,
            warehouseUri=warehouse_url(),
            source="pyiceberg",
        ),
        "symlinks": symlinks_dataset.SymlinksDatasetFacet(
            identifiers=[
                symlinks_dataset.Identifier(
                    namespace=f"iceberg://{CATALOG_NAME}", name=f"{spec.domain}.{spec.name}", type="TABLE"
                )
            ]
        ),
    }


def _product_address(product_id: str) -> tuple[str, str]:
    from data_mesh.contract import registry

    try:
        return dataset_address(registry.get_product(product_id))
    except Exception:  # an upstream that left the catalog still appears, by id
        return conf.openlineage_namespace(), product_id


def _iso(value: datetime | None) -> str:
    value = value or datetime.now(UTC)
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat()


def _job(name: str, owner: str | None = None) -> Job:
    facets: dict[str, Any] = {
        "jobType": job_type_job.JobTypeJobFacet(processingType="BATCH", integration="AIRFLOW", jobType="TASK")
    }
    if owner:
        facets["ownership"] = ownership_job.OwnershipJobFacet(
            owners=[ownership_job.Owner(name=f"user:{owner}", type="OWNER")]
        )
    return Job(namespace=conf.openlineage_namespace(), name=name, facets=facets)


# ---- facets of a product dataset ---------------------------------------------------------------


def _schema_facet(spec: ProductSpec, columns: Iterable[str] | None = None, physical: Any = None):
    physical_types = {}
    if isinstance(physical, list):
        physical_types = {f.get("name"): f.get("type") for f in physical if isinstance(f, dict)}
    wanted = set(columns) if columns is not None else None
    fields = [
        schema_dataset.SchemaDatasetFacetFields(
            name=col.name,
            type=physical_types.get(col.name) or col.logical_type,
            description=f"{col.description} [classification: {col.classification}]".strip(),
            ordinal_position=position,
        )
        for position, col in enumerate(spec.columns, start=1)
        if wanted is None or col.name in wanted
    ]
    return schema_dataset.SchemaDatasetFacet(fields=fields)


def _classification_facet(spec: ProductSpec, columns: Iterable[str] | None = None):
    wanted = set(columns) if columns is not None else None
    return tags_dataset.TagsDatasetFacet(
        tags=[
            tags_dataset.TagsDatasetFacetFields(
                key="classification", value=col.classification, source="ODCS", field=col.name
            )
            for col in spec.columns
            if wanted is None or col.name in wanted
        ]
    )


def _version_facet(version: int):
    return dataset_version_dataset.DatasetVersionDatasetFacet(datasetVersion=str(version))


def _assertions_facet(summary: dict[str, Any] | None):
    assertions = []
    for result in (summary or {}).get("results") or []:
        kind = result.get("expectation_type") or result.get("type") or "custom"
        column = result.get("column")
        observed = result.get("observed_value")
        unexpected = result.get("unexpected_count")
        actual = observed if observed is not None else unexpected
        assertions.append(
            data_quality_assertions_dataset.Assertion(
                assertion=str(kind),
                success=bool(result.get("success")),
                column=str(column) if column else None,
                severity=result.get("severity"),
                actual=None if actual is None else str(actual),
            )
        )
    return data_quality_assertions_dataset.DataQualityAssertionsDatasetFacet(assertions=assertions)


# ---- events ------------------------------------------------------------------------------------


def build_publication_event(spec: ProductSpec, publication: PublicationRecord) -> RunEvent:
    """The COMPLETE event of the task run that published `publication` (a version of `spec`)."""
    namespace = conf.openlineage_namespace()
    dag_id = publication.dag_id or spec.dag_id
    task_id = publication.task_id or "publish"
    dag_run_id = publication.run_id or f"version-{publication.version}"
    run_facets: dict[str, Any] = {
        "parent": parent_run.ParentRunFacet(
            run=parent_run.Run(runId=_uuid("dag_run", namespace, dag_id, dag_run_id)),
            job=parent_run.Job(namespace=namespace, name=dag_id),
            root=parent_run.Root(
                run=parent_run.RootRun(runId=_uuid("dag_run", namespace, dag_id, dag_run_id)),
                job=parent_run.RootJob(namespace=namespace, name=dag_id),
            ),
        )
    }
    inputs = []
    for upstream, version in publication.inputs:
        ns, name = _product_address(upstream)
        facets = {}
        if version is not None:
            facets["version"] = _version_facet(version)
        inputs.append(InputDataset(namespace=ns, name=name, facets=facets))
    for source in spec.sources:
        inputs.append(InputDataset(namespace=f"conn://{source.conn_id}", name=source.endpoint))
    ns, name = dataset_address(spec)
    output = OutputDataset(
        namespace=ns,
        name=name,
        facets={
            "schema": _schema_facet(spec, physical=publication.schema),
            "tags": _classification_facet(spec),
            "documentation": documentation_dataset.DocumentationDatasetFacet(
                description=spec.description, contentType="text/plain"
            ),
            "ownership": ownership_dataset.OwnershipDatasetFacet(
                owners=[ownership_dataset.Owner(name=f"user:{spec.owner}", type="OWNER")]
            ),
            "version": _version_facet(publication.snapshot_id or publication.version),
            "dataQualityAssertions": _assertions_facet(publication.validation_summary),
            **_table_facets(spec),
        },
        outputFacets={
            "outputStatistics": output_statistics_output_dataset.OutputStatisticsOutputDatasetFacet(
                rowCount=publication.rows, size=publication.bytes, fileCount=publication.files
            )
        },
    )
    return RunEvent(
        eventType=RunState.COMPLETE,
        eventTime=_iso(publication.published_at),
        run=Run(runId=_uuid("publication", spec.id, publication.version, dag_run_id), facets=run_facets),
        job=_job(f"{dag_id}.{task_id}", spec.owner),
        inputs=inputs,
        outputs=[output],
        producer=PRODUCER,
    )


def _consumer_job_name(principal: str) -> str:
    """`dag.task` from a task principal like `domain:finance/dag:finance__x/task:transform`."""
    parts = dict(p.split(":", 1) for p in principal.split("/") if ":" in p)
    if "dag" in parts and "task" in parts:
        return f"{parts['dag']}.{parts['task']}"
    return principal


def build_read_event(
    event: AccessEvent, spec: ProductSpec | None = None, snapshots: dict[int, int] | None = None
) -> RunEvent:
    """The COMPLETE event of a consuming task's read of a product (`snapshots`: version -> snapshot id)."""
    from data_mesh.contract import registry

    spec = spec or registry.get_product(event.product_id)
    ns, name = dataset_address(spec)
    facets: dict[str, Any] = {
        "schema": _schema_facet(spec, columns=event.columns),
        "tags": _classification_facet(spec, columns=event.columns),
        **_table_facets(spec),
    }
    if event.version is not None:
        snapshot = (snapshots or {}).get(event.version)
        facets["version"] = _version_facet(snapshot or event.version)
    key = event.id if event.id is not None else _iso(event.at)
    return RunEvent(
        eventType=RunState.COMPLETE,
        eventTime=_iso(event.at),
        run=Run(runId=_uuid("read", event.product_id, event.principal, key)),
        job=_job(_consumer_job_name(event.principal)),
        inputs=[InputDataset(namespace=ns, name=name, facets=facets)],
        outputs=[],
        producer=PRODUCER,
    )


def to_dict(event: RunEvent) -> dict[str, Any]:
    return Serde.to_dict(event)


def product_events(
    product_id: str, store: MetadataStore | None = None, limit: int = 500
) -> list[dict[str, Any]]:
    """Every event of a product rebuilt from the metadata store (publications and task reads), by time."""
    from data_mesh.contract import registry
    from data_mesh.metadata.store import MetadataStore

    spec = registry.get_product(product_id)
    store = store or MetadataStore()
    publications = store.list_publications(product_id, limit=limit)
    snapshots = {p.version: p.snapshot_id for p in publications if p.snapshot_id is not None}
    events = [build_publication_event(spec, p) for p in publications]
    reads = store.list_access_events(product_id=product_id, path="task", allowed=True, limit=limit).items
    events += [build_read_event(e, spec, snapshots) for e in reads]
    return sorted((to_dict(e) for e in events), key=lambda e: e["eventTime"])


# ---- transport ---------------------------------------------------------------------------------

_transports: dict[tuple[str, str], Transport | None] = {}
_transport_lock = threading.Lock()


def _transport() -> Transport | None:
    kind = conf.openlineage_transport().lower()
    target = {"file": str(conf.openlineage_file()), "http": conf.openlineage_url()}.get(kind, "")
    with _transport_lock:
        if (kind, target) not in _transports:
            _transports[(kind, target)] = _create_transport(kind, target)
        return _transports[(kind, target)]


def _create_transport(kind: str, target: str) -> Transport | None:
    if kind == "none":
        return None
    if kind == "file":
        from pathlib import Path

        from openlineage.client.transport.file import FileConfig, FileTransport

        Path(target).parent.mkdir(parents=True, exist_ok=True)
        return FileTransport(FileConfig(log_file_path=target, append=True))
    if kind == "http":
        from openlineage.client.transport.http import HttpConfig, HttpTransport

        # Emission happens inside tasks: one short attempt, never openlineage's default retries.
        return HttpTransport(HttpConfig(url=target, timeout=2.0, retry={"total": 0}))
    raise ValueError(f"DATA_MESH_OPENLINEAGE_TRANSPORT must be file, http or none, not {kind!r}")


def emit(event: RunEvent) -> bool:
    """Send one event with the configured transport; False (and a log line) when it could not be sent."""
    try:
        transport = _transport()
        if transport is None:
            return False
        transport.emit(event)
        return True
    except Exception:
        log.exception("could not emit OpenLineage event %s (no impact on the task)", event.job.name)
        return False


def emit_publication(spec: ProductSpec, publication: PublicationRecord) -> RunEvent | None:
    """Build and emit a publication's event; never raises (returns None when nothing was emitted)."""
    try:
        event = build_publication_event(spec, publication)
    except Exception:
        log.exception("could not build the OpenLineage event of %s v%s", spec.id, publication.version)
        return None
    return event if emit(event) else None


def emit_read(access_event: AccessEvent, snapshot_id: int | None = None) -> RunEvent | None:
    """Build and emit the event of an allowed read by a task; other reads (people, refusals) are skipped."""
    if access_event.path != "task" or access_event.principal_kind != "task" or not access_event.allowed:
        return None
    try:
        snapshots: dict[int, int] = {}
        if access_event.version is not None and snapshot_id is not None:
            snapshots[access_event.version] = snapshot_id
        event = build_read_event(access_event, snapshots=snapshots)
    except Exception:
        log.exception("could not build the OpenLineage event of a read of %s", access_event.product_id)
        return None
    return event if emit(event) else None
