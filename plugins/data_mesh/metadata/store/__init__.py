"""The platform's metadata store: its own database (SQLite file by default, PostgreSQL by URL).

    from data_mesh.metadata.store import MetadataStore
    store = MetadataStore()            # data_mesh.conf.metadata_url(), migrated on first use
    store.record_access(AccessEvent(...))

Importing this package is cheap: SQLAlchemy only (Alembic is imported when a migration check runs).
"""

from __future__ import annotations

from .engine import dispose_engines, get_engine, migrate
from .governance import AccessRequest, AuditEvent, ErasureReceipt, GovernanceStore
from .records import (
    AccessEvent,
    ConsumerUsage,
    LineageEdge,
    LineageGraph,
    LineageNode,
    Page,
    ProductRecord,
    ProductSummary,
    PublicationInput,
    PublicationRecord,
    TaskRunRecord,
    ValidationRecord,
)
from .repository import MetadataStore
from .vault import PageKeeper, VaultEntry, VaultPage

__all__ = [
    "AccessEvent",
    "AccessRequest",
    "AuditEvent",
    "ErasureReceipt",
    "GovernanceStore",
    "PageKeeper",
    "VaultEntry",
    "VaultPage",
    "ConsumerUsage",
    "LineageEdge",
    "LineageGraph",
    "LineageNode",
    "MetadataStore",
    "Page",
    "ProductRecord",
    "ProductSummary",
    "PublicationInput",
    "PublicationRecord",
    "TaskRunRecord",
    "ValidationRecord",
    "dispose_engines",
    "get_engine",
    "migrate",
]
