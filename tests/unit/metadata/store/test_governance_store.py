"""The governance tables on SQLite and PostgreSQL: vault entries, races on a new value, requests, audit."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pyarrow as pa
import pytest
import sqlalchemy as sa

from data_mesh.governance.vault import Vault, VaultKeys, new_keys
from data_mesh.metadata.store import GovernanceStore, VaultEntry, VaultPage


@pytest.fixture
def gov(db_url: str) -> GovernanceStore:
    return GovernanceStore(db_url)


def _add(gov: GovernanceStore, entries: list[tuple[str, str]], pages: list[VaultPage] | None = None):
    """add_entries as a publication calls it; returns (inserted, the lost tokens `seal` was given)."""
    given: list[frozenset[str]] = []

    def seal(lost: frozenset[str]) -> list[VaultPage]:
        given.append(lost)
        return pages or []

    digests, tokens = (pa.array([e[i] for e in entries], pa.string()) for i in (0, 1))
    return gov.add_entries(digests, tokens, seal), given[0]


def test_vault_entries_round_trip_and_a_digest_keeps_its_first_token(gov):
    assert _add(gov, [("d1", "pii_a"), ("d2", "pii_b")], [VaultPage("a", b"v2-sealed")]) == (2, frozenset())
    again = _add(gov, [("d1", "pii_other"), ("d3", "pii_c")])
    assert again == (1, {"pii_other"}) and gov.vault_size() == 3  # d1: a racing publisher lost
    assert gov.tokens_for(["d1", "d2", "d4"]) == {"d1": "pii_a", "d2": "pii_b"}
    assert gov.sealed_pages(["a", "nope"]) == [VaultPage("a", b"v2-sealed")]
    assert gov.entry("d2") == VaultEntry("d2", "pii_b") and gov.entry("d9") is None


def test_bulk_writes_refuse_what_the_bulk_paths_would_misread_and_write_nothing(gov):
    """PostgreSQL's COPY text is unescaped and SQLite's scans split comma-joined pages: an entry that
    is not hex or URL-safe base64 (a backslash, a tab, a newline, a comma) is refused, and the
    transaction leaves the vault as it was, pages included."""
    _add(gov, [("d1", "pii_a")])
    # a COPY escape, a column, a row, a shifted page
    forgeries = ("pii_\\N", "pii_y\tpii_x", "pii_y\nd9\tpii_x", "pii_y,pii_x")
    for forged in forgeries:
        with pytest.raises(ValueError, match="outside hex and URL-safe base64"):
            _add(gov, [("d2", "pii_b"), ("d3", forged)], [VaultPage("p", b"v2")])
    assert gov.vault_size() == 1 and gov.tokens_for(["d2", "d3", "d9"]) == {}
    assert gov.sealed_pages(["p"]) == []


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
    # The losers' pages were sealed without the values they lost: each value is in one page only.
    with gov.engine.connect() as conn:
        page_ids = [r[0] for r in conn.execute(sa.text("SELECT page_id FROM vault_pages"))]
    sealed = [vault_keys.open_page(page)[0].to_pylist() for page in gov.sealed_pages(page_ids)]
    assert sorted(t for page in sealed for t in page) == sorted(results[0])


def test_new_values_in_many_chunks_and_a_scan_return_exactly_what_was_asked(gov, monkeypatch):
    """New entries are sealed in pages and written a chunk at a time in one transaction; a lookup that
    reads the whole vault (a scan) still returns only the digests asked for."""
    import data_mesh.governance.vault as vault_module
    import data_mesh.metadata.store.vault as table_module

    monkeypatch.setattr(vault_module, "FRESH_CHUNK", 700)  # several chunks, across SQLite pages
    monkeypatch.setattr(vault_module, "PAGE_ENTRIES", 512)  # several vault pages per run
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
    for asked in (digests, digests[:100]):  # by a scan, then by the index
        found, tokens = gov.token_pairs(pa.array([*asked, "not-a-digest"]))
        assert dict(zip(found.to_pylist(), tokens.to_pylist(), strict=True)) == gov.tokens_for(asked)
    assert vault.values([*first, *again]) == dict(  # every page opens, each value back once
        zip(
            [*first, *again],
            [f"p{i}@example.com" for i in (*range(3_000), *range(2_000, 4_500))],
            strict=True,
        )
    )


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
