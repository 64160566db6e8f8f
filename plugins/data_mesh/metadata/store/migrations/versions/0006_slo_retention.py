"""SLO evaluations pruned past their retention: indexes for the prune and the last notified state.

The SLO DAG deletes evaluations older than the retention (`evaluated_at`), keeping each product's
newest delivered alert (`delivery = 'sent'`, newest `id` per product), which it also reads at every
run to decide the next alert. Without these indexes both walked the whole table every 5 minutes.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-04
"""

from __future__ import annotations

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_slo_evaluations_evaluated_at", "slo_evaluations", ["evaluated_at"])
    op.create_index(
        "ix_slo_evaluations_delivery_product_id_id", "slo_evaluations", ["delivery", "product_id", "id"]
    )


def downgrade() -> None:
    op.drop_index("ix_slo_evaluations_delivery_product_id_id", table_name="slo_evaluations")
    op.drop_index("ix_slo_evaluations_evaluated_at", table_name="slo_evaluations")
