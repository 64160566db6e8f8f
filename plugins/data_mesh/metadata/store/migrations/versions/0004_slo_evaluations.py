"""Freshness SLO evaluations: one row per product per evaluation of the `data_mesh__slo` DAG.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "slo_evaluations",
        sa.Column("id", sa.Integer, autoincrement=True, nullable=False),
        sa.Column("product_id", sa.String(255), nullable=False),
        sa.Column("evaluated_at", TS, nullable=False),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("age_hours", sa.Float, nullable=True),
        sa.Column("sla_hours", sa.Float, nullable=True),
        sa.Column("newest_partition", sa.String(100), nullable=True),
        sa.Column("reason", sa.Text, nullable=True),
        sa.Column("alert", sa.String(20), nullable=True),
        sa.Column("delivery", sa.String(20), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_slo_evaluations"),
    )
    op.create_index(
        "ix_slo_evaluations_product_id_evaluated_at", "slo_evaluations", ["product_id", "evaluated_at"]
    )


def downgrade() -> None:
    op.drop_index("ix_slo_evaluations_product_id_evaluated_at", table_name="slo_evaluations")
    op.drop_table("slo_evaluations")
