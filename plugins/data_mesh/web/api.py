"""The Data Mesh JSON API, mounted by the plugin at /data-mesh/api (OpenAPI at /data-mesh/docs).

Every route is synchronous (FastAPI runs it in a worker thread): the metadata store and the product
store are blocking I/O. Errors are raised as platform exceptions and turned into JSON by the app's
handlers (see `app.py`): unknown product or version -> 404, refused read -> 403, bad input -> 400/422.
Governed reads are recorded with the token's user and path "api", or path "cli" when the `data-mesh`
CLI calls (its `X-Data-Mesh-Client: cli` header: a label of the path only, never an identity).
No `from __future__ import annotations` here: FastAPI must resolve the Annotated dependencies.
"""

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from airflow.api_fastapi.core_api.security import GetUserDep
from fastapi import APIRouter, Header, Path, Query
from fastapi.responses import Response, StreamingResponse
from pydantic import BaseModel, Field

from data_mesh.contract import registry
from data_mesh.contract.spec import ProductSpec
from data_mesh.governance import lifecycle
from data_mesh.governance.access import Principal
from data_mesh.metadata.catalog import (
    iso,
    metadata_store,
    parse_columns,
    product_detail,
    product_summaries,
    write_batches,
)
from data_mesh.web.client import CLIENT_HEADER

router = APIRouter(tags=["data-mesh"])

CHUNK = 1 << 20
ClientHeader = Annotated[
    str | None,
    Header(alias=CLIENT_HEADER, description='"cli" from the data-mesh CLI: reads recorded with path cli'),
]


def _spec(product_id: str, user: Any) -> ProductSpec:
    """The product's contract; 404 when there is none, or when it is a draft hidden from `user`."""
    return lifecycle.require_visible(registry.get_product(product_id), Principal.for_user(user))


def _access_path(client: str | None) -> Literal["api", "cli"]:
    """The access path a read is recorded with; the principal always comes from the token."""
    return "cli" if (client or "").strip().lower() == "cli" else "api"


@router.get("/products", summary="The catalog: every data product with its health")
def list_products(
    user: GetUserDep,
    search: Annotated[str | None, Query(max_length=200, description="id, name, owner, tag or column")] = None,
    domain: Annotated[str | None, Query(max_length=100)] = None,
) -> dict[str, Any]:
    products = product_summaries(search, domain, principal=Principal.for_user(user))
    return {"products": products, "total": len(products)}


@router.get("/products/{product_id}", summary="A product's contract, latest publication and health")
def get_product(product_id: str, user: GetUserDep) -> dict[str, Any]:
    return product_detail(product_id, principal=Principal.for_user(user))


@router.get("/products/{product_id}/versions", summary="Published versions, newest first")
def list_versions(
    product_id: str,
    user: GetUserDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> dict[str, Any]:
    from data_mesh.storage.products import product_storage

    spec = _spec(product_id, user)
    available = set(product_storage(spec).versions())
    items = [
        {**p.to_dict(), "available": p.version in available}
        for p in metadata_store().list_publications(spec.id, limit=limit, offset=offset)
    ]
    return {
        "product_id": spec.id,
        "items": items,
        "limit": limit,
        "offset": offset,
        "available_versions": sorted(available),
    }


@router.get("/products/{product_id}/lineage", summary="Upstream and downstream lineage up to `depth` hops")
def get_lineage(
    product_id: str, user: GetUserDep, depth: Annotated[int, Query(ge=1, le=10)] = 1
) -> dict[str, Any]:
    spec = _spec(product_id, user)
    return {"product_id": spec.id, "depth": depth, **metadata_store().lineage(spec.id, depth=depth).to_dict()}


@router.get("/access-events", summary="The access log, newest first (paged, filtered)")
def list_access_events(
    product_id: Annotated[str | None, Query(max_length=255)] = None,
    principal: Annotated[str | None, Query(max_length=500)] = None,
    path: Literal["task", "api", "ui", "cli"] | None = None,
    allowed: bool | None = None,
    page: Annotated[int, Query(ge=1)] = 1,
    page_size: Annotated[int, Query(ge=1, le=500)] = 50,
) -> dict[str, Any]:
    found = metadata_store().list_access_events(
        product_id=product_id,
        principal=principal,
        path=path,
        allowed=allowed,
        limit=page_size,
        offset=(page - 1) * page_size,
    )
    return {
        "items": [e.to_dict() for e in found.items],
        "total": found.total,
        "page": page,
        "page_size": page_size,
        "pages": (found.total + page_size - 1) // page_size,
    }


def _task_stats(runs: list) -> dict[str, dict[str, Any]]:
    stats: dict[str, dict[str, Any]] = {}
    for run in runs:
        entry = stats.setdefault(run.task_id, {"tries": 0, "states": {}, "durations": []})
        entry["tries"] += 1
        entry["states"][run.state or "unknown"] = entry["states"].get(run.state or "unknown", 0) + 1
        if run.duration_s is not None and run.state == "success":
            entry["durations"].append(run.duration_s)
    for entry in stats.values():
        durations = entry.pop("durations")
        entry["avg_duration_s"] = sum(durations) / len(durations) if durations else None
        entry["max_duration_s"] = max(durations) if durations else None
    return stats


@router.get("/products/{product_id}/metrics", summary="Task runs of its DAG and rows per publication")
def get_metrics(
    product_id: str, user: GetUserDep, limit: Annotated[int, Query(ge=1, le=1000)] = 200
) -> dict[str, Any]:
    spec = _spec(product_id, user)
    store = metadata_store()
    runs = store.list_task_runs(dag_id=spec.dag_id, limit=limit)
    publications = list(reversed(store.list_publications(spec.id, limit=limit)))
    return {
        "product_id": spec.id,
        "dag_id": spec.dag_id,
        "task_runs": [r.to_dict() for r in runs],
        "tasks": _task_stats(runs),
        "publications": [
            {
                "version": p.version,
                "published_at": iso(p.published_at),
                "partition": p.partition,
                "rows": p.rows,
                "bytes": p.bytes,
                "duration_s": p.duration_s,
            }
            for p in publications
        ],
    }


@router.get("/products/{product_id}/quality", summary="Validation history (oldest first) and pass rate")
def get_quality(
    product_id: str, user: GetUserDep, limit: Annotated[int, Query(ge=1, le=1000)] = 100
) -> dict[str, Any]:
    spec = _spec(product_id, user)
    history = metadata_store().quality_history(spec.id, limit=limit)
    passed = sum(1 for v in history if v.success)
    return {
        "product_id": spec.id,
        "runs": len(history),
        "passed": passed,
        "failed": len(history) - passed,
        "pass_rate": passed / len(history) if history else None,
        "history": [v.to_dict() for v in history],
    }


@router.get("/products/{product_id}/policies", summary="Every policy's finding on the product's contract")
def get_policies(product_id: str, user: GetUserDep) -> dict[str, Any]:
    from data_mesh.contract.policies import check_product, policies_for

    spec = _spec(product_id, user)  # a blocking finding is a 422 naming the policy
    findings = check_product(spec)
    return {
        "product_id": spec.id,
        "policies": [p.to_dict() for p in policies_for(spec.domain)],
        "findings": [f.to_dict() for f in findings],
        "waived": sum(1 for f in findings if f.status == "waived"),
        "warnings": sum(1 for f in findings if f.status == "violated" and f.severity == "warning"),
    }


@router.get("/products/{product_id}/openlineage", summary="The product's OpenLineage RunEvents")
def get_openlineage(product_id: str, user: GetUserDep) -> dict[str, Any]:
    from data_mesh.metadata.openlineage import product_events

    spec = _spec(product_id, user)
    events = product_events(spec.id, metadata_store())
    return {"product_id": spec.id, "events": events, "total": len(events)}


@router.get(
    "/products/{product_id}/versions/{version}/download",
    summary="Download a version (governed read: access checked and recorded, path api or cli)",
    response_class=StreamingResponse,
)
def download_version(
    product_id: str,
    version: Annotated[int, Path(ge=1)],
    user: GetUserDep,
    format: Literal["parquet", "csv"] = "parquet",
    columns: Annotated[str | None, Query(description="comma-separated columns; default all")] = None,
    client: ClientHeader = None,
) -> StreamingResponse:
    return _download(product_id, user, version, None, format, columns, client)


@router.get(
    "/products/{product_id}/download",
    summary="Download the latest version, or travel in time with ?version= or ?as_of= (governed read)",
    response_class=StreamingResponse,
)
def download(
    product_id: str,
    user: GetUserDep,
    version: Annotated[int | None, Query(ge=1, description="a version number (v1, v2, ...)")] = None,
    as_of: Annotated[
        datetime | None, Query(description="the version published at or before this ISO time (UTC if naive)")
    ] = None,
    format: Literal["parquet", "csv"] = "parquet",
    columns: Annotated[str | None, Query(description="comma-separated columns; default all")] = None,
    client: ClientHeader = None,
) -> StreamingResponse:
    if version is not None and as_of is not None:
        raise ValueError("give version or as_of, not both")
    return _download(product_id, user, version, as_of, format, columns, client)


def _download(
    product_id: str,
    user: Any,
    version: int | None,
    as_of: datetime | None,
    format: str,
    columns: str | None,
    client: str | None = None,
) -> StreamingResponse:
    import tempfile

    from data_mesh.governance.access import Principal
    from data_mesh.governance.reader import read_batches

    wanted = parse_columns(columns)
    principal = Principal.for_user(user)
    which = f"v{version}" if version else (f"as of {as_of.isoformat()}" if as_of else "the latest version")
    path = _access_path(client)
    resolved, schema, batches = read_batches(
        product_id,
        principal,
        purpose=f"download {which} as {format} through the {path.upper()}",
        path=path,
        version=version,
        as_of=as_of,
        columns=wanted,
    )
    # Spooled to a temporary file (memory up to 16 MB, disk beyond), one record batch at a time,
    # so a large product never sits whole in the api-server's memory.
    spool = tempfile.SpooledTemporaryFile(max_size=16 * 1024 * 1024)  # noqa: SIM115 - closed by chunks()
    rows = write_batches(schema, batches, format, spool)
    size = spool.tell()
    spool.seek(0)

    def chunks():
        try:
            while block := spool.read(CHUNK):
                yield block
        finally:
            spool.close()

    filename = f"{product_id}-v{resolved.version}.{format}"
    lifecycle_headers = _lifecycle_headers(registry.get_product(product_id))
    media = "text/csv" if format == "csv" else "application/vnd.apache.parquet"
    return StreamingResponse(
        chunks(),
        media_type=media,
        headers={
            "Content-Disposition": f'attachment; filename="{filename}"',
            "Content-Length": str(size),
            "X-Data-Mesh-Version": str(resolved.version),
            "X-Data-Mesh-Rows": str(rows),
            **lifecycle_headers,
        },
    )


def _lifecycle_headers(spec: ProductSpec) -> dict[str, str]:
    """A deprecated product's answer says so: the warning, its end of life (RFC 8594 `Sunset`) and
    its successor (RFC 5829 `successor-version` link)."""
    from email.utils import format_datetime

    warning = lifecycle.notice(spec)
    if warning is None:
        return {}
    headers = {"X-Data-Mesh-Warning": warning}
    if spec.sla.end_of_life:
        end = datetime.combine(spec.sla.end_of_life, datetime.min.time(), tzinfo=UTC)
        headers["Sunset"] = format_datetime(end, usegmt=True)
    if spec.successor:
        headers["Link"] = f'</data-mesh/api/products/{spec.successor}>; rel="successor-version"'
    return headers


class SqlQuery(BaseModel):
    """A query of the SQL port: one SELECT over products named `domain.product` (see /docs)."""

    sql: str = Field(
        min_length=1,
        max_length=100_000,
        description='One SELECT. Products are tables: `sales.customer_orders`, `"sales.customer_orders@v3"` '
        'or `"sales.customer_orders@2026-11-20T10:00:00Z"` for time travel.',
        examples=["SELECT region, sum(amount) AS revenue FROM sales.customer_orders GROUP BY 1"],
    )
    limit: int = Field(1000, ge=1, le=10_000, description="rows per page")
    offset: int = Field(0, ge=0, description="rows skipped before the page")
    timeout_s: float = Field(30.0, gt=0, le=30, description="seconds before the query is stopped")


@router.post(
    "/sql",
    summary="Run SQL over data products (governed: each product read checked and recorded, path api or cli)",
    responses={
        200: {"content": {"text/csv": {}, "application/vnd.apache.parquet": {}}},
        400: {"description": "bad or refused SQL (DuckDB's message), or the timeout"},
        403: {"description": "a column or product the user may not read (named)"},
        404: {"description": "an unknown product or version (named)"},
    },
)
def run_sql_query(
    query: SqlQuery,
    user: GetUserDep,
    format: Literal["json", "csv", "parquet"] = "json",
    client: ClientHeader = None,
) -> Any:
    """A page of rows as JSON `{columns, types, rows, truncated, products, elapsed_ms}`, or a download."""
    import io

    from data_mesh.governance.access import Principal
    from data_mesh.governance.sql import run_sql

    principal, path = Principal.for_user(user), _access_path(client)
    result = run_sql(
        query.sql, principal, path=path, limit=query.limit, offset=query.offset, timeout_s=query.timeout_s
    )
    if format == "json":
        return result.to_dict()
    buffer = io.BytesIO()
    rows = write_batches(result.table.schema, result.table.to_batches(), format, buffer)
    media = "text/csv" if format == "csv" else "application/vnd.apache.parquet"
    return Response(
        buffer.getvalue(),
        media_type=media,
        headers={
            "Content-Disposition": f'attachment; filename="query.{format}"',
            "X-Data-Mesh-Rows": str(rows),
            "X-Data-Mesh-Truncated": str(result.truncated).lower(),
            "X-Data-Mesh-Products": ",".join(f"{p.id}@v{p.version}" for p in result.products),
            "X-Data-Mesh-Elapsed-Ms": f"{result.elapsed_ms:.1f}",
            **({"X-Data-Mesh-Warning": " | ".join(result.warnings)} if result.warnings else {}),
        },
    )


@router.get("/products/{product_id}/table", summary="The product's Iceberg table; how other engines read it")
def get_table(product_id: str, user: GetUserDep) -> dict[str, Any]:
    """Identifier, location, metadata file, latest snapshot; DuckDB, pyiceberg, Spark and Trino snippets."""
    from data_mesh.metadata.snippets import table_info

    return table_info(_spec(product_id, user))


@router.get(
    "/products/{product_id}/odps",
    summary="The product's ODPS v1.1.0 descriptor: identity, input, output and management ports",
    responses={200: {"content": {"application/yaml": {}}}, 404: {"description": "unknown product (named)"}},
)
def get_odps(product_id: str, user: GetUserDep, format: Literal["json", "yaml"] = "json") -> Any:
    """Open Data Product Standard descriptor, built from the contract (never a source's credentials)."""
    from data_mesh.metadata.odps import product_descriptor, render

    document = product_descriptor(_spec(product_id, user).id).to_dict()
    if format == "json":
        return document
    return Response(render(document, "yaml"), media_type="application/yaml")
