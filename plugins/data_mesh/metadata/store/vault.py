"""The PII vault's table in the metadata store: digest -> (token, ciphertext), written and read in bulk.

Storage only: how values are digested, encrypted and tokenized is `data_mesh.governance.vault`.
`GovernanceStore` (`store.governance`) has these methods; this module holds them apart because a
publication reads and writes 200,000 entries at a time, which the rest of the governance tables
never do.

Invariants:

* an entry holds a keyed digest, a random token and the value encrypted; never a clear value.
  Deleting one (erasure, in `store.governance`) is final: nothing maps its token back;
* a digest is inserted once: concurrent publishers of the same new value race on the primary key,
  the loser's row is dropped (`ON CONFLICT DO NOTHING`) and both read back the winner's token;
* a lookup's memory follows the keys asked for, never the size of the vault;
* every field is hex or URL-safe base64 behind an ASCII prefix (checked on every write): the bulk
  paths rely on it (COPY's unescaped text on PostgreSQL; on SQLite a page is read back as one
  comma-joined string per column, which a comma inside a field would shift).

Why a scan on SQLite is joined inside SQLite: the publish tokenizes on a thread while GX checks the
batch on another, and every return from the database to Python waits for the GIL. Row-at-a-time
fetches (200k GIL round trips) paid that wait over and over: a scan of 200k entries 0.77 s against
0.26 s as comma-joined pages split in Arrow, measured side by side with a second thread busy in
Python; alone, 0.27-0.39 s -> 0.05-0.12 s. PostgreSQL's driver builds rows in C and keeps them
(`string_agg` pages were slower there: 0.27-0.37 s against 0.14 s).
"""

from __future__ import annotations

import io
import itertools
import re
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, NamedTuple

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from . import models as m
from .engine import write_connection
from .records import utcnow

if TYPE_CHECKING:
    import pyarrow as pa

SCAN_RATIO = 4  # read the whole vault when asked for a quarter of it or more
CHUNK = 5_000  # values per IN (...) list: well under SQLite's and PostgreSQL's parameter limits
SCAN_ROWS = 50_000  # vault rows per page of a scan
SQLITE_ROWS = 2_000  # vault rows per multi-row INSERT on SQLite (4 parameters each, limit 32,766)
_SAFE_TEXT = re.compile(r"[0-9A-Za-z_\-=:\t\n]*")  # hex, URL-safe base64 (padded), "pii_", "v1:"


class VaultEntry(NamedTuple):
    """One vault row (a NamedTuple: 200k of them are built per first publication of a large product)."""

    digest: str
    token: str
    ciphertext: str


class VaultTable:
    """The vault's bulk reads and writes (mixed into `GovernanceStore`, which sets `engine`)."""

    engine: Engine

    # Raw SQL in chunks: 200,000 distinct values per publication are usual, and SQLAlchemy's
    # statement building per chunk cost more than the database work itself.
    def _placeholders(self, count: int) -> str:
        return ",".join(["?" if self.engine.dialect.paramstyle == "qmark" else "%s"] * count)

    def _pages(self, key: str, value: str, keys: pa.Array) -> Iterator[tuple[pa.Array, pa.Array]]:
        """Aligned Arrow (key, value) pages holding every vault row whose `key` is one of `keys`
        (no others): a scan of the whole table, page by page, when the keys are a large part of it,
        else a lookup by index for each chunk of keys, given in index order (half the B-tree work).
        Measured on SQLite, 200k of 200k entries: 0.66 s by index, 0.05-0.12 s by scan. The pages
        of a scan are separate statements: an entry written or erased meanwhile is in or out of the
        answer, as it would be a moment earlier or later."""
        import pyarrow.compute as pc

        with self.engine.connect() as conn:
            # The driver's cursor: plain tuples (SQLAlchemy's Row objects doubled the cost of a scan).
            cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
            if len(keys) * SCAN_RATIO >= self.vault_size():
                scan = _sqlite_scan if self.engine.dialect.name == "sqlite" else _fetched_scan
                for page_keys, page_values in scan(cursor, key, value):
                    keep = pc.is_in(page_keys, value_set=keys)
                    yield page_keys.filter(keep), page_values.filter(keep)
                return
            ordered = keys.take(pc.sort_indices(keys))  # sorted only for a lookup by index
            query = f"SELECT {key}, {value} FROM vault_entries WHERE {key} IN ({{}})"  # noqa: S608
            for start in range(0, len(ordered), CHUNK):
                chunk = ordered.slice(start, CHUNK).to_pylist()
                cursor.execute(query.format(self._placeholders(len(chunk))), tuple(chunk))
                yield _arrow_columns(cursor.fetchall())

    def _arrow_pairs(self, key: str, value: str, keys: pa.Array) -> tuple[pa.Array, pa.Array]:
        import pyarrow as pa

        found_keys, found_values = [pa.array([], pa.string())], [pa.array([], pa.string())]
        if len(keys):
            for page_keys, page_values in self._pages(key, value, keys):
                found_keys.append(page_keys)
                found_values.append(page_values)
        return pa.concat_arrays(found_keys), pa.concat_arrays(found_values)

    def _pairs(self, key: str, value: str, keys: Sequence[str]) -> dict[str, str]:
        import pyarrow as pa

        found_keys, found_values = self._arrow_pairs(key, value, pa.array(list(set(keys)), pa.string()))
        return dict(zip(found_keys.to_pylist(), found_values.to_pylist(), strict=True))

    def tokens_for(self, digests: Sequence[str]) -> dict[str, str]:
        """digest -> token for the digests the vault holds."""
        return self._pairs("digest", "token", digests)

    def token_pairs(self, digests: pa.Array) -> tuple[pa.Array, pa.Array]:
        """(digests, tokens) of the `digests` (an Arrow string array, distinct) that the vault holds,
        as two aligned Arrow string arrays, in no particular order. Arrow, not a dict: 200k pairs as
        Python strings and a dict were 0.4x the Arrow size of the 1M-row batch that needed them."""
        return self._arrow_pairs("digest", "token", digests)

    def ciphertext_pairs(self, tokens: pa.Array) -> tuple[pa.Array, pa.Array]:
        """(tokens, ciphertexts) of the `tokens` (an Arrow string array, distinct) that the vault
        still holds (erased ones are absent), aligned, in no particular order."""
        return self._arrow_pairs("token", "ciphertext", tokens)

    def add_entries(self, entries: Iterable[VaultEntry]) -> int:
        """Insert new entries in one transaction (a digest already there keeps its token). Returns
        how many rows were inserted (fewer than given: another writer got some digests first, and
        `token_pairs` tells their tokens).

        `entries` may be a generator: it is consumed a page at a time, so a caller can encrypt the
        next page while nothing but the tokens of the earlier ones stays alive (`governance.vault`).
        In primary-key order they are written fastest (the token index takes them in random order:
        a token must not tell where its digest sorts). Measured on SQLite, 200k new entries: 1.15 s
        with the default page cache (2 MB), 1.02 s with 64 MB, which this no longer asks for. On
        PostgreSQL the pages are COPYed into a temporary table and moved over in one INSERT ... SELECT
        (`_copy_entries`): 200k new entries 4.3 s, against 9.1 s with `execute_values` (a quarter of
        it in `mogrify`), measured side by side.
        """
        write = _copy_entries if self.engine.dialect.name == "postgresql" else _insert_entries
        with write_connection(self.engine) as conn:
            cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
            return write(cursor, entries, utcnow())

    def ciphertexts(self, tokens: Sequence[str]) -> dict[str, str]:
        """token -> ciphertext for the tokens the vault still holds (erased ones are absent)."""
        return self._pairs("token", "ciphertext", tokens)

    def entry(self, digest: str) -> VaultEntry | None:
        ve = m.vault_entries
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(ve).where(ve.c.digest == digest)).mappings().first()
        return VaultEntry(row["digest"], row["token"], row["ciphertext"]) if row else None

    def vault_size(self) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(sa.select(sa.func.count()).select_from(m.vault_entries)).scalar_one())


def _checked_text(page: list[VaultEntry]) -> str:
    """The page as COPY's text format (a tab between fields, a row per line), refused unless every
    field is hex or URL-safe base64 behind an ASCII prefix: a backslash, or a tab, newline or comma
    inside a field (which would shift a field or add a row) is refused, not escaped."""
    text = "".join(f"{e.digest}\t{e.token}\t{e.ciphertext}\n" for e in page)
    fields_intact = text.count("\t") == 2 * len(page) and text.count("\n") == len(page)
    if not (fields_intact and _SAFE_TEXT.fullmatch(text)):
        raise ValueError("a vault entry holds characters outside hex and URL-safe base64")
    return text


def _insert_entries(cursor: Any, entries: Iterable[VaultEntry], now: datetime) -> int:
    """SQLite: multi-row VALUES, `SQLITE_ROWS` entries per statement (200k rows 1.6 s -> 0.9 s against
    executemany's row at a time); a digest already there counts 0. One JSON text per 25,000 entries
    unpacked by SQLite (`json_each`) bound less in Python but cost more in SQLite: 200k new entries
    1.38-1.45 s -> 1.76-1.84 s within a publication, measured side by side."""
    stamp = now.replace(tzinfo=None).isoformat(" ")  # the text sqlite3 makes of it, made once
    row = "(?, ?, ?, ?)"
    inserted, pending = 0, iter(entries)
    while page := list(itertools.islice(pending, SQLITE_ROWS)):
        _checked_text(page)
        cursor.execute(
            "INSERT INTO vault_entries (digest, token, ciphertext, created_at) "
            f"VALUES {','.join([row] * len(page))} ON CONFLICT (digest) DO NOTHING",
            [v for e in page for v in (e.digest, e.token, e.ciphertext, stamp)],
        )
        inserted += cursor.rowcount
    return inserted


def _sqlite_scan(cursor: Any, key: str, value: str) -> Iterator[tuple[pa.Array, pa.Array]]:
    """Every (key, value) row of the vault, `SCAN_ROWS` at a time in rowid order, each page's
    columns joined by SQLite into one string apiece and split in Arrow (no Python object per row).
    Both aggregates read the same rows in the same order, so the two splits stay aligned; a field
    with a comma cannot be written (`_checked_text`), and a page whose splits disagree with its
    row count is an error, never a misaligned answer."""
    import pyarrow as pa
    import pyarrow.compute as pc

    query = (
        f"SELECT group_concat({key}, ','), group_concat({value}, ','), max(rowid), count(*) "  # noqa: S608
        f"FROM (SELECT rowid, {key}, {value} FROM vault_entries WHERE rowid > ? ORDER BY rowid LIMIT ?)"
    )
    after = 0
    while True:
        keys, values, after, count = cursor.execute(query, (after, SCAN_ROWS)).fetchone()
        if not count:
            return
        page_keys = pc.split_pattern(pa.array([keys], pa.string()), ",").flatten()
        page_values = pc.split_pattern(pa.array([values], pa.string()), ",").flatten()
        if not len(page_keys) == len(page_values) == count:
            raise ValueError(f"vault scan: a page of {count} rows split into {len(page_keys)} keys")
        yield page_keys, page_values


def _fetched_scan(cursor: Any, key: str, value: str) -> Iterator[tuple[pa.Array, pa.Array]]:
    """Every (key, value) row of the vault, `SCAN_ROWS` rows per fetch (PostgreSQL)."""
    cursor.execute(f"SELECT {key}, {value} FROM vault_entries")  # noqa: S608
    while rows := cursor.fetchmany(SCAN_ROWS):
        yield _arrow_columns(rows)


def _arrow_columns(rows: Sequence[Any]) -> tuple[pa.Array, pa.Array]:
    """Fetched (key, value) rows as two aligned Arrow string arrays."""
    import pyarrow as pa

    return pa.array([r[0] for r in rows], pa.string()), pa.array([r[1] for r in rows], pa.string())


def _copy_entries(cursor: Any, entries: Iterable[VaultEntry], now: datetime) -> int:
    """PostgreSQL: COPY `entries` a page at a time into a temporary table dropped at commit, then
    one INSERT ... SELECT that skips digests already there and counts what it inserted.

    COPY's text format needs no quoting here: digests are hex, tokens and ciphertexts URL-safe
    base64 behind an ASCII prefix; anything else is refused rather than escaped (`_checked_text`).
    """
    cursor.execute(
        "CREATE TEMPORARY TABLE vault_incoming (digest text, token text, ciphertext text) ON COMMIT DROP"
    )
    pending = iter(entries)
    while page := list(itertools.islice(pending, CHUNK)):
        text = _checked_text(page)
        cursor.copy_expert("COPY vault_incoming (digest, token, ciphertext) FROM STDIN", io.StringIO(text))
    cursor.execute(
        "INSERT INTO vault_entries (digest, token, ciphertext, created_at) "
        "SELECT digest, token, ciphertext, %s FROM vault_incoming ORDER BY digest "
        "ON CONFLICT (digest) DO NOTHING",
        (now,),
    )
    return int(cursor.rowcount)
