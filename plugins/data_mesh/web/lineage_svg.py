"""The lineage picture of a product page: an inline SVG, laid out in layers (no JavaScript library).

Layer 0 is the product, negative layers its upstream sources and products, positive layers its
consumers. Every label is escaped; only product and DAG nodes become links, inside the Airflow UI.
"""

from __future__ import annotations

from collections.abc import Iterable
from html import escape
from typing import Any
from urllib.parse import quote

from markupsafe import Markup

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
