"""The catalog as the API, the UI and the CLI show it: contracts + metadata store + health.

One place composes a product's summary and detail, so every surface says the same thing.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from typing import Any

from data_mesh.contract import registry
from data_mesh.contract.partition import partition_end
from data_mesh.contract.spec import ProductSpec
from data_mesh.exceptions import ContractError
from data_mesh.governance import lifecycle
from data_mesh.governance.access import Principal
from data_mesh.metadata.health import freshness_limit_hours, product_status


def metadata_store():
    from data_mesh.metadata.store import MetadataStore

    return MetadataStore()


def iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    return (value if value.tzinfo else value.replace(tzinfo=UTC)).isoformat()


def _matches(spec: ProductSpec, term: str) -> bool:
    texts = [spec.id, spec.name, spec.owner, spec.description, *spec.tags, *spec.column_names]
    return any(term in t.casefold() for t in texts)


def product_summaries(
    search: str | None = None,
    domain: str | None = None,
    mesh: registry.Mesh | None = None,
    *,
    principal: Principal,
) -> list[dict[str, Any]]:
    """Catalog lines: every product of the contracts `principal` may see (a draft: its owners and
    admins), with its latest publication, its lifecycle state and its health."""
    mesh = mesh or registry.load_mesh()
    specs = {i: s for i, s in mesh.products.items() if lifecycle.visible(s, principal)}
    latest = {s.id: s for s in metadata_store().list_products(ids=specs)}
    term = (search or "").strip().casefold()
    lines = [
        _invalid_line(product_id, error)
        for product_id, error in sorted(mesh.errors.items())
        if (not domain or product_id.partition(".")[0] == domain) and (not term or term in product_id)
    ]
    for spec in sorted(specs.values(), key=lambda s: s.id):
        if (domain and spec.domain != domain) or (term and not _matches(spec, term)):
            continue
        known = latest.get(spec.id)
        published_at = known.latest_published_at if known else None
        validated = known.latest_validation_success if known else None
        lines.append(
            {
                "id": spec.id,
                "domain": spec.domain,
                "name": spec.name,
                "owner": spec.owner,
                "description": spec.description,
                "contract_status": spec.status,
                "lifecycle": lifecycle.state(spec),
                "successor": spec.successor or None,
                "contract_version": spec.version,
                "tags": list(spec.tags),
                "sla": {"frequency": spec.sla.frequency, "latency_hours": spec.sla.latency_hours},
                "has_restricted_columns": bool(spec.restricted_columns),
                "latest_version": known.latest_version if known else None,
                "latest_published_at": iso(published_at),
                "latest_rows": known.latest_rows if known else None,
                "latest_validation_success": validated,
                "newest_partition": known.newest_partition if known else None,
                "status": _status(spec, known.newest_partition if known else None, published_at, validated),
            }
        )
    return lines


def _invalid_line(product_id: str, error: ContractError) -> dict[str, Any]:
    """A catalog line for a product whose contract is invalid: its id, where and why."""
    domain, _, name = product_id.partition(".")
    return {
        "id": product_id,
        "domain": domain,
        "name": name,
        "status": "invalid contract",
        "error": str(error),
        "contract_path": error.path,
        "owner": None,
        "description": None,
        "tags": [],
        "sla": {},
        "latest_version": None,
        "latest_published_at": None,
        "latest_rows": None,
        "latest_validation_success": None,
    }


def product_detail(product_id: str, *, principal: Principal) -> dict[str, Any]:
    """Everything about one product `principal` may see (a hidden draft is an unknown product)."""
    spec = lifecycle.require_visible(registry.get_product(product_id), principal)
    store = metadata_store()
    publication = store.get_publication(spec.id)
    validations = store.quality_history(spec.id, limit=1)
    validated = validations[-1].success if validations else None
    published_at = publication.published_at if publication else None
    summaries = store.list_products(ids=[spec.id])
    newest = summaries[0].newest_partition if summaries else None
    try:
        with open(spec.contract_path, encoding="utf-8") as handle:
            contract = handle.read()
    except OSError:
        contract = None
    return {
        "id": spec.id,
        "domain": spec.domain,
        "name": spec.name,
        "dag_id": spec.dag_id,
        "description": spec.description,
        "owner": spec.owner,
        "team": [{"username": u, "role": r} for u, r in spec.team],
        "support": [{"channel": c, "url": u} for c, u in spec.support],
        "tags": list(spec.tags),
        "contract_id": spec.contract_id,
        "contract_version": spec.version,
        "contract_status": spec.status,
        "lifecycle": _lifecycle(spec, store),
        "contract": contract,
        "sla": {
            "frequency": spec.sla.frequency,
            "latency_hours": spec.sla.latency_hours,
            "retention_versions": spec.sla.retention_versions,
        },
        "partitioning": {"column": spec.partitioning.column, "granularity": spec.partitioning.granularity},
        "access": {
            "readers": list(spec.access.readers),
            "restricted_readers": list(spec.access.restricted_readers),
            "roles": [dataclasses.asdict(r) for r in spec.access.roles],
        },
        "columns": [
            {
                "name": c.name,
                "logical_type": c.logical_type,
                "required": c.required,
                "primary_key": c.primary_key,
                "partitioned": c.partitioned,
                "classification": c.classification,
                "description": c.description,
            }
            for c in spec.columns
        ],
        "inputs": list(spec.inputs),
        "sources": [{"name": s.name, "conn_id": s.conn_id, "endpoint": s.endpoint} for s in spec.sources],
        "latest_publication": publication.to_dict() if publication else None,
        "latest_validation_success": validated,
        "newest_partition": newest,
        "status": _status(spec, newest, published_at, validated),
    }


def _lifecycle(spec: ProductSpec, store: Any) -> dict[str, Any]:
    """The lifecycle state, its warning and successor, and who still consumes the product."""
    return {
        "state": lifecycle.state(spec),
        "successor": spec.successor or None,
        "end_of_life": spec.sla.end_of_life.isoformat() if spec.sla.end_of_life else None,
        "notice": lifecycle.notice(spec),
        "consumers": [
            {"kind": c.kind, "name": c.name, "reads": c.reads, "last_at": iso(c.last_at)}
            for c in lifecycle.consumers(spec, registry.load_mesh().products, store)
        ],
    }


def _status(
    spec: ProductSpec, newest: str | None, published_at: datetime | None, validated: bool | None
) -> str:
    return product_status(
        lifecycle.state(spec),
        freshness_limit_hours(spec.sla.latency_hours, spec.sla.frequency),
        published=published_at is not None,
        newest_partition_end=partition_end(spec.partitioning.granularity, newest) if newest else None,
        latest_validation_success=validated,
    )


def parse_columns(text: str | None) -> list[str] | None:
    """A comma-separated column list (API query, CLI option); None means every column."""
    columns = [c.strip() for c in (text or "").split(",") if c.strip()]
    return columns or None


def write_batches(schema: Any, batches: Any, fmt: str, sink: Any) -> int:
    """Write record batches as Parquet or CSV into a binary file object, one batch in memory at a time.

    Returns the number of rows written.
    """
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    rows = 0
    writer = pacsv.CSVWriter(sink, schema) if fmt == "csv" else pq.ParquetWriter(sink, schema)
    try:
        for batch in batches:
            writer.write_batch(batch)
            rows += batch.num_rows
    finally:
        writer.close()
    return rows
