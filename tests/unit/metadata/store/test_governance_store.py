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
    first = gov.add_entries([VaultEntry("d1", "pii_a", "v1:x"), VaultEntry("d2", "pii_b", "v1:y")])
    assert first == {"d1": "pii_a", "d2": "pii_b"}
    again = gov.add_entries([VaultEntry("d1", "pii_other", "v1:z")])  # a racing publisher lost
    assert again == {"d1": "pii_a"} and gov.vault_size() == 2
    assert gov.ciphertexts(["pii_a", "pii_b", "pii_nope"]) == {"pii_a": "v1:x", "pii_b": "v1:y"}


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
