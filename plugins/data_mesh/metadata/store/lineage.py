"""Lineage queries: a product's upstream and downstream graph, hop by hop (one query per hop)."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from . import models as m
from .records import LineageEdge, LineageGraph, LineageNode


def _node_filter(kind_col: Any, id_col: Any, nodes: set[LineageNode]) -> Any:
    by_kind: dict[str, list[str]] = {}
    for node in nodes:
        by_kind.setdefault(node.kind, []).append(node.id)
    return sa.or_(*(sa.and_(kind_col == k, id_col.in_(sorted(ids))) for k, ids in by_kind.items()))


def lineage_graph(conn: Connection, product_id: str, depth: int = 1) -> LineageGraph:
    """The product's lineage: upstream and downstream edges up to `depth` hops (one query per hop)."""
    le = m.lineage_edges
    root = LineageNode("product", product_id)
    nodes: dict[str, LineageNode] = {root.key: root}
    edges: dict[tuple[str, str, str, str], LineageEdge] = {}
    up_frontier: set[LineageNode] = {root}
    down_frontier: set[LineageNode] = {root}
    for _ in range(max(depth, 0)):
        if not up_frontier and not down_frontier:
            break
        conditions = []
        if up_frontier:
            conditions.append(_node_filter(le.c.downstream_kind, le.c.downstream_id, up_frontier))
        if down_frontier:
            conditions.append(_node_filter(le.c.upstream_kind, le.c.upstream_id, down_frontier))
        query = sa.select(
            le.c.upstream_kind, le.c.upstream_id, le.c.downstream_kind, le.c.downstream_id
        ).where(sa.or_(*conditions))
        next_up: set[LineageNode] = set()
        next_down: set[LineageNode] = set()
        for row in conn.execute(query):
            edge = LineageEdge(*row)
            key = tuple(row)
            if edge.downstream in up_frontier and edge.upstream.key not in nodes:
                next_up.add(edge.upstream)
            if edge.upstream in down_frontier and edge.downstream.key not in nodes:
                next_down.add(edge.downstream)
            edges.setdefault(key, edge)
        for node in next_up | next_down:
            nodes.setdefault(node.key, node)
        up_frontier, down_frontier = next_up, next_down
    return LineageGraph(
        nodes=tuple(sorted(nodes.values(), key=lambda n: (n.kind, n.id))),
        edges=tuple(sorted(edges.values(), key=lambda e: (e.upstream.key, e.downstream.key))),
    )
