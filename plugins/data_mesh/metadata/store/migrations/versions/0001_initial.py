"""Initial schema of the metadata store.

Revision ID: 0001
Revises:
Create Date: 2026-01-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "products",
        sa.Column("id", sa.String(255), nullable=False),
        sa.Column("domain", sa.String(100), nullable=False),
        sa.Column("name", sa.String(150), nullable=False),
        sa.Column("owner", sa.String(255), nullable=False, server_default=""),
        sa.Column("status", sa.String(50), nullable=False, server_default=""),
        sa.Column("version", sa.String(50), nullable=False, server_default=""),
        sa.Column("description", sa.Text, nullable=False, server_default=""),
        sa.Column("tags", sa.JSON, nullable=False),
        sa.Column("sla", sa.JSON, nullable=False),
        sa.Column("access", sa.JSON, nullable=False),
        sa.Column("columns", sa.JSON, nullable=False),
        sa.Column("contract_path", sa.Text, nullable=False, server_default=""),
        sa.Column("contract", sa.Text, nullable=False, server_default=""),
        sa.Column("updated_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_products"),
    )
    op.create_index("ix_products_domain", "products", ["domain"])

    op.create_table(
        "publications",
        sa.Column("id", sa.Integer, autoincrement=True, nullable=False),
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
        sa.Column("published_at", TS, nullable=False),
        sa.Column("validation_success", sa.Boolean, nullable=True),
        sa.Column("validation_summary", sa.JSON, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_publications"),
        sa.UniqueConstraint("product_id", "version", name="uq_publications_product_id_version"),
    )
    op.create_index("ix_publications_product_id_published_at", "publications", ["product_id", "published_at"])

    op.create_table(
        "validation_runs",
        sa.Column("id", sa.Integer, autoincrement=True, nullable=False),
        sa.Column("product_id", sa.String(255), nullable=False),
        sa.Column("partition", sa.String(100), nullable=True),
        sa.Column("run_id", sa.String(250), nullable=True),
        sa.Column("success", sa.Boolean, nullable=False),
        sa.Column("evaluated", sa.Integer, nullable=False, server_default="0"),
        sa.Column("successful", sa.Integer, nullable=False, server_default="0"),
        sa.Column("failed", sa.Integer, nullable=False, server_default="0"),
        sa.Column("report", sa.JSON, nullable=True),
        sa.Column("quarantine_path", sa.Text, nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_validation_runs"),
    )
    op.create_index(
        "ix_validation_runs_product_id_created_at", "validation_runs", ["product_id", "created_at"]
    )

    op.create_table(
        "task_runs",
        sa.Column("id", sa.Integer, autoincrement=True, nullable=False),
        sa.Column("dag_id", sa.String(250), nullable=False),
        sa.Column("task_id", sa.String(250), nullable=False),
        sa.Column("run_id", sa.String(250), nullable=False),
        sa.Column("map_index", sa.Integer, nullable=False, server_default="-1"),
        sa.Column("try_number", sa.Integer, nullable=False, server_default="1"),
        sa.Column("state", sa.String(50), nullable=True),
        sa.Column("start_date", TS, nullable=True),
        sa.Column("end_date", TS, nullable=True),
        sa.Column("duration_s", sa.Float, nullable=True),
        sa.Column("error", sa.Text, nullable=True),
        sa.Column("hostname", sa.String(255), nullable=True),
        sa.Column("recorded_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_task_runs"),
        sa.UniqueConstraint(
            "dag_id", "task_id", "run_id", "map_index", "try_number", name="uq_task_runs_try"
        ),
    )
    op.create_index("ix_task_runs_dag_id_start_date", "task_runs", ["dag_id", "start_date"])

    op.create_table(
        "lineage_edges",
        sa.Column("id", sa.Integer, autoincrement=True, nullable=False),
        sa.Column("upstream_kind", sa.String(20), nullable=False),
        sa.Column("upstream_id", sa.String(255), nullable=False),
        sa.Column("downstream_kind", sa.String(20), nullable=False),
        sa.Column("downstream_id", sa.String(255), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_lineage_edges"),
        sa.UniqueConstraint(
            "upstream_kind", "upstream_id", "downstream_kind", "downstream_id", name="uq_lineage_edges_edge"
        ),
    )
    op.create_index("ix_lineage_edges_downstream", "lineage_edges", ["downstream_kind", "downstream_id"])

    op.create_table(
        "publication_inputs",
        sa.Column("id", sa.Integer, autoincrement=True, nullable=False),
        sa.Column("publication_id", sa.Integer, nullable=False),
        sa.Column("input_product_id", sa.String(255), nullable=False),
        sa.Column("input_version", sa.Integer, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_publication_inputs"),
        sa.ForeignKeyConstraint(
            ["publication_id"],
            ["publications.id"],
            name="fk_publication_inputs_publication_id_publications",
            ondelete="CASCADE",
        ),
    )
    op.create_index("ix_publication_inputs_publication_id", "publication_inputs", ["publication_id"])
    op.create_index(
        "ix_publication_inputs_input", "publication_inputs", ["input_product_id", "input_version"]
    )

    op.create_table(
        "access_events",
        sa.Column("id", sa.Integer, autoincrement=True, nullable=False),
        sa.Column("at", TS, nullable=False),
        sa.Column("principal", sa.String(500), nullable=False),
        sa.Column("principal_kind", sa.String(20), nullable=False),
        sa.Column("product_id", sa.String(255), nullable=False),
        sa.Column("version", sa.Integer, nullable=True),
        sa.Column("columns", sa.JSON, nullable=True),
        sa.Column("rows", sa.BigInteger, nullable=True),
        sa.Column("purpose", sa.Text, nullable=True),
        sa.Column("path", sa.String(20), nullable=False),
        sa.Column("allowed", sa.Boolean, nullable=False),
        sa.Column("reason", sa.Text, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_access_events"),
    )
    op.create_index("ix_access_events_product_id_at", "access_events", ["product_id", sa.text("at DESC")])
    op.create_index("ix_access_events_principal", "access_events", ["principal"])


def downgrade() -> None:
    for table in (
        "access_events",
        "publication_inputs",
        "lineage_edges",
        "task_runs",
        "validation_runs",
        "publications",
        "products",
    ):
        op.drop_table(table)
