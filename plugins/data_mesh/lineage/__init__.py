"""Lineage in open standards: OpenLineage RunEvents for publications and consumer reads.

from data_mesh.lineage import emit_publication, emit_read
"""

from __future__ import annotations

from data_mesh.lineage.openlineage import (
    build_publication_event,
    build_read_event,
    emit,
    emit_publication,
    emit_read,
    product_events,
)

__all__ = [
    "build_publication_event",
    "build_read_event",
    "emit",
    "emit_publication",
    "emit_read",
    "product_events",
]
