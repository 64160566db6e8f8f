"""Tests of the store's lineage graph: edges are idempotent, a walk of depth N reads one level per query."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from _store_testing import (
    assert_json,
)

from data_mesh.metadata.store import (
    LineageEdge,
    LineageNode,
    MetadataStore,
)

# ---------------------------------------------------------------------------- lineage


@pytest.fixture
def chain(store: MetadataStore) -> MetadataStore:
    """source:erp -> product:a -> product:b -> product:c -> product:d -> dag:d_consumer; source:fx -> b."""
    edges = [
        ("source", "erp_api", "product", "x.a"),
        ("product", "x.a", "product", "x.b"),
        ("source", "fx_rates", "product", "x.b"),
        ("product", "x.b", "product", "x.c"),
        ("product", "x.c", "product", "x.d"),
        ("product", "x.d", "dag", "x__d_consumer"),
        ("product", "x.c", "dag", "y__report"),
        ("product", "z.unrelated", "product", "z.other"),
    ]
    for edge in edges:
        assert store.add_lineage_edge(*edge) is True
    assert store.add_lineage_edge(*edges[0]) is False  # idempotent
    return store


def _edge_set(graph) -> set[tuple[str, str]]:
    return {(e.upstream.key, e.downstream.key) for e in graph.edges}


def test_lineage_depth_1(chain: MetadataStore):
    graph = chain.lineage("x.b", depth=1)
    assert {n.key for n in graph.nodes} == {"product:x.a", "source:fx_rates", "product:x.b", "product:x.c"}
    assert _edge_set(graph) == {
        ("product:x.a", "product:x.b"),
        ("source:fx_rates", "product:x.b"),
        ("product:x.b", "product:x.c"),
    }
    assert all(isinstance(n, LineageNode) for n in graph.nodes)
    assert all(isinstance(e, LineageEdge) for e in graph.edges)
    data = assert_json(graph)
    assert {"kind": "product", "id": "x.b"} in data["nodes"]


def test_lineage_depth_3_one_query_per_level(chain: MetadataStore):
    statements: list[str] = []

    def count(conn, cursor, statement, parameters, context, executemany):
        if "lineage_edges" in statement:
            statements.append(statement)

    sa.event.listen(chain.engine, "before_cursor_execute", count)
    try:
        graph = chain.lineage("x.b", depth=3)
    finally:
        sa.event.remove(chain.engine, "before_cursor_execute", count)
    assert len(statements) <= 3
    assert {n.key for n in graph.nodes} == {
        "source:erp_api",
        "product:x.a",
        "source:fx_rates",
        "product:x.b",
        "product:x.c",
        "product:x.d",
        "dag:x__d_consumer",
        "dag:y__report",
    }
    assert ("product:x.d", "dag:x__d_consumer") in _edge_set(graph)
    assert len(graph.edges) == 7  # everything but the unrelated edge
    # depth 2 stops before the consumer dag of x.d
    assert "dag:x__d_consumer" not in {n.key for n in chain.lineage("x.b", depth=2).nodes}
    # an unknown product is a graph of one node
    lonely = chain.lineage("nobody.here", depth=3)
    assert [n.key for n in lonely.nodes] == ["product:nobody.here"] and lonely.edges == ()
