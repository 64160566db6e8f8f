"""The latest validation of a product by its id: an index on validation_runs (product_id, id).

The catalog's list asks each product's newest validation (`max(id)` per product). Without this index
PostgreSQL walked the primary key backwards, filtering every other product's rows, for each of 200
products (24 of 31 ms of the list's query on the 200-product mesh).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03
"""

from __future__ import annotations

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_validation_runs_product_id_id", "validation_runs", ["product_id", "id"])


def downgrade() -> None:
    op.drop_index("ix_validation_runs_product_id_id", table_name="validation_runs")
