"""The PII vault: restricted values are pseudonymized at rest, and only a grant turns them back.

At publish every `restricted` column is replaced by tokens. A token is a random identifier, assigned
the first time a value is seen and the same for the same value everywhere, so products still join on
it; it names the vault page that holds its value (`vault_tokens`). The vault is two tables of the
metadata database: `vault_entries` maps HMAC-SHA256 of the value under the vault secret to its
token, and `vault_pages` holds the values, the (token, value) pairs of up to `PAGE_ENTRIES` new
values sealed together as one AES-256-GCM message under the key of the vault's Airflow Connection
(`vault_keys`: the keys, the formats, and what never shows them).

Invariants:

* the table files, quarantine and validation reports only ever hold tokens for restricted columns:
  any engine reading the files directly (DuckDB's `iceberg_scan`) sees tokens;
* `reidentify` is called by the governed reader only, for columns the access decision granted;
* a token whose entry was erased stays a token forever: the random token carries no information
  about the value, erasure rewrites its page without it (a new nonce), and nothing maps it back
  (crypto-shredding);
* the values of a publication's new entries are put in pages in a random order (a CSPRNG-seeded
  shuffle), never in the order of their values or digests: a page id tells which values were first
  seen in the same run, nothing about where an erased value sorts among them;
* the keys never reach a log, a metadata row, an Asset extra or an OpenLineage event (`vault_keys`).

Measured (`make bench` pseudonymize: 1M orders, 198,650 distinct e-mail addresses, 2 cores):
Fernet, tried first, costs 7 microseconds per value each way, and a first publication took 4.0x
the same publish without pseudonymization; AES-GCM per value from the same library 2.1-2.4x, then
2.8x once the rest of the publish had got faster: inserting 200k entries, each with its ciphertext,
into two B-trees in unrelated orders (digest, token) took 1.4-1.5 s, and a re-identifying read
spent 0.5 s in 200k decryptions (7.3x a read without). Sealed in pages, with the token naming its
page instead of an index on it, and written while the Parquet file is staged: first publication
1.34x, re-publication 1.12x, re-identifying read 1.79x (docs/benchmarks.md, seventh session).
"""

from __future__ import annotations

import binascii
import logging
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

from data_mesh.governance.vault_keys import (
    InvalidCiphertext,
    VaultKeys,
    VaultNotConfigured,
    new_keys,
    vault_keys,
)
from data_mesh.governance.vault_tokens import (
    TOKEN_PREFIX,
    dictionary,
    fixed_width_strings,
    matched,
    new_page_ids,
    page_ids,
    page_of,
    page_tokens,
    shuffled,
)

if TYPE_CHECKING:
    import pyarrow as pa

    from data_mesh.contract.spec import ProductSpec
    from data_mesh.metadata.store import GovernanceStore, VaultPage

__all__ = [
    "TOKEN_PREFIX",
    "InvalidCiphertext",
    "Vault",
    "VaultKeys",
    "VaultNotConfigured",
    "at_rest",
    "new_keys",
    "refuse_clear_values",
    "vault_keys",
]

log = logging.getLogger(__name__)

Write = Callable[[], "pa.Array | None"]  # writes new entries; None, or every token as the vault holds it
Settle = Callable[[], bool]  # waits for pending entries: do the tokens drawn stand?

FRESH_CHUNK = 25_000  # values digested at a time
SCAN_RATIO = 4  # a column a quarter of the vault's size or more is matched against every page
PAGE_ENTRIES = 4_096  # values sealed per page: erasing one reseals 4,096 (a millisecond)


def at_rest(spec: ProductSpec, table: pa.Table) -> pa.Table:
    """The table as it may be stored: every restricted column replaced by its vault tokens."""
    if not any(c in table.column_names for c in spec.restricted_columns):
        return table
    return Vault().pseudonymize(table, spec.restricted_columns)


def at_rest_pending(spec: ProductSpec, table: pa.Table) -> tuple[pa.Table, Settle]:
    """`at_rest`, with the new values' vault entries still being written (`Vault.pseudonymize_pending`):
    the table may be written meanwhile, and kept only if `settle()` is True."""
    if not any(c in table.column_names for c in spec.restricted_columns):
        return table, lambda: True
    return Vault().pseudonymize_pending(table, spec.restricted_columns)


def refuse_clear_values(spec: ProductSpec, table: pa.Table) -> None:
    """Raise `ValueError` unless every restricted column of `table` holds vault tokens only (what
    storage checks before it writes a file: never a value in clear)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    for name in spec.restricted_columns:
        if name not in table.column_names:
            continue
        values = table.column(name)
        if pa.types.is_dictionary(values.type):  # every entry of its dictionaries, used or not
            values = pa.chunked_array([chunk.dictionary for chunk in values.chunks], values.type.value_type)
        if not pa.types.is_string(values.type):
            values = values.cast(pa.string())
        if pc.all(pc.starts_with(values, TOKEN_PREFIX)).as_py() is False:  # null: no value at all
            raise ValueError(
                f"{spec.id}: restricted column {name!r} holds values in clear; publish through the "
                "pipeline, which stores them as vault tokens"
            )


class Vault:
    """Tokenize and re-identify values, against the vault table of the metadata store."""

    def __init__(self, keys: VaultKeys | None = None, store: GovernanceStore | None = None) -> None:
        from data_mesh.metadata.store import GovernanceStore

        self.keys = keys or vault_keys()
        self.store = store or GovernanceStore()

    def tokens(self, values: Sequence[str]) -> list[str]:
        """The token of each distinct value, creating the entries of values seen for the first time."""
        import pyarrow as pa

        return self.token_array(pa.array(list(values), pa.string())).to_pylist()

    def token_array(self, values: pa.Array) -> pa.Array:
        """The token of each of `values` (distinct, no nulls), creating the entries of the new ones."""
        tokens, write = self._assigned(values)
        corrected = write() if write else None
        return tokens if corrected is None else corrected

    def _assigned(self, values: pa.Array) -> tuple[pa.Array, Write | None]:
        """The token of each of `values` (distinct, no nulls), and what writes the new ones' entries
        (None when every value is known). Until it has run, the new tokens are only drawn: it
        returns None when they all stand, else every value's token as the vault now holds it.

        Bounded memory: digests are made `FRESH_CHUNK` values at a time and kept as Arrow, and the
        vault's known pairs come back as Arrow (`GovernanceStore.token_pairs`). New values are
        shuffled, cut into pages of `PAGE_ENTRIES`, and each page's tokens drawn; the entries are
        written in primary-key order and the pages sealed in the same transaction. A value another
        publisher wrote first keeps that publisher's token, and is left out of this one's pages.
        """
        import numpy as np
        import pyarrow as pa
        import pyarrow.compute as pc

        count = len(values)
        raw = b"".join(
            self.keys.digest_block(values.slice(start, FRESH_CHUNK).to_pylist())
            for start in range(0, count, FRESH_CHUNK)
        )
        digests = fixed_width_strings(binascii.hexlify(raw), count, 64)
        known_digests, known_tokens = self.store.token_pairs(digests)
        known_at = np.zeros(0, dtype=np.int64)
        if len(known_digests):
            is_known = pc.is_in(digests, value_set=known_digests).to_numpy(zero_copy_only=False)
            known_at = np.flatnonzero(is_known).astype(np.int64)
        tokens_known = pc.take(known_tokens, pc.index_in(digests.take(known_at), value_set=known_digests))
        if len(known_at) == count:
            return tokens_known, None
        # New values, in random order (positions in `values`): cut into pages, each drawing its tokens.
        new_at = shuffled(np.setdiff1d(np.arange(count), known_at, assume_unique=True))
        new_digests, new_values = digests.take(new_at), values.take(new_at)
        page_ids = new_page_ids(-(-len(new_at) // PAGE_ENTRIES))
        tokens = pa.concat_arrays(
            [
                page_tokens(page_id, len(new_values.slice(PAGE_ENTRIES * i, PAGE_ENTRIES)))
                for i, page_id in enumerate(page_ids)
            ]
        )

        def seal(lost: frozenset[str]) -> Iterator[VaultPage]:
            from data_mesh.metadata.store import VaultPage

            for i, page_id in enumerate(page_ids):
                in_page, page_values = (a.slice(PAGE_ENTRIES * i, PAGE_ENTRIES) for a in (tokens, new_values))
                if lost:
                    kept = pc.invert(pc.is_in(in_page, value_set=pa.array(sorted(lost), pa.string())))
                    in_page, page_values = in_page.filter(kept), page_values.filter(kept)
                if len(in_page):
                    yield VaultPage(page_id, self.keys.seal_page(page_id, in_page, page_values))

        # Primary-key order, the vault's fastest insert: a digest's first 8 bytes sort as its hex does.
        order = np.argsort(np.frombuffer(raw, dtype=">u8")[::4][new_at], kind="stable")

        def write() -> pa.Array | None:
            inserted = self.store.add_entries(new_digests.take(order), tokens.take(order), seal)
            log.info("vault: %d new values tokenized (%d already known)", inserted, count - len(new_at))
            if inserted == len(new_at):
                return None
            # Another publisher wrote some of these values first: its tokens stand.
            found_digests, found_tokens = self.store.token_pairs(digests)
            return pc.take(found_tokens, pc.index_in(digests, value_set=found_digests))

        # Each value's token back in the order of `values`, by position (no hashing).
        at = np.concatenate([known_at, new_at])
        back = np.empty(count, dtype=np.int64)
        back[at] = np.arange(count)
        return pa.concat_arrays([tokens_known, tokens]).take(pa.array(back)), write

    def token_of(self, value: str) -> str | None:
        """The token of a value if the vault holds it (no entry is created)."""
        entry = self.store.entry(self.keys.digest(value))
        return entry.token if entry else None

    def values(self, tokens: Sequence[str]) -> dict[str, str]:
        """token -> clear value for the tokens the vault still holds (erased tokens are absent)."""
        import pyarrow as pa
        import pyarrow.compute as pc

        asked = pa.array(list(set(tokens)), pa.string())
        found, clear = self._decrypted(asked)
        keep = pc.is_in(found, value_set=asked)
        return dict(zip(found.filter(keep).to_pylist(), clear.filter(keep).to_pylist(), strict=True))

    def _decrypted(self, tokens: pa.Array) -> tuple[pa.Array, pa.Array]:
        """(tokens, values), aligned, of every page that `tokens` name (each opened once) that the
        vault holds and the current key opens: the values of `tokens` not erased, and others'."""
        return self._opened(page_ids(tokens))

    def _opened(self, pages: list[str] | None) -> tuple[pa.Array, pa.Array]:
        """(tokens, values), aligned, of the pages whose ids are `pages` (every page for None) that
        the vault holds and the current key opens."""
        import pyarrow as pa

        found, clear, unreadable = [pa.array([], pa.string())], [pa.array([], pa.string())], 0
        for page in self.store.sealed_pages(pages):
            try:
                in_page, page_values = self.keys.open_page(page)
            except InvalidCiphertext:  # sealed under another key (the Connection was replaced), or altered
                unreadable += 1
                continue
            found.append(in_page)
            clear.append(page_values)
        if unreadable:
            log.warning("vault: %d pages cannot be opened with the current key", unreadable)
        return pa.concat_arrays(found), pa.concat_arrays(clear)

    # What erasure needs (`metadata.store.PageKeeper`): the page of a token, and that page without it.
    def page_of(self, token: str) -> str:
        return page_of(token)

    def without(self, page: VaultPage, token: str) -> bytes | None:
        """The page sealed again (a new nonce) without `token`'s value; None when nothing is left."""
        import pyarrow.compute as pc

        try:
            tokens, values = self.keys.open_page(page)
        except InvalidCiphertext:
            raise InvalidCiphertext(
                f"vault page {page.page_id} cannot be opened with the current key (was the vault "
                "Connection replaced?): restore the key that sealed it, then erase again"
            ) from None
        kept = pc.not_equal(tokens, token)
        if not pc.any(kept).as_py():
            return None
        return self.keys.seal_page(page.page_id, tokens.filter(kept), values.filter(kept))

    def pseudonymize(self, table: pa.Table, columns: Iterable[str]) -> pa.Table:
        """`table` with each of `columns` (that it has) replaced by tokens; nulls stay null.

        A tokenized column is dictionary-encoded (the distinct tokens, and an index per row): it is
        written as an ordinary Parquet string column (`storage.iceberg` stage), and it is not a
        second copy of the column in memory (10M orders, 200k distinct addresses: 46 MB instead of
        320 MB held through the write).
        """
        return self._map(table, columns, self.token_array, encode=True)

    def pseudonymize_pending(self, table: pa.Table, columns: Iterable[str]) -> tuple[pa.Table, Settle]:
        """`pseudonymize`, returning before the new values' entries are written: they are written
        on a thread meanwhile, so that the caller can write the table at the same time (the
        Parquet file of a first publication, 0.3 s, beside the vault's 0.3 s on SQLite). `settle()`
        waits for them: True when every token stands, False when another publisher wrote some of
        the values first, and the table must be tokenized again (`pseudonymize`: its tokens)."""
        from concurrent.futures import ThreadPoolExecutor

        writes: list[Write] = []

        def assign(distinct: pa.Array) -> pa.Array:
            tokens, write = self._assigned(distinct)
            if write is not None:
                writes.append(write)
            return tokens

        tokenized = self._map(table, columns, assign, encode=True)
        if not writes:
            return tokenized, lambda: True
        pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="vault-write")
        written = pool.submit(lambda: [write() is None for write in writes])
        pool.shutdown(wait=False)  # the write goes on; `settle` waits for it
        return tokenized, lambda: all(written.result())

    def reidentify(self, table: pa.Table, columns: Iterable[str]) -> pa.Table:
        """`table` with the tokens of `columns` turned back into values; erased tokens stay tokens.

        A column at least a quarter the size of the vault is matched against every page at once
        (`vault_tokens.matched`); a smaller one opens the pages of its distinct tokens only. 1M
        orders with 200k distinct addresses: 0.5 s in 200k per-entry decryptions and lookups
        (0007), then 0.17 s opening the pages of the column's distinct tokens, 0.07 s of it hashing
        the 1M tokens, then about 0.07 s matching every row against the 49 pages' pairs on both
        cores.
        """
        columns = [name for name in columns if name in table.column_names]
        if (
            columns
            and table.num_rows
            and table.num_rows * SCAN_RATIO >= self.store.page_count() * PAGE_ENTRIES
        ):
            tokens, values = self._opened(None)
            return self._replace(table, columns, lambda column: matched(column, tokens, values))
        return self._map(table, columns, self._reidentify_distinct)

    def _reidentify_distinct(self, distinct: pa.Array) -> pa.Array:
        """The value of each distinct token, in Arrow: a token that nothing maps back (erased, or
        under another key) stays itself."""
        import pyarrow.compute as pc

        found, clear = self._decrypted(distinct)
        return pc.coalesce(pc.take(clear, pc.index_in(distinct, value_set=found)), distinct)

    @staticmethod
    def _map(table: pa.Table, columns: Iterable[str], mapping: Any, encode: bool = False) -> pa.Table:
        """Apply `mapping` (an Arrow array of distinct values -> their replacements, same order) to
        each column, once per value; with `encode`, the new column is dictionary-encoded."""
        import pyarrow as pa
        import pyarrow.compute as pc

        def replace(column: pa.ChunkedArray) -> pa.ChunkedArray:
            distinct, positions = dictionary(column)
            replacements = mapping(distinct) if len(distinct) else pa.array([], pa.string())
            if encode:
                return pa.chunked_array(
                    [pa.DictionaryArray.from_arrays(chunk, replacements) for chunk in positions],
                    pa.dictionary(pa.int32(), pa.string()),
                )
            return pa.chunked_array([pc.take(replacements, chunk) for chunk in positions], pa.string())

        return Vault._replace(table, columns, replace)

    @staticmethod
    def _replace(
        table: pa.Table, columns: Iterable[str], replace: Callable[[pa.ChunkedArray], pa.ChunkedArray]
    ) -> pa.Table:
        """`table` with each of `columns` (that it has) replaced by `replace(column)`, the column
        given as string (large_string too: every replacement is string or its dictionary)."""
        import pyarrow as pa

        for name in columns:
            if name not in table.column_names:
                continue
            index = table.column_names.index(name)
            column = table.column(index)
            if not pa.types.is_string(column.type):
                column = column.cast(pa.string())
            replaced = replace(column)
            table = table.set_column(index, table.schema.field(index).with_type(replaced.type), replaced)
        return table
