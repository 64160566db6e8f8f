"""PII pseudonymized at rest: tokens in every file, values only in the vault, back only with a grant."""

from __future__ import annotations

import json
import threading

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import sqlalchemy as sa

from data_mesh.exceptions import AccessDenied
from data_mesh.governance.access import Principal
from data_mesh.governance.reader import read_batches, read_table
from data_mesh.governance.vault import TOKEN_PREFIX, Vault, VaultKeys, VaultNotConfigured, vault_keys
from data_mesh.metadata.store import GovernanceStore
from tests.conftest import VAULT_KEYS
from tests.unit.governance.test_sql import ADMIN, ORDERS, VIEWER, orders, publish


@pytest.fixture
def stores(tmp_path, monkeypatch):
    from data_mesh.metadata.store import dispose_engines

    monkeypatch.setenv("DATA_MESH_STORAGE_ROOT", str(tmp_path / "products"))
    monkeypatch.setenv("DATA_MESH_METADATA_URL", f"sqlite:///{tmp_path / 'meta.db'}")
    monkeypatch.setenv("DATA_MESH_OPENLINEAGE_TRANSPORT", "none")
    yield GovernanceStore()
    dispose_engines()


def erase(stores: GovernanceStore, vault: Vault, value: str) -> None:
    """Erase one value as `governance.erasure` does, with no holdings to record."""
    stores.erase(
        vault.keys.digest(value),
        requested_by="t",
        subject_column="email",
        holdings=[],
        deleted_rows=None,
        reason=None,
        pages=vault,
    )


def test_the_same_value_gets_the_same_random_token_and_nulls_stay_null(stores):
    vault = Vault()
    table = pa.table({"email": ["a@x.io", None, "b@x.io", "a@x.io"], "n": [1, 2, 3, 4]})
    first = vault.pseudonymize(table, ["email"]).column("email").to_pylist()
    again = (
        vault.pseudonymize(pa.table({"email": ["b@x.io", "a@x.io"]}), ["email"]).column("email").to_pylist()
    )
    assert first[0] == first[3] == again[1] and first[2] == again[0] and first[1] is None
    assert first[0] != first[2] and all(t.startswith(TOKEN_PREFIX) for t in (first[0], first[2]))
    assert "a@x.io" not in first[0] and stores.vault_size() == 2


def test_the_vault_is_keyed_by_hmac_sha256_of_the_value_under_the_connection_secret(stores):
    """An entry found by a token lookup is the one erasure finds by a single value's digest."""
    import hashlib
    import hmac

    keys = vault_keys()
    values = ["a@x.io", "b@x.io", "ünïcode@x.io", ""]
    secret = VAULT_KEYS["hmac_secret"].encode()
    expected = [hmac.new(secret, v.encode(), hashlib.sha256).hexdigest() for v in values]
    assert keys.digests(values) == expected == [keys.digest(v) for v in values]
    vault = Vault()
    token = vault.tokens(values[:1])[0]
    assert stores.entry(expected[0]).token == token == vault.token_of("a@x.io")


def test_the_digests_are_the_same_without_an_openssl_hmac_state(monkeypatch):
    """`digests` copies OpenSSL's keyed state when `hmac` has one; hmac's pure-Python HMAC (no
    OpenSSL state) gives the same digests."""
    import hashlib
    import hmac

    values = ["alice@example.com", "bob@example.com", "é@example.com", ""]
    expected = VaultKeys(VAULT_KEYS["password"], VAULT_KEYS["hmac_secret"]).digests(values)
    pure = hmac.HMAC(VAULT_KEYS["hmac_secret"].encode(), digestmod=lambda: hashlib.sha256())
    assert pure._hmac is None  # the pure-Python construction
    monkeypatch.setattr(hmac, "new", lambda key, digestmod: pure)
    assert VaultKeys(VAULT_KEYS["password"], VAULT_KEYS["hmac_secret"]).digests(values) == expected


def test_the_vault_table_holds_no_clear_value(stores):
    Vault().pseudonymize(pa.table({"email": ["secret.person@example.com"]}), ["email"])
    with stores.engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT * FROM vault_entries")).all()
    assert len(rows) == 1 and "secret.person" not in json.dumps([list(map(str, r)) for r in rows])


def test_two_publishers_tokenizing_the_same_new_values_agree(stores):
    values = [f"p{i}@example.com" for i in range(300)]
    results: list[list[str]] = []

    def work() -> None:
        results.append(Vault().tokens(values))

    threads = [threading.Thread(target=work) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 3 and results[0] == results[1] == results[2]
    assert stores.vault_size() == 300


def test_reidentify_returns_the_values_and_an_erased_token_stays_a_token(stores):
    vault = Vault()
    tokens = vault.tokens(["keep@x.io", "gone@x.io"])
    erase(stores, vault, "gone@x.io")
    for kind in (pa.string(), pa.large_string()):  # as stored, and as engines that read large types give it
        table = pa.table({"email": pa.array([*tokens, None], kind)})
        back = vault.reidentify(table, ["email"]).column("email").to_pylist()
        assert back == ["keep@x.io", tokens[1], None]


def test_a_page_altered_moved_or_sealed_under_another_key_stays_tokens(stores):
    """Each run's new values are sealed in pages of their own: one altered byte, or a page put
    under another page's id, and its tokens stay tokens; other pages still open."""
    from data_mesh.governance.vault import new_keys

    vault = Vault()
    [kept] = vault.tokens(["kept@x.io"])
    [altered] = vault.tokens(["altered@x.io"])
    [moved] = vault.tokens(["moved@x.io"])
    other = new_keys()
    foreign = Vault(VaultKeys(other["password"], other["hmac_secret"]), stores)
    [foreign_token] = foreign.tokens(["foreign@x.io"])
    with stores.engine.begin() as conn:
        sealed = conn.execute(
            sa.text("SELECT sealed FROM vault_pages WHERE page_id = :p"), {"p": vault.page_of(altered)}
        ).scalar_one()
        flipped = sealed[:20] + bytes([sealed[20] ^ 1]) + sealed[21:]
        conn.execute(
            sa.text("UPDATE vault_pages SET sealed = :s WHERE page_id = :p"),
            {"s": flipped, "p": vault.page_of(altered)},
        )
        conn.execute(  # the altered page's sealed bytes under the moved token's page id
            sa.text("UPDATE vault_pages SET sealed = :s WHERE page_id = :p"),
            {"s": sealed, "p": vault.page_of(moved)},
        )
    table = pa.table({"email": [kept, altered, moved, foreign_token]})
    back = vault.reidentify(table, ["email"]).column("email").to_pylist()
    assert back == ["kept@x.io", altered, moved, foreign_token]
    assert vault.values([kept, altered]) == {kept: "kept@x.io"}


def test_a_token_names_its_page_and_a_made_up_token_of_a_real_page_finds_nothing(stores):
    """Tokens of one run share its pages; a token is re-identified only if its page lists it."""
    vault = Vault()
    tokens = vault.tokens([f"p{i}@example.com" for i in range(10)])
    assert len({vault.page_of(t) for t in tokens}) == 1 and len(set(tokens)) == 10
    forged = tokens[0][:-4] + ("AAAA" if not tokens[0].endswith("AAAA") else "BBBB")
    assert vault.values([tokens[3], forged]) == {tokens[3]: "p3@example.com"}


def test_erasing_one_value_reseals_its_page_without_it_and_keeps_the_others(stores):
    vault = Vault()
    tokens = vault.tokens(["stay@x.io", "gone@x.io", "also@x.io"])
    page = vault.page_of(tokens[1])
    with stores.engine.connect() as conn:
        before = conn.execute(
            sa.text("SELECT sealed FROM vault_pages WHERE page_id = :p"), {"p": page}
        ).scalar()
    erase(stores, vault, "gone@x.io")
    with stores.engine.connect() as conn:
        after = conn.execute(
            sa.text("SELECT sealed FROM vault_pages WHERE page_id = :p"), {"p": page}
        ).scalar()
    assert after != before and before[2:14] != after[2:14]  # sealed again, under a new nonce
    # the page as it was before the erasure still holds the value: what the new page must not
    from data_mesh.metadata.store import VaultPage

    old_tokens, _ = vault.keys.open_page(VaultPage(page, bytes(before)))
    new_tokens, new_values = vault.keys.open_page(VaultPage(page, bytes(after)))
    assert tokens[1] in old_tokens.to_pylist() and tokens[1] not in new_tokens.to_pylist()
    assert sorted(new_values.to_pylist()) == ["also@x.io", "stay@x.io"]
    for value in ("stay@x.io", "also@x.io"):
        erase(stores, vault, value)
    with stores.engine.connect() as conn:  # the last value erased: the page is gone
        assert conn.execute(sa.text("SELECT count(*) FROM vault_pages")).scalar() == 0


def test_after_an_erasure_the_database_files_hold_no_copy_of_the_old_page(stores, tmp_path):
    """Someone holding the key and the SQLite files (database and write-ahead log) finds an erased
    value's page only as resealed, or not at all: its old bytes, which still opened to the value,
    are nowhere. Both cases: a page resealed without the value, and a page deleted with it."""
    from data_mesh.metadata.store import VaultPage

    vault = Vault()
    [alone] = vault.tokens(["alone@example.com"])  # a run with one new value: a page of its own
    tokens = vault.tokens([f"n{i}@example.com" for i in range(2_000)])  # a page over many db pages

    def sealed(token: str) -> bytes:
        with stores.engine.connect() as conn:
            query = sa.text("SELECT sealed FROM vault_pages WHERE page_id = :p")
            return bytes(conn.execute(query, {"p": vault.page_of(token)}).scalar())

    old = {
        value: (token, sealed(token))
        for value, token in (("alone@example.com", alone), ("n7@example.com", tokens[7]))
    }
    for value, (token, page) in old.items():
        assert value in vault.keys.open_page(VaultPage(vault.page_of(token), page))[1].to_pylist()
        erase(stores, vault, value)
    on_disk = b"".join(f.read_bytes() for f in sorted(tmp_path.glob("meta.db*")))
    for _, page in old.values():  # no 64-byte piece of either old ciphertext, in any file
        assert not any(page[i : i + 64] in on_disk for i in range(14, len(page) - 64, 64))
    assert vault.values(tokens[6:9]) == {tokens[6]: "n6@example.com", tokens[8]: "n8@example.com"}


@pytest.mark.parametrize("every_page", [False, True], ids=["pages-of-its-tokens", "every-page"])
def test_both_ways_of_reidentifying_a_column_give_the_same_rows(stores, monkeypatch, every_page):
    """A column is matched against every page when it is large next to the vault, else against the
    pages its distinct tokens name: the same values, nulls, erased and unknown tokens either way,
    across chunks, whatever the string type."""
    import data_mesh.governance.vault as vault_module

    monkeypatch.setattr(vault_module, "PAGE_ENTRIES", 3)  # several pages
    monkeypatch.setattr(vault_module, "SCAN_RATIO", 10_000 if every_page else 0)
    vault = Vault()
    values = [f"v{i}@example.com" for i in range(10)]
    tokens = vault.tokens(values)
    erase(stores, vault, "v4@example.com")
    unknown = tokens[0][:-3] + "zzz"
    rows = [tokens[9], None, tokens[4], unknown, tokens[0], tokens[9], "not-a-token"]
    expected = ["v9@example.com", None, tokens[4], unknown, "v0@example.com", "v9@example.com", "not-a-token"]
    for kind in (pa.string(), pa.large_string()):
        column = pa.chunked_array([pa.array(rows[:3], kind), pa.array(rows[3:], kind)])
        back = vault.reidentify(pa.table({"email": column, "n": range(7)}), ["email"])
        assert back.column("email").to_pylist() == expected and back.schema.field("email").type == pa.string()
        assert back.column("n").to_pylist() == list(range(7))


def test_the_keys_never_show_and_a_missing_connection_is_named(monkeypatch):
    keys = vault_keys()
    assert VAULT_KEYS["password"] not in repr(keys) and VAULT_KEYS["hmac_secret"] not in repr(keys)
    from data_mesh.governance import vault_keys as module

    module._keys.cache_clear()
    monkeypatch.setenv("DATA_MESH_VAULT_CONN_ID", "no_such_vault")
    with pytest.raises(VaultNotConfigured, match="'no_such_vault'") as error:
        vault_keys()
    assert VAULT_KEYS["password"] not in str(error.value)
    monkeypatch.setenv("AIRFLOW_CONN_NO_SUCH_VAULT", json.dumps({"conn_type": "generic", "password": "x"}))
    module._keys.cache_clear()
    with pytest.raises(VaultNotConfigured, match="hmac_secret"):
        vault_keys()
    module._keys.cache_clear()
    assert isinstance(VaultKeys("A" * 43 + "=", "s"), VaultKeys)


def _data_files(product_id: str) -> list[str]:
    from data_mesh.contract.registry import get_product
    from data_mesh.storage.products import product_storage

    storage = product_storage(get_product(product_id))
    return storage.data_files(storage.version())


def test_published_files_hold_tokens_and_only_a_granted_read_sees_the_values(stores):
    publish(ORDERS, orders(6), "2026-11-20", "r1")
    files = _data_files(ORDERS)
    on_disk = pa.concat_tables([pq.read_table(f) for f in files]).column("customer_email").to_pylist()
    assert all(v.startswith(TOKEN_PREFIX) for v in on_disk) and len(set(on_disk)) == 6
    # tokenized in memory as a dictionary column, stored as an ordinary string column
    assert all(pq.read_schema(f).field("customer_email").type == pa.string() for f in files)
    with duckdb.connect() as con:  # another engine reading the files directly
        emails = [
            r[0] for r in con.execute("SELECT customer_email FROM read_parquet($1)", [files]).fetchall()
        ]
    assert not any("@" in e for e in emails)

    granted = read_table(ORDERS, ADMIN, purpose="support", path="api", columns=["order_id", "customer_email"])
    assert sorted(granted.table.column("customer_email").to_pylist()) == sorted(
        f"buyer{i}@example.com" for i in range(6)
    )
    _, _, batches = read_batches(ORDERS, ADMIN, purpose="export", path="api", columns=["customer_email"])
    assert all("@" in v for b in batches for v in b.column(0).to_pylist())
    with pytest.raises(AccessDenied, match="customer_email"):
        read_table(ORDERS, VIEWER, purpose="look", path="api", columns=["customer_email"])


def test_storage_refuses_a_restricted_column_in_clear(stores):
    from data_mesh.contract.registry import get_product
    from data_mesh.storage.products import product_storage

    storage = product_storage(get_product(ORDERS))
    with pytest.raises(ValueError, match="customer_email.*in clear"):
        storage.stage(orders(2), "2026-11-20")
    clear = orders(2)  # the same values dictionary-encoded, as tokens are held in memory
    index = clear.column_names.index("customer_email")
    encoded = clear.column(index).dictionary_encode()
    clear = clear.set_column(index, clear.field(index).with_type(encoded.type), encoded)
    with pytest.raises(ValueError, match="customer_email.*in clear"):
        storage.stage(clear, "2026-11-20")


def test_a_task_with_no_domain_is_refused_and_recorded(stores):
    stranger = Principal.for_task("sales__evil", "t", None)
    publish(ORDERS, orders(2), "2026-11-20", "r1")
    with pytest.raises(AccessDenied, match="did not build"):
        read_table(ORDERS, stranger, purpose="steal", columns=["order_id"])
