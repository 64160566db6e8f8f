"""The vault's values encrypted a page of entries at a time; the token index goes.

Until 0007 every vault entry held its own AES-GCM ciphertext, and tokens had a unique index so that
a read could find each token's entry. A first publication of 1M orders (200k new addresses) spent
most of its time inserting those entries into two B-trees in unrelated orders, and a re-identifying
read decrypted 200k ciphertexts one call each (`make bench` pseudonymize: 2.8x and 7.3x).

From 0008 a token names the page that holds its value (`pii_` + page id + random characters), a
page (`vault_pages`) seals the (token, value) pairs of up to 4,096 entries in one AES-GCM message,
and `vault_entries` keeps digest -> token only. Each entry of 0007 is carried over as a page of its
own, under its token's first 12 characters as page id, holding "v1 <token> <ciphertext>" exactly as
before (no key is needed to migrate: the ciphertext is not reopened).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "vault_pages",
        sa.Column("page_id", sa.String(16), nullable=False),
        sa.Column("sealed", sa.LargeBinary, nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("page_id", name="pk_vault_pages"),
    )
    carried = "'v1 ' || token || ' ' || ciphertext"
    sealed = (
        f"CAST({carried} AS BLOB)"
        if op.get_bind().dialect.name == "sqlite"
        else f"convert_to({carried}, 'UTF8')"
    )
    op.execute(
        "INSERT INTO vault_pages (page_id, sealed, created_at) "  # noqa: S608 (no input: constants)
        f"SELECT substr(token, 5, 12), {sealed}, created_at FROM vault_entries"
    )
    with op.batch_alter_table("vault_entries") as batch:
        batch.drop_constraint("uq_vault_entries_token", type_="unique")
        batch.drop_column("ciphertext")


def downgrade() -> None:
    raise NotImplementedError(
        "0008 cannot be undone: pages written since seal many values in one message, and the "
        "migration holds no key to split them back into per-entry ciphertexts"
    )
