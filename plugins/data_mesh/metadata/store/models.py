"""Tables of the metadata store (SQLAlchemy 2 Core, one `MetaData`).

The schema is created by the hand-written Alembic migrations in `migrations/versions/`; keep both in
step (a new column here needs a new migration there).
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.types import TypeDecorator

ALEMBIC_VERSION_TABLE = "data_mesh_alembic_version"

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)


class UtcDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite hands back naive values)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        value = value.astimezone(UTC)
        # SQLite stores text: drop the offset so that values compare and sort as plain strings.
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | str | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        if isinstance(value, str):  # aggregates on SQLite may return the raw text
            value = datetime.fromisoformat(value)
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


products = sa.Table(
    "products",
    metadata,
    sa.Column("id", sa.String(255), primary_key=True),  # "<domain>.<name>"
    sa.Column("domain", sa.String(100), nullable=False),
    sa.Column("name", sa.String(150), nullable=False),
    sa.Column("owner", sa.String(255), nullable=False, server_default=""),
    sa.Column("status", sa.String(50), nullable=False, server_default=""),
    sa.Column("version", sa.String(50), nullable=False, server_default=""),  # the contract's version
    sa.Column("description", sa.Text, nullable=False, server_default=""),
    sa.Column("tags", sa.JSON, nullable=False),
    sa.Column("sla", sa.JSON, nullable=False),
    sa.Column("access", sa.JSON, nullable=False),
    sa.Column("columns", sa.JSON, nullable=False),
    sa.Column("contract_path", sa.Text, nullable=False, server_default=""),
    sa.Column("contract", sa.Text, nullable=False, server_default=""),  # ODCS YAML as written
    sa.Column("updated_at", UtcDateTime, nullable=False, default=utcnow),
    sa.Index("ix_products_domain", "domain"),
)

publications = sa.Table(
    "publications",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("product_id", sa.String(255), nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("partition", sa.String(100), nullable=True),
    sa.Column("rows", sa.BigInteger, nullable=True),
    sa.Column("bytes", sa.BigInteger, nullable=True),
    sa.Column("files", sa.Integer, nullable=True),
    sa.Column("schema", sa.JSON, nullable=True),
    sa.Column("schema_hash", sa.String(128), nullable=True),
    sa.Column("duration_s", sa.Float, nullable=True),
    sa.Column("dag_id", sa.String(250), nullable=True),
    sa.Column("run_id", sa.String(250), nullable=True),
    sa.Column("task_id", sa.String(250), nullable=True),
    sa.Column("published_at", UtcDateTime, nullable=False, default=utcnow),
    sa.Column("validation_success", sa.Boolean, nullable=True),
    sa.Column("validation_summary", sa.JSON, nullable=True),
    sa.Column("snapshot_id", sa.BigInteger, nullable=True),
    sa.Column("operation", sa.String(20), nullable=True),
    sa.UniqueConstraint("product_id", "version", name="uq_publications_product_id_version"),
    sa.Index("ix_publications_product_id_published_at", "product_id", "published_at"),
)

validation_runs = sa.Table(
    "validation_runs",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("product_id", sa.String(255), nullable=False),
    sa.Column("partition", sa.String(100), nullable=True),
    sa.Column("run_id", sa.String(250), nullable=True),
    sa.Column("success", sa.Boolean, nullable=False),
    sa.Column("evaluated", sa.Integer, nullable=False, server_default="0"),
    sa.Column("successful", sa.Integer, nullable=False, server_default="0"),
    sa.Column("failed", sa.Integer, nullable=False, server_default="0"),
    sa.Column("report", sa.JSON, nullable=True),
    sa.Column("quarantine_path", sa.Text, nullable=True),
    sa.Column("created_at", UtcDateTime, nullable=False, default=utcnow),
    sa.Index("ix_validation_runs_product_id_created_at", "product_id", "created_at"),
    sa.Index("ix_validation_runs_product_id_id", "product_id", "id"),  # the latest per product (0005)
)

task_runs = sa.Table(
    "task_runs",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("dag_id", sa.String(250), nullable=False),
    sa.Column("task_id", sa.String(250), nullable=False),
    sa.Column("run_id", sa.String(250), nullable=False),
    sa.Column("map_index", sa.Integer, nullable=False, server_default="-1"),
    sa.Column("try_number", sa.Integer, nullable=False, server_default="1"),
    sa.Column("state", sa.String(50), nullable=True),
    sa.Column("start_date", UtcDateTime, nullable=True),
    sa.Column("end_date", UtcDateTime, nullable=True),
    sa.Column("duration_s", sa.Float, nullable=True),
    sa.Column("error", sa.Text, nullable=True),
    sa.Column("hostname", sa.String(255), nullable=True),
    sa.Column("recorded_at", UtcDateTime, nullable=False, default=utcnow),
    sa.UniqueConstraint("dag_id", "task_id", "run_id", "map_index", "try_number", name="uq_task_runs_try"),
    sa.Index("ix_task_runs_dag_id_start_date", "dag_id", "start_date"),
)

lineage_edges = sa.Table(
    "lineage_edges",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("upstream_kind", sa.String(20), nullable=False),  # source | product
    sa.Column("upstream_id", sa.String(255), nullable=False),
    sa.Column("downstream_kind", sa.String(20), nullable=False),  # product | dag
    sa.Column("downstream_id", sa.String(255), nullable=False),
    sa.Column("created_at", UtcDateTime, nullable=False, default=utcnow),
    sa.UniqueConstraint(
        "upstream_kind", "upstream_id", "downstream_kind", "downstream_id", name="uq_lineage_edges_edge"
    ),
    sa.Index("ix_lineage_edges_downstream", "downstream_kind", "downstream_id"),
)

publication_inputs = sa.Table(
    "publication_inputs",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column(
        "publication_id",
        sa.Integer,
        sa.ForeignKey("publications.id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("input_product_id", sa.String(255), nullable=False),
    sa.Column("input_version", sa.Integer, nullable=True),
    sa.Index("ix_publication_inputs_publication_id", "publication_id"),
    sa.Index("ix_publication_inputs_input", "input_product_id", "input_version"),
)

access_events = sa.Table(
    "access_events",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("at", UtcDateTime, nullable=False, default=utcnow),
    sa.Column("principal", sa.String(500), nullable=False),
    sa.Column("principal_kind", sa.String(20), nullable=False),  # user | task
    sa.Column("product_id", sa.String(255), nullable=False),
    sa.Column("version", sa.Integer, nullable=True),
    sa.Column("columns", sa.JSON, nullable=True),
    sa.Column("rows", sa.BigInteger, nullable=True),
    sa.Column("purpose", sa.Text, nullable=True),
    sa.Column("path", sa.String(20), nullable=False),  # task | api | ui | cli
    sa.Column("allowed", sa.Boolean, nullable=False),
    sa.Column("reason", sa.Text, nullable=True),
    sa.Column("grant_id", sa.Integer, nullable=True),  # the access request whose grant allowed it
)
sa.Index("ix_access_events_product_id_at", access_events.c.product_id, access_events.c.at.desc())
sa.Index("ix_access_events_principal", access_events.c.principal)
# usage per consumer of a product read from the index alone (migration 0007)
sa.Index(
    "ix_access_events_usage",
    access_events.c.product_id,
    access_events.c.principal,
    access_events.c.allowed,
    access_events.c.at,
    access_events.c.rows,
)

# ---- governance: the vault, usage agreements, the audit trail, erasure receipts (migration 0003) ----

vault_entries = sa.Table(
    "vault_entries",
    metadata,
    # HMAC-SHA256 of the value under the vault's secret (hex): the same value always finds its entry
    sa.Column("digest", sa.String(64), primary_key=True),
    # random, what the tables hold: "pii_" + the id of the page holding its value + random characters
    # (unique by construction: page ids are the pages' primary key, tokens within a page distinct)
    sa.Column("token", sa.String(64), nullable=False),
    sa.Column("created_at", UtcDateTime, nullable=False, default=utcnow),
)

# The values, encrypted a page of entries at a time (migration 0008): "v2" + AES-256-GCM nonce and
# sealed Arrow IPC (token, value); a page carried over from 0007 holds one "v1 <token> <ciphertext>".
vault_pages = sa.Table(
    "vault_pages",
    metadata,
    sa.Column("page_id", sa.String(16), primary_key=True),
    sa.Column("sealed", sa.LargeBinary, nullable=False),
    sa.Column("created_at", UtcDateTime, nullable=False, default=utcnow),
)

access_requests = sa.Table(
    "access_requests",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("product_id", sa.String(255), nullable=False),
    sa.Column("requester", sa.String(255), nullable=False),  # a user name, or a domain for its DAGs
    sa.Column("requester_kind", sa.String(20), nullable=False),  # user | domain
    sa.Column("requested_by", sa.String(255), nullable=False),  # who asked (the domain's owner)
    sa.Column("columns", sa.JSON, nullable=False),
    sa.Column("purpose", sa.Text, nullable=False),
    sa.Column("duration_days", sa.Float, nullable=False),
    sa.Column("status", sa.String(20), nullable=False),  # pending | approved | denied | revoked
    sa.Column("created_at", UtcDateTime, nullable=False, default=utcnow),
    sa.Column("decided_by", sa.String(255), nullable=True),
    sa.Column("decided_at", UtcDateTime, nullable=True),
    sa.Column("decision_reason", sa.Text, nullable=True),
    sa.Column("expires_at", UtcDateTime, nullable=True),
    sa.Column("revoked_by", sa.String(255), nullable=True),
    sa.Column("revoked_at", UtcDateTime, nullable=True),
    sa.Index("ix_access_requests_product_id_status", "product_id", "status"),
    sa.Index("ix_access_requests_requester", "requester_kind", "requester"),
)

audit_events = sa.Table(
    "audit_events",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("at", UtcDateTime, nullable=False, default=utcnow),
    sa.Column("actor", sa.String(500), nullable=False),
    sa.Column("action", sa.String(50), nullable=False),  # access.request, access.approve, erasure, ...
    sa.Column("product_id", sa.String(255), nullable=True),
    sa.Column("detail", sa.JSON, nullable=True),
    sa.Index("ix_audit_events_product_id_at", "product_id", "at"),
)

erasure_receipts = sa.Table(
    "erasure_receipts",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("at", UtcDateTime, nullable=False, default=utcnow),
    sa.Column("requested_by", sa.String(500), nullable=False),
    sa.Column("subject_column", sa.String(255), nullable=False),
    sa.Column("digest", sa.String(64), nullable=False),  # to answer "already erased", never the value
    sa.Column("token", sa.String(64), nullable=False),
    sa.Column("holdings", sa.JSON, nullable=False),  # [{product, column, versions}]
    sa.Column("deleted_rows", sa.JSON, nullable=True),  # [{product, version, rows}] with --delete-rows
    sa.Column("reason", sa.Text, nullable=True),
    sa.Index("ix_erasure_receipts_digest", "digest"),
)

# ---- freshness SLO evaluations (migration 0004) ----

slo_evaluations = sa.Table(
    "slo_evaluations",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("product_id", sa.String(255), nullable=False),
    sa.Column("evaluated_at", UtcDateTime, nullable=False, default=utcnow),
    sa.Column("state", sa.String(20), nullable=False),  # met | violated | unknown
    sa.Column("age_hours", sa.Float, nullable=True),  # the newest partition's age (None when unknown)
    sa.Column("sla_hours", sa.Float, nullable=True),  # the freshness limit it was measured against
    sa.Column("newest_partition", sa.String(100), nullable=True),
    sa.Column("reason", sa.Text, nullable=True),  # why unknown (never published, no SLA, deprecated)
    sa.Column("alert", sa.String(20), nullable=True),  # violation | recovery when one was due
    sa.Column("delivery", sa.String(20), nullable=True),  # sent | failed | disabled
    sa.Index("ix_slo_evaluations_product_id_evaluated_at", "product_id", "evaluated_at"),
    sa.Index("ix_slo_evaluations_evaluated_at", "evaluated_at"),  # the retention's prune (0006)
    sa.Index("ix_slo_evaluations_delivery_product_id_id", "delivery", "product_id", "id"),  # last sent (0006)
)

__all__ = [
    "ALEMBIC_VERSION_TABLE",
    "UtcDateTime",
    "access_events",
    "access_requests",
    "audit_events",
    "erasure_receipts",
    "lineage_edges",
    "metadata",
    "products",
    "publication_inputs",
    "publications",
    "slo_evaluations",
    "task_runs",
    "utcnow",
    "validation_runs",
    "vault_entries",
    "vault_pages",
]
