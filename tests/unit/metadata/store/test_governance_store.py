"""The governance tables on SQLite and PostgreSQL: vault entries, races on a new value, requests, audit."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest

from data_mesh.governance.vault import Vault, VaultKeys, new_keys
from data_mesh.metadata.store import GovernanceStore, VaultEntry


@pytest.fixture
def gov(db_url: str) -> GovernanceStore:
    return GovernanceStore(db_url)


def test_vault_entries_round_trip_and_a_digest_keeps_its_first_token(gov):
    first = gov.add_entries(iter([VaultEntry("d1", "pii_a", "v1:x"), VaultEntry("d2", "pii_b", "v1:y")]))
    assert first == 2
    again = gov.add_entries([VaultEntry("d1", "pii_other", "v1:z"), VaultEntry("d3", "pii_c", "v1:w=")])
    assert again == 1 and gov.vault_size() == 3  # d1: a racing publisher lost; only d3 counts
    assert gov.tokens_for(["d1", "d2", "d4"]) == {"d1": "pii_a", "d2": "pii_b"}
    assert gov.ciphertexts(["pii_a", "pii_b", "pii_nope"]) == {"pii_a": "v1:x", "pii_b": "v1:y"}


def test_bulk_writes_refuse_what_the_bulk_paths_would_misread_and_write_nothing(gov):
    """PostgreSQL's COPY text is unescaped and SQLite's scans split comma-joined pages: an entry that
    is not hex or URL-safe base64 (a backslash, a tab, a newline, a comma) is refused, and the
    transaction leaves the vault as it was."""
    gov.add_entries([VaultEntry("d1", "pii_a", "v1:x")])
    # a COPY escape, a column, a row, a shifted page
    forgeries = ("v1:\\N", "v1:y\tpii_x\tv1:z", "v1:y\nd9\tpii_x\tv1:z", "v1:y,pii_x")
    for forged in forgeries:
        bad = [VaultEntry("d2", "pii_b", "v1:y"), VaultEntry("d3", "pii_c", forged)]
        with pytest.raises(ValueError, match="outside hex and URL-safe base64"):
            gov.add_entries(iter(bad))
    assert gov.vault_size() == 1 and gov.tokens_for(["d2", "d3", "d9"]) == {}


def test_many_values_and_concurrent_tokenizers_agree(gov):
    keys = new_keys()
    vault_keys = VaultKeys(keys["password"], keys["hmac_secret"])
    values = [f"person{i}@example.com" for i in range(12_000)]  # more than two chunks
    results: list[list[str]] = []

    def work() -> None:
        results.append(Vault(vault_keys, GovernanceStore(gov.engine)).tokens(values))

    threads = [threading.Thread(target=work) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 3 and results[0] == results[1] == results[2] and len(set(results[0])) == 12_000
    vault = Vault(vault_keys, gov)
    assert vault.values(results[0][:3]) == dict(zip(results[0][:3], values[:3], strict=True))


def test_new_values_in_many_chunks_and_a_scan_return_exactly_what_was_asked(gov, monkeypatch):
    """New entries are encrypted and written a chunk at a time in one transaction; a lookup that
    reads the whole vault (a scan) still returns only the digests asked for."""
    import data_mesh.governance.vault as vault_module
    import data_mesh.metadata.store.vault as table_module

    monkeypatch.setattr(vault_module, "FRESH_CHUNK", 700)  # several chunks, across SQLite pages
    monkeypatch.setattr(table_module, "SQLITE_ROWS", 400)  # several INSERTs per chunk on SQLite
    monkeypatch.setattr(table_module, "SCAN_ROWS", 1_000)  # a scan of several pages
    keys = new_keys()
    vault = Vault(VaultKeys(keys["password"], keys["hmac_secret"]), gov)
    first = vault.tokens([f"p{i}@example.com" for i in range(3_000)])
    mixed = [f"p{i}@example.com" for i in range(2_000, 4_500)]  # 1,000 known, 1,500 new
    again = vault.tokens(mixed)
    assert again[:1_000] == first[2_000:] and len(set(again)) == 2_500 and gov.vault_size() == 4_500
    assert vault.values(again[-3:]) == dict(zip(again[-3:], mixed[-3:], strict=True))
    digests = vault.keys.digests(mixed[:1_500])  # a third of the vault: read by a scan
    assert gov.tokens_for([*digests, "not-a-digest"]) == dict(zip(digests, again[:1_500], strict=True))
    import pyarrow as pa

    for asked in (digests, digests[:100]):  # by a scan, then by the index
        found, tokens = gov.token_pairs(pa.array([*asked, "not-a-digest"]))
        assert dict(zip(found.to_pylist(), tokens.to_pylist(), strict=True)) == gov.tokens_for(asked)


def test_requests_move_through_their_states_with_an_audit_event_each(gov):
    request = gov.create_request(
        "sales.customer_orders", "viewer", "user", "viewer", ["customer_email"], "x", 1
    )
    assert request.status == "pending" and request.state == "pending"
    expires = datetime.now(UTC) + timedelta(days=1)
    gov.set_status(
        request.id, expected="pending", status="approved", actor="alice", reason=None, expires_at=expires
    )
    [grant] = gov.active_grants("sales.customer_orders", "user", "viewer")
    assert grant.active() and grant.columns == ("customer_email",)
    with pytest.raises(LookupError, match="approved, not pending"):
        gov.set_status(request.id, expected="pending", status="denied", actor="alice", reason="no")
    gov.set_status(request.id, expected="approved", status="revoked", actor="alice", reason=None)
    assert gov.active_grants("sales.customer_orders", "user", "viewer") == []
    actions = [e.action for e in gov.audit_events(product_id="sales.customer_orders")]
    assert actions == ["access.revoked", "access.approved", "access.request"]
