"""Governance: the PII vault, access requests (usage agreements), the audit trail, erasure receipts.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "vault_entries",
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("token", sa.String(64), nullable=False),
        sa.Column("ciphertext", sa.Text, nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("digest", name="pk_vault_entries"),
        sa.UniqueConstraint("token", name="uq_vault_entries_token"),
    )
    op.create_table(
        "access_requests",
        sa.Column("id", sa.Integer, autoincrement=True, nullable=False),
        sa.Column("product_id", sa.String(255), nullable=False),
        sa.Column("requester", sa.String(255), nullable=False),
        sa.Column("requester_kind", sa.String(20), nullable=False),
        sa.Column("requested_by", sa.String(255), nullable=False),
        sa.Column("columns", sa.JSON, nullable=False),
        sa.Column("purpose", sa.Text, nullable=False),
        sa.Column("duration_days", sa.Float, nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("decided_by", sa.String(255), nullable=True),
        sa.Column("decided_at", TS, nullable=True),
        sa.Column("decision_reason", sa.Text, nullable=True),
        sa.Column("expires_at", TS, nullable=True),
        sa.Column("revoked_by", sa.String(255), nullable=True),
        sa.Column("revoked_at", TS, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_access_requests"),
    )
    op.create_index("ix_access_requests_product_id_status", "access_requests", ["product_id", "status"])
    op.create_index("ix_access_requests_requester", "access_requests", ["requester_kind", "requester"])
    op.create_table(
        "audit_events",
        sa.Column("id", sa.Integer, autoincrement=True, nullable=False),
        sa.Column("at", TS, nullable=False),
        sa.Column("actor", sa.String(500), nullable=False),
        sa.Column("action", sa.String(50), nullable=False),
        sa.Column("product_id", sa.String(255), nullable=True),
        sa.Column("detail", sa.JSON, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_audit_events"),
    )
    op.create_index("ix_audit_events_product_id_at", "audit_events", ["product_id", "at"])
    op.create_table(
        "erasure_receipts",
        sa.Column("id", sa.Integer, autoincrement=True, nullable=False),
        sa.Column("at", TS, nullable=False),
        sa.Column("requested_by", sa.String(500), nullable=False),
        sa.Column("subject_column", sa.String(255), nullable=False),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("token", sa.String(64), nullable=False),
        sa.Column("holdings", sa.JSON, nullable=False),
        sa.Column("deleted_rows", sa.JSON, nullable=True),
        sa.Column("reason", sa.Text, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_erasure_receipts"),
    )
    op.create_index("ix_erasure_receipts_digest", "erasure_receipts", ["digest"])
    with op.batch_alter_table("access_events") as batch:
        batch.add_column(sa.Column("grant_id", sa.Integer, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("access_events") as batch:
        batch.drop_column("grant_id")
    for table in ("erasure_receipts", "audit_events", "access_requests", "vault_entries"):
        op.drop_table(table)
