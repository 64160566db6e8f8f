"""Publications know their Iceberg snapshot and operation (append, overwrite, delete).

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("publications") as batch:
        batch.add_column(sa.Column("snapshot_id", sa.BigInteger, nullable=True))
        batch.add_column(sa.Column("operation", sa.String(20), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("publications") as batch:
        batch.drop_column("operation")
        batch.drop_column("snapshot_id")
