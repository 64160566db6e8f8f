"""Usage per consumer from an index alone: a covering index on access_events for its aggregate.

The product page, `GET .../usage` and `data-mesh usage` count each consumer's allowed reads of a
product (reads, rows served, last read: `access_log.usage_by_consumer`). Through the
(product_id, at) index that aggregate looked every event of the product up in the table: 133.8 ms
on SQLite for a product with 104,500 events (the 200-product mesh of `bench.mesh_scale`, 1M events
in all), which made the product page 220 ms. With (product_id, principal, allowed, at, rows) it
reads the index alone, grouped in its order: 19.5 ms. Each recorded read writes one more index
entry.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-05
"""

from __future__ import annotations

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "ix_access_events_usage", "access_events", ["product_id", "principal", "allowed", "at", "rows"]
    )


def downgrade() -> None:
    op.drop_index("ix_access_events_usage", table_name="access_events")
