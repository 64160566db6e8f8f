"""Migration 0008 on SQLite and PostgreSQL: a vault written by 0007 (an AES-GCM ciphertext per entry,
a unique index on tokens) keeps every token readable, findable and erasable."""

from __future__ import annotations

import base64
import os

import pyarrow as pa
import sqlalchemy as sa
from alembic import command
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from data_mesh.governance.vault import Vault, VaultKeys, new_keys
from data_mesh.metadata.store import GovernanceStore, migrate
from data_mesh.metadata.store.engine import _alembic_config, create_store_engine, current_revision

VALUES = ["old.one@example.com", "old.two@example.com", "ünïcode@example.com"]


def _written_by_0007(keys: dict[str, str], vault: VaultKeys, value: str) -> dict[str, str]:
    """A vault row exactly as 0007 wrote it: "v1:" + URL-safe base64 of nonce, ciphertext and tag."""
    nonce = os.urandom(12)
    sealed = AESGCM(base64.urlsafe_b64decode(keys["password"])).encrypt(
        nonce, value.encode(), b"data-mesh-vault-v1"
    )
    return {
        "digest": vault.digest(value),
        "token": "pii_" + base64.urlsafe_b64encode(os.urandom(18)).decode(),
        "ciphertext": "v1:" + base64.urlsafe_b64encode(nonce + sealed).decode(),
    }


def test_a_vault_of_0007_is_carried_over_readable_and_erasable(db_url: str):
    keys = new_keys()
    vault_keys = VaultKeys(keys["password"], keys["hmac_secret"])
    engine = create_store_engine(db_url)
    try:
        with engine.connect() as conn:
            command.upgrade(_alembic_config(conn), "0007")
            conn.commit()
        rows = [_written_by_0007(keys, vault_keys, value) for value in VALUES]
        with engine.begin() as conn:
            conn.execute(
                sa.text(
                    "INSERT INTO vault_entries (digest, token, ciphertext, created_at) "
                    "VALUES (:digest, :token, :ciphertext, CURRENT_TIMESTAMP)"
                ),
                rows,
            )
        assert migrate(engine) is True and current_revision(engine) == "0008"
        columns = {c["name"] for c in sa.inspect(engine).get_columns("vault_entries")}
        assert columns == {"digest", "token", "created_at"}  # no ciphertext left beside the pages
        gov = GovernanceStore(engine)
        vault = Vault(vault_keys, gov)
        old_tokens = [r["token"] for r in rows]

        # The same values tokenize to their old tokens; a new one gets a page of its own.
        assert vault.tokens([*VALUES, "new@example.com"])[:3] == old_tokens
        assert vault.values(old_tokens) == dict(zip(old_tokens, VALUES, strict=True))
        table = pa.table({"email": [old_tokens[1], None, old_tokens[0]]})
        back = vault.reidentify(table, ["email"]).column("email").to_pylist()
        assert back == [VALUES[1], None, VALUES[0]]

        # Erasing an entry of 0007 deletes its page: the token maps back to nothing any more.
        gov.erase(
            vault_keys.digest(VALUES[0]),
            requested_by="dpo",
            subject_column="email",
            holdings=[],
            deleted_rows=None,
            reason="gdpr",
            pages=vault,
        )
        assert vault.values(old_tokens) == dict(zip(old_tokens[1:], VALUES[1:], strict=True))
        with engine.connect() as conn:
            pages = conn.execute(sa.text("SELECT page_id FROM vault_pages")).scalars().all()
        assert vault.page_of(old_tokens[0]) not in pages and len(pages) == 3  # 2 carried over, 1 new
    finally:
        engine.dispose()
