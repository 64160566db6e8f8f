"""The Data Products UI: server-rendered pages (catalog, product, domain) mounted at /data-mesh/ui.

The pages are plain HTML from Jinja2 templates, shown by Airflow in an iframe (same origin, so the
UI's `_token` cookie authenticates every request, static files included). Charts use the vendored
Chart.js in `static/vendor/`; the lineage picture is an SVG laid out here, on the server.

Every route of this router requires an authenticated Airflow user (on top of whatever the app that
includes it requires). The sample rows of a product are read through the governed reader, as the
logged-in user, and recorded as an access event with path "ui".
"""

import logging
import mimetypes
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import quote

from airflow.api_fastapi.core_api.security import GetUserDep, get_user
from fastapi import APIRouter, Depends, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape

from data_mesh.contract import registry
from data_mesh.contract.partition import partition_end
from data_mesh.contract.policies import Finding, check_product, policies_for
from data_mesh.contract.spec import ProductSpec
from data_mesh.exceptions import (
    AccessDenied,
    ContractError,
    ProductRetired,
    UnknownProductError,
    VersionNotFound,
)
from data_mesh.governance import lifecycle
from data_mesh.governance.access import Principal, active_grants, readable_columns
from data_mesh.web import format as fmt
from data_mesh.web.access_api import access_overview
from data_mesh.web.lineage_svg import lineage_svg

log = logging.getLogger(__name__)

HERE = Path(__file__).resolve().parent
STATIC_DIR = HERE / "static"
TEMPLATES_DIR = HERE / "templates"
STATIC_SUFFIXES = {".js", ".css", ".svg", ".png", ".ico", ".md", ".txt"}
SAMPLE_ROWS = 20
MASK = "***"
_DOMAIN = re.compile(r"^[a-z][a-z0-9_]*$")

router = APIRouter(dependencies=[Depends(get_user)])  # every page and static file needs a login

_env = Environment(
    loader=FileSystemLoader(str(TEMPLATES_DIR)),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
)


_env.filters.update(
    when=fmt.when, size=fmt.size, number=fmt.number, web_url=fmt.web_url, q=lambda s: quote(str(s), safe="")
)


# ---- who is looking ---------------------------------------------------------------------------


def _user_name(user: Any) -> str:
    return user.get_name() if hasattr(user, "get_name") else str(user)


# ---- data gathering ---------------------------------------------------------------------------


def _store():
    from data_mesh.metadata.store import MetadataStore

    return MetadataStore()


_STATUS_REASON = {
    "deprecated": "The contract is deprecated: readers are warned; move to its successor.",
    "retired": "Retired: no longer published, and reads fail naming its successor.",
    "never published": "No version has been published yet.",
    "failing": "The latest validation failed: consumers still get the previous version.",
    "stale": "The newest partition ended longer ago than the {sla} h latency SLA.",
    "invalid contract": "The contract is invalid: no DAG runs until it is fixed.",
    "fresh": "Published within the {sla} h latency SLA.",
}


def _health(line: dict[str, Any]) -> dict[str, str]:
    """The product's status (`metadata.health`, via the catalog view) and a sentence why."""
    latency = (line.get("sla") or {}).get("latency_hours")
    reason = _STATUS_REASON[line["status"]].format(sla=f"{latency:g}" if latency is not None else "?")
    if line["status"] == "fresh" and latency is None:
        reason = "Published; the contract sets no latency SLA."
    return {"status": line["status"], "reason": reason}


def _search_text(spec: ProductSpec) -> str:
    return " ".join([spec.id, spec.owner, spec.description, *spec.tags, *spec.column_names]).casefold()


def _product_rows(
    principal: Principal,
    search: str | None = None,
    domain: str | None = None,
    mesh: registry.Mesh | None = None,
) -> list[dict[str, Any]]:
    """Catalog lines (the same ones the JSON API serves, so a draft only for its owners and admins)
    with each product's spec and health."""
    from data_mesh.metadata.catalog import product_summaries

    mesh = mesh or registry.load_mesh()
    specs = mesh.products
    return [
        {
            "id": line["id"],
            "domain": line["domain"],
            "spec": specs.get(line["id"]),
            "summary": line,
            "health": _health(line),
            "search": _search_text(specs[line["id"]]) if line["id"] in specs else line["id"],
        }
        for line in product_summaries(search=search, domain=domain, mesh=mesh, principal=principal)
    ]


def _versions(spec: ProductSpec, publications: dict[int, Any]) -> list[dict[str, Any]]:
    """Kept versions, newest first: the Iceberg snapshots (operation, changed partition, size)."""
    from data_mesh.storage.products import product_storage

    return [
        {
            "version": v.version,
            "snapshot_id": v.snapshot_id,
            "operation": v.operation,
            "published_at": v.published_at,
            "changed_partition": v.changed_partition,
            "rows": v.rows,
            "bytes": v.bytes,
            "files": v.files,
            "run_id": v.run_id,
            "publication": publications.get(v.version),
        }
        for v in reversed(product_storage(spec).history())
    ]


def _freshness_series(spec: ProductSpec, publications: list[Any]) -> dict[str, Any]:
    """Age (hours) of the newest partition at each publication, oldest first, and the SLA latency."""
    points, newest = [], None
    for pub in sorted(publications, key=lambda p: p.version):
        if pub.partition and (newest is None or pub.partition > newest):
            newest = pub.partition
        end = partition_end(spec.partitioning.granularity, newest) if newest else None
        if end is None:
            continue
        published = pub.published_at if pub.published_at.tzinfo else pub.published_at.replace(tzinfo=UTC)
        age = max((published - end) / timedelta(hours=1), 0.0)
        points.append(
            {"label": f"v{pub.version} · {fmt.when(published)}", "age": round(age, 2), "partition": newest}
        )
    return {"points": points, "sla_hours": spec.sla.latency_hours}


def _quality_series(history: list[Any]) -> list[dict[str, Any]]:
    return [
        {
            "label": fmt.when(v.created_at),
            "rate": round(100.0 * v.successful / v.evaluated, 1)
            if v.evaluated
            else (100.0 if v.success else 0.0),
            "success": bool(v.success),
            "partition": v.partition,
        }
        for v in history
    ]


@dataclass
class Sample:
    columns: list[str]
    rows: list[list[str]]
    masked: set[str]
    version: int | None = None
    partition: str | None = None
    message: str | None = None


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:,.2f}"
    if isinstance(value, datetime):
        return value.isoformat(sep=" ")
    return str(value)


def _sample(spec: ProductSpec, user: Any) -> Sample:
    """The first rows of the newest partition of the latest version, read as the user (path "ui")."""
    from data_mesh.contract.partition import parse_partition
    from data_mesh.governance.reader import read_table
    from data_mesh.storage.products import product_storage

    principal = Principal.for_user(user)
    columns = readable_columns(spec, principal, active_grants(spec, principal))
    masked = {c for c in spec.column_names if c not in columns}
    storage = product_storage(spec)
    try:
        latest = storage.version()
    except VersionNotFound:
        return Sample(list(spec.column_names), [], masked, message="Nothing has been published yet.")
    keys = storage.partitions(latest)
    newest = keys[-1] if keys else None
    window = parse_partition(spec.partitioning.granularity, newest) if newest else None
    try:
        result = read_table(
            spec.id,
            principal,
            purpose="data products UI: sample rows",
            path="ui",
            version=latest.version,
            window=window,
            columns=columns,
        )
    except (AccessDenied, VersionNotFound, ProductRetired) as err:
        return Sample(list(spec.column_names), [], masked, message=str(err))
    records = result.table.slice(0, SAMPLE_ROWS).to_pylist()
    rows = [[MASK if c in masked else _cell(r.get(c)) for c in spec.column_names] for r in records]
    return Sample(list(spec.column_names), rows, masked, result.version.version, newest)


# ---- rendering --------------------------------------------------------------------------------


def _base(request: Request) -> str:
    """URL prefix of the UI: '/data-mesh/ui' when mounted by Airflow, '/ui' in a bare app."""
    return f"{request.scope.get('root_path', '').rstrip('/')}/ui"


def _render(
    request: Request, user: Any, template: str, status_code: int = 200, **context: Any
) -> HTMLResponse:
    html = _env.get_template(template).render(
        base=_base(request),
        user_name=_user_name(user),
        user_role=getattr(user, "role", None),
        **context,
    )
    return HTMLResponse(html, status_code=status_code, headers={"Cache-Control": "no-store"})


def _not_found(request: Request, user: Any, what: str, name: str) -> HTMLResponse:
    return _render(request, user, "not_found.html", status_code=404, title="Not found", what=what, name=name)


# ---- routes -----------------------------------------------------------------------------------


@router.get("/ui", include_in_schema=False)
def ui_root(request: Request) -> RedirectResponse:
    return RedirectResponse(f"{_base(request)}/", status_code=307)


@router.get("/ui/", response_class=HTMLResponse, include_in_schema=False)
def catalog_page(request: Request, user: GetUserDep, q: str = "") -> HTMLResponse:
    """Every product of the mesh, grouped by domain, with its status; `q` filters."""
    mesh = registry.load_mesh()
    principal = Principal.for_user(user)
    rows = _product_rows(principal, search=q, mesh=mesh)
    domains: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        domains.setdefault(row["domain"], []).append(row)
    return _render(
        request,
        user,
        "catalog.html",
        title="Data products",
        q=q,
        domains=dict(sorted(domains.items())),
        total=sum(lifecycle.visible(s, principal) for s in mesh.products.values()) + len(mesh.errors),
        shown=len(rows),
    )


@router.get("/ui/domains/{domain}", response_class=HTMLResponse, include_in_schema=False)
def domain_page(request: Request, user: GetUserDep, domain: str) -> HTMLResponse:
    """One domain's products and their health."""
    from data_mesh.metadata.trust import domain_trust

    principal = Principal.for_user(user)
    rows = _product_rows(principal, domain=domain) if _DOMAIN.match(domain) else []
    if not rows:
        return _not_found(request, user, "domain", domain)
    visible = {i: s for i, s in registry.load_mesh().products.items() if lifecycle.visible(s, principal)}
    trust = domain_trust(domain, visible)
    scores = {t.product_id: t for t in trust.products}
    rows.sort(key=lambda r: -scores[r["id"]].score if r["id"] in scores else 1)  # ranked; invalid last
    return _render(
        request,
        user,
        "domain.html",
        title=f"Domain {domain}",
        domain=domain,
        rows=rows,
        trust=trust,
        scores=scores,
    )


@router.get("/ui/products/{product_id:path}", response_class=HTMLResponse, include_in_schema=False)
def product_page(request: Request, user: GetUserDep, product_id: str) -> HTMLResponse:
    """Everything about one product: contract, schema, versions, quality, freshness, lineage, usage."""
    principal = Principal.for_user(user)
    try:
        spec = lifecycle.require_visible(registry.get_product(product_id), principal)
    except UnknownProductError:
        return _not_found(request, user, "data product", product_id)
    except ContractError as error:
        return _render(request, user, "invalid.html", title=product_id, product_id=product_id, error=error)
    store = _store()
    publications = store.list_publications(spec.id, limit=200)
    history = store.quality_history(spec.id, limit=100)
    graph = store.lineage(spec.id, depth=3)
    sample = _sample(spec, user)  # recorded as an access event: read it before the access log
    events = store.list_access_events(product_id=spec.id, limit=25)
    latest_report = next((v for v in reversed(history) if v.report), None)
    charts = {"quality": _quality_series(history), "freshness": _freshness_series(spec, publications)}
    return _render(
        request,
        user,
        "product.html",
        title=spec.id,
        spec=spec,
        health=next(r["health"] for r in _product_rows(principal, domain=spec.domain) if r["id"] == spec.id),
        lifecycle_state=lifecycle.state(spec),
        lifecycle_notice=lifecycle.notice(spec),
        consumers=lifecycle.consumers(spec, registry.load_mesh().products, store),
        contract_html=fmt.highlight_yaml(Path(spec.contract_path).read_text(encoding="utf-8")),
        versions=_versions(spec, {p.version: p for p in publications}),
        history=history,
        latest_report=latest_report,
        lineage=lineage_svg(spec.id, graph.edges, _base(request)),
        events=events,
        usage=store.usage_by_consumer(spec.id),
        access=access_overview(spec.id, user),
        sample=sample,
        charts_json=fmt.json_script(charts),
        dag_url=f"/dags/{quote(spec.dag_id, safe='')}",
        table_snippets=_table_snippets(spec),
        policy_rows=_policy_rows(spec),
        slo=_slo(spec),
        trust=product_trust(spec, registry.load_mesh().products),
    )


class PolicyRow(NamedTuple):
    id: str
    description: str
    severity: str
    scope: str
    findings: list[Finding]
    on: str = "contract"


def _policy_rows(spec: ProductSpec) -> list[PolicyRow]:
    """Each policy applied with its findings; then findings of no applied policy (an expired waiver)."""
    findings = check_product(spec)
    applied = policies_for(spec.domain)
    rows = [
        PolicyRow(p.id, p.description, p.severity, p.scope, [f for f in findings if f.policy == p.id], p.on)
        for p in applied
    ]
    ids = {p.id for p in applied}
    return rows + [
        PolicyRow(f.policy, "", f.severity, "global", [f]) for f in findings if f.policy not in ids
    ]


def product_trust(spec: ProductSpec, mesh: dict[str, ProductSpec]) -> Any:
    from data_mesh.metadata.trust import product_trust as trust

    return trust(spec, mesh)


def _slo(spec: ProductSpec) -> Any:
    """The SLO panel: state, attainment over 7 and 30 days, the daily chart, recent alerts."""
    from data_mesh.slo.report import slo_report
    from data_mesh.web.slo_panel import slo_panel

    return slo_panel(slo_report(spec.id))


def _table_snippets(spec: ProductSpec) -> list[Any]:
    """DuckDB, pyiceberg, Spark and Trino on the product's Iceberg table (none before a first publication)."""
    from data_mesh.metadata.snippets import table_snippets
    from data_mesh.storage.products import product_storage

    try:
        location = product_storage(spec).metadata_location()
    except VersionNotFound:
        return []
    return table_snippets(spec, location)


@router.get("/ui/static/{path:path}", include_in_schema=False)
def static_file(path: str) -> Response:
    """The UI's own CSS/JS and the vendored Chart.js; nothing outside `static/` is ever served."""
    root = STATIC_DIR.resolve()
    try:
        target = (root / path).resolve()
    except (OSError, ValueError):
        return Response("not found", status_code=404, media_type="text/plain")
    if (
        not target.is_relative_to(root)
        or not target.is_file()
        or target.suffix not in STATIC_SUFFIXES
        or any(part.startswith(".") for part in target.relative_to(root).parts)
    ):
        return Response("not found", status_code=404, media_type="text/plain")
    media_type = mimetypes.guess_type(target.name)[0] or "application/octet-stream"
    if target.suffix == ".md":
        media_type = "text/plain"
    return FileResponse(target, media_type=media_type, headers={"Cache-Control": "private, max-age=3600"})
