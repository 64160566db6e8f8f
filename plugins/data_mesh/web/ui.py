"""The Data Products UI: server-rendered pages (catalog, product, domain) mounted at /data-mesh/ui.

The pages are plain HTML from Jinja2 templates, shown by Airflow in an iframe (same origin, so the
UI's `_token` cookie authenticates every request, static files included). Charts use the vendored
Chart.js in `static/vendor/`; the lineage picture is an SVG laid out here, on the server.

Every route of this router requires an authenticated Airflow user (on top of whatever the app that
includes it requires). The sample rows of a product are read through the governed reader, as the
logged-in user, and recorded as an access event with path "ui".
"""

import json
import logging
import mimetypes
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from html import escape
from pathlib import Path
from typing import Any
from urllib.parse import quote

from airflow.api_fastapi.core_api.security import GetUserDep, get_user
from fastapi import APIRouter, Depends, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup

from data_mesh.contract import registry
from data_mesh.contract.spec import ProductSpec
from data_mesh.exceptions import AccessDenied, UnknownProductError, VersionNotFound
from data_mesh.metadata.catalog import may_read_restricted

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


# ---- formatting helpers (also Jinja filters) --------------------------------------------------


def _when(value: datetime | str | None) -> str:
    if value is None:
        return "—"
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def _size(num: int | None) -> str:
    if num is None:
        return "—"
    size = float(num)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} GB"  # pragma: no cover


def _number(num: float | int | None) -> str:
    return "—" if num is None else f"{num:,}"


def _web_url(url: str | None) -> str | None:
    """Only http(s) links from contracts become hrefs (never `javascript:` and the like)."""
    return url if url and url.lower().startswith(("https://", "http://")) else None


_env.filters.update(
    when=_when, size=_size, number=_number, web_url=_web_url, q=lambda s: quote(str(s), safe="")
)


# ---- who is looking ---------------------------------------------------------------------------


def _user_name(user: Any) -> str:
    return user.get_name() if hasattr(user, "get_name") else str(user)


# ---- data gathering ---------------------------------------------------------------------------


def _store():
    from data_mesh.metadata.store import MetadataStore

    return MetadataStore()


_STATUS_REASON = {
    "deprecated": "The contract is deprecated or retired.",
    "never published": "No version has been published yet.",
    "failing": "The latest validation failed: consumers still get the previous version.",
    "stale": "The latest publication is older than the {sla} h latency SLA.",
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


def _product_rows(search: str | None = None, domain: str | None = None) -> list[dict[str, Any]]:
    """Catalog lines (the same ones the JSON API serves) with each product's spec and health."""
    from data_mesh.metadata.catalog import product_summaries

    specs = registry.load_products()
    return [
        {
            "spec": specs[line["id"]],
            "summary": line,
            "health": _health(line),
            "search": _search_text(specs[line["id"]]),
        }
        for line in product_summaries(search=search, domain=domain)
    ]


def _versions(spec: ProductSpec, publications: dict[int, Any]) -> list[dict[str, Any]]:
    """Kept versions, newest first, from the product store's manifests (rows and bytes of each version)."""
    from data_mesh.storage.products import ProductStore

    store = ProductStore(spec)
    rows = []
    for version in reversed(store.versions()):
        try:
            manifest = store.manifest(version)
        except (VersionNotFound, OSError):  # pruned between listing and reading
            continue
        rows.append(
            {
                "version": version,
                "published_at": manifest.published_at,
                "changed_partition": manifest.changed_partition,
                "partitions": len(manifest.partitions),
                "rows": manifest.rows,
                "bytes": sum(p.bytes for p in manifest.partitions.values()),
                "run_id": manifest.run_id,
                "publication": publications.get(version),
            }
        )
    return rows


def _partition_end(spec: ProductSpec, key: str) -> datetime | None:
    from data_mesh.contract.partition import parse_partition

    try:
        window = parse_partition(spec.partitioning.granularity, key)
    except ValueError:
        return None
    return datetime.combine(window.end, datetime.min.time(), tzinfo=UTC)


def _freshness_series(spec: ProductSpec, publications: list[Any]) -> dict[str, Any]:
    """Age (hours) of the newest partition at each publication, oldest first, and the SLA latency."""
    points, newest = [], None
    for pub in sorted(publications, key=lambda p: p.version):
        if pub.partition and (newest is None or pub.partition > newest):
            newest = pub.partition
        end = _partition_end(spec, newest) if newest else None
        if end is None:
            continue
        published = pub.published_at if pub.published_at.tzinfo else pub.published_at.replace(tzinfo=UTC)
        age = max((published - end) / timedelta(hours=1), 0.0)
        points.append(
            {"label": f"v{pub.version} · {_when(published)}", "age": round(age, 2), "partition": newest}
        )
    return {"points": points, "sla_hours": spec.sla.latency_hours}


def _quality_series(history: list[Any]) -> list[dict[str, Any]]:
    return [
        {
            "label": _when(v.created_at),
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
    from data_mesh.governance.reader import Principal, read_table
    from data_mesh.storage.products import ProductStore

    allowed_pii = may_read_restricted(user)
    masked = set() if allowed_pii else set(spec.restricted_columns)
    columns = [c for c in spec.column_names if c not in masked]
    try:
        manifest = ProductStore(spec).manifest()
    except VersionNotFound:
        return Sample(list(spec.column_names), [], masked, message="Nothing has been published yet.")
    newest = max(manifest.partitions) if manifest.partitions else None
    window = parse_partition(spec.partitioning.granularity, newest) if newest else None
    principal = Principal(name=_user_name(user), kind="user", may_read_restricted=allowed_pii)
    try:
        result = read_table(
            spec.id,
            principal,
            purpose="data products UI: sample rows",
            path="ui",
            version=manifest.version,
            window=window,
            columns=columns,
        )
    except (AccessDenied, VersionNotFound) as err:
        return Sample(list(spec.column_names), [], masked, message=str(err))
    records = result.table.slice(0, SAMPLE_ROWS).to_pylist()
    rows = [[MASK if c in masked else _cell(r.get(c)) for c in spec.column_names] for r in records]
    return Sample(list(spec.column_names), rows, masked, result.manifest.version, newest)


# ---- lineage picture --------------------------------------------------------------------------

_NODE_W, _NODE_H, _COL_GAP, _ROW_GAP, _PAD = 210, 42, 70, 18, 16
_KIND_LABEL = {"source": "source", "product": "data product", "dag": "consuming DAG"}


def _layers(root: str, edges: list[tuple[str, str]]) -> dict[str, int]:
    """Layer of each node: 0 for the product, -n for n hops upstream, +n for n hops downstream."""
    layer = {root: 0}
    for direction in (-1, 1):
        frontier = [root]
        while frontier:
            following = []
            for node in frontier:
                for up, down in edges:
                    other = (
                        up
                        if direction < 0 and down == node
                        else down
                        if direction > 0 and up == node
                        else None
                    )
                    if other is not None and other not in layer:
                        layer[other] = layer[node] + direction
                        following.append(other)
            frontier = following
    return layer


def _node_link(kind: str, node_id: str, base: str) -> tuple[str | None, str | None]:
    if kind == "product":
        return f"{base}/products/{quote(node_id, safe='.')}", None
    if kind == "dag":
        return f"/dags/{quote(node_id, safe='')}", "_top"
    return None, None


def _short(text: str, limit: int = 27) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def lineage_svg(product_id: str, edges: Iterable[Any], base: str) -> Markup:
    """A layered, left-to-right SVG of the lineage graph (upstream left, downstream right)."""
    root = f"product:{product_id}"
    pairs = [(f"{e.upstream_kind}:{e.upstream_id}", f"{e.downstream_kind}:{e.downstream_id}") for e in edges]
    layer = _layers(root, pairs)
    low = min(layer.values())
    columns: dict[int, list[str]] = {}
    for key in sorted(layer, key=lambda k: (layer[k], k)):
        columns.setdefault(layer[key] - low, []).append(key)
    tallest = max(len(c) for c in columns.values())
    height = 2 * _PAD + tallest * _NODE_H + (tallest - 1) * _ROW_GAP
    width = 2 * _PAD + len(columns) * _NODE_W + (len(columns) - 1) * _COL_GAP
    pos: dict[str, tuple[float, float]] = {}
    for col, keys in columns.items():
        block = len(keys) * _NODE_H + (len(keys) - 1) * _ROW_GAP
        top = (height - block) / 2
        for i, key in enumerate(keys):
            pos[key] = (_PAD + col * (_NODE_W + _COL_GAP), top + i * (_NODE_H + _ROW_GAP))
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="lineage" id="lineage-svg" role="img" '
        f'width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
        f'aria-label="Lineage of {escape(product_id)}">',
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" '
        'orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" class="lineage-arrow"/></marker></defs>',
    ]
    for up, down in pairs:
        if up not in pos or down not in pos:
            continue
        (x1, y1), (x2, y2) = pos[up], pos[down]
        sx, sy, ex, ey = x1 + _NODE_W, y1 + _NODE_H / 2, x2, y2 + _NODE_H / 2
        mid = (sx + ex) / 2
        parts.append(
            f'<path class="lineage-edge" marker-end="url(#arrow)" '
            f'd="M{sx:.0f},{sy:.0f} C{mid:.0f},{sy:.0f} {mid:.0f},{ey:.0f} {ex - 2:.0f},{ey:.0f}"/>'
        )
    for key, (x, y) in pos.items():
        kind, _, node_id = key.partition(":")
        href, target = _node_link(kind, node_id, base)
        label = escape(_KIND_LABEL.get(kind, kind))
        css = "lineage-node lineage-" + kind + (" lineage-root" if key == root else "")
        node = (
            f'<g class="{css}" data-node="{escape(key)}"><title>{escape(_KIND_LABEL.get(kind, kind))}: '
            f"{escape(node_id)}</title>"
            f'<rect x="{x:.0f}" y="{y:.0f}" width="{_NODE_W}" height="{_NODE_H}" rx="6"/>'
            f'<text x="{x + 10:.0f}" y="{y + 16:.0f}" class="lineage-kind">{label}</text>'
            f'<text x="{x + 10:.0f}" y="{y + 33:.0f}" class="lineage-label">{escape(_short(node_id))}</text>'
            "</g>"
        )
        if href and key != root:
            target_attr = f' target="{target}"' if target else ""
            node = f'<a href="{escape(href)}"{target_attr}>{node}</a>'
        parts.append(node)
    parts.append("</svg>")
    return Markup("".join(parts))


# ---- the contract, pretty ---------------------------------------------------------------------

_YAML_KEY = re.compile(r"^(\s*(?:- )?)([A-Za-z_][\w.-]*)(:)(?=\s|$)")


def highlight_yaml(text: str) -> Markup:
    """Escape the YAML and colour its keys, comments and list dashes (no library needed)."""
    lines = []
    for raw in text.splitlines():
        stripped = raw.lstrip()
        if stripped.startswith("#"):
            lines.append(f'<span class="y-comment">{escape(raw)}</span>')
            continue
        match = _YAML_KEY.match(raw)
        if match:
            lead, key, colon = match.groups()
            rest = raw[match.end() :]
            lead_html = escape(lead).replace("- ", '<span class="y-dash">-</span> ')
            lines.append(
                f'{lead_html}<span class="y-key">{escape(key)}</span>{colon}'
                f'<span class="y-value">{escape(rest)}</span>'
            )
        else:
            lines.append(escape(raw).replace("- ", '<span class="y-dash">-</span> ', 1))
    return Markup("\n".join(lines))


# ---- rendering --------------------------------------------------------------------------------


def _base(request: Request) -> str:
    """URL prefix of the UI: '/data-mesh/ui' when mounted by Airflow, '/ui' in a bare app."""
    return f"{request.scope.get('root_path', '').rstrip('/')}/ui"


def _json_script(data: Any) -> Markup:
    """JSON safe to embed in <script type="application/json">."""
    text = (
        json.dumps(data, default=str).replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    )
    return Markup(text)


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


@router.get("/ui/", response_class=HTMLResponse)
def catalog_page(request: Request, user: GetUserDep, q: str = "") -> HTMLResponse:
    """Every product of the mesh, grouped by domain, with its status; `q` filters."""
    rows = _product_rows(search=q)
    domains: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        domains.setdefault(row["spec"].domain, []).append(row)
    return _render(
        request,
        user,
        "catalog.html",
        title="Data products",
        q=q,
        domains=dict(sorted(domains.items())),
        total=len(registry.load_products()),
        shown=len(rows),
    )


@router.get("/ui/domains/{domain}", response_class=HTMLResponse)
def domain_page(request: Request, user: GetUserDep, domain: str) -> HTMLResponse:
    """One domain's products and their health."""
    rows = _product_rows(domain=domain) if _DOMAIN.match(domain) else []
    if not rows:
        return _not_found(request, user, "domain", domain)
    return _render(request, user, "domain.html", title=f"Domain {domain}", domain=domain, rows=rows)


@router.get("/ui/products/{product_id:path}", response_class=HTMLResponse)
def product_page(request: Request, user: GetUserDep, product_id: str) -> HTMLResponse:
    """Everything about one product: contract, schema, versions, quality, freshness, lineage, usage."""
    try:
        spec = registry.get_product(product_id)
    except UnknownProductError:
        return _not_found(request, user, "data product", product_id)
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
        health=next(r["health"] for r in _product_rows(domain=spec.domain) if r["spec"].id == spec.id),
        contract_html=highlight_yaml(Path(spec.contract_path).read_text(encoding="utf-8")),
        versions=_versions(spec, {p.version: p for p in publications}),
        history=history,
        latest_report=latest_report,
        lineage=lineage_svg(spec.id, graph.edges, _base(request)),
        events=events,
        usage=store.usage_by_consumer(spec.id),
        sample=sample,
        may_read_restricted=may_read_restricted(user),
        charts_json=_json_script(charts),
        dag_url=f"/dags/{quote(spec.dag_id, safe='')}",
    )


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
