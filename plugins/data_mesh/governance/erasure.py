"""Erasure of a data subject across every version of every product (GDPR right to erasure).

    result = erase_subject("customer_email", "alice@example.com", actor=admin, reason="GDPR #123")
    result.receipt.id, result.holdings, result.deleted_rows

Restricted columns only ever hold vault tokens (`governance.vault`), so erasure is crypto-shredding:
deleting the subject's vault entry (its token), and its value from the vault page that sealed it,
leaves the token in every file of every version, where nothing can map it back any more. No data
file is rewritten and time travel keeps returning every version, row for row; the subject's rows
read with any grant show the token.

Steps, in this order:

1. only an admin (`access.is_admin`) may erase; anyone else is refused (`NotAllowed`, audited) before
   anything is looked up, so a refusal says nothing about whether the value is held;
2. the value's keyed digest names its vault entry; without one, the receipt of an earlier erasure
   (`AlreadyErased`) or nothing (`NothingToErase`) answers;
3. the holdings: for every product with restricted columns (downstream copies included), every kept
   version whose data files hold the token in a restricted column. Each distinct data file is read once
   (versions share files), restricted columns only;
4. with `delete_rows`, each product whose current version holds the token gets a new version without
   those rows (`ProductStorage.delete_rows`, recorded as a publication with operation delete); older
   versions keep them, as tokens;
5. the vault entry is deleted, its page sealed again without the value (`Vault.without`), and the
   receipt written with its audit event, in one transaction (`GovernanceStore.erase`): who, when,
   why, the column, the token, the holdings, the deleted rows.

The value itself is never logged, never stored and never part of an error message; the receipt holds
the digest (to answer "already erased") and the token, never the value. A source that still sends
the value makes the next publication tokenize it again, under a new token: erase at the source too.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, NoReturn

from data_mesh.exceptions import AlreadyErased, NotAllowed, NothingToErase
from data_mesh.governance.access import Principal, is_admin

if TYPE_CHECKING:
    from data_mesh.contract.spec import ProductSpec
    from data_mesh.metadata.store import ErasureReceipt, GovernanceStore
    from data_mesh.storage.products import ProductStorage, ProductVersion

log = logging.getLogger(__name__)

BATCH_ROWS = 65_536  # rows per batch when a data file is searched for a token


@dataclass(frozen=True)
class Holding:
    """The kept versions of one product whose data hold the token in one restricted column."""

    product: str
    column: str
    versions: tuple[int, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"product": self.product, "column": self.column, "versions": list(self.versions)}


@dataclass(frozen=True)
class DeletedRows:
    """A version written by the erasure without the subject's rows."""

    product: str
    version: int
    rows: int

    def to_dict(self) -> dict[str, Any]:
        return {"product": self.product, "version": self.version, "rows": self.rows}


@dataclass(frozen=True)
class ErasureResult:
    """What an erasure did: its receipt (as stored), the holdings and the rows deleted."""

    receipt: ErasureReceipt
    holdings: tuple[Holding, ...]
    deleted_rows: tuple[DeletedRows, ...] | None  # None: rows were not asked to be deleted
    unsearched: tuple[str, ...] = ()  # products whose contracts are invalid (their tokens are shredded too)

    def to_dict(self) -> dict[str, Any]:
        return {**self.receipt.to_dict(), "unsearched": list(self.unsearched)}


def erase_subject(
    column: str,
    value: str,
    *,
    actor: Principal,
    delete_rows: bool = False,
    reason: str | None = None,
) -> ErasureResult:
    """Erase one value of a restricted column everywhere (see the module docstring)."""
    from data_mesh.contract import registry
    from data_mesh.governance.vault import Vault

    if not is_admin(actor):
        _refuse(actor, column)
    mesh = registry.load_mesh()
    specs = [s for s in mesh.products.values() if s.restricted_columns]
    restricted = sorted({c for s in specs for c in s.restricted_columns})
    if column not in restricted:
        raise ValueError(f"{column!r} is not a restricted column of any product (restricted: {restricted})")
    if not value:
        raise ValueError("give the value to erase")
    vault = Vault()
    gov = vault.store
    digest = vault.keys.digest(value)
    entry = gov.entry(digest)
    if entry is None:
        _no_entry(gov, digest, column)
    unsearched = tuple(sorted(mesh.errors))
    if unsearched:
        log.warning("erasure: invalid contracts, their products not searched: %s", ", ".join(unsearched))
    holdings, latest = find_holdings(entry.token, specs)
    deleted = _delete(specs, holdings, latest, entry.token, actor) if delete_rows else None
    try:
        receipt = gov.erase(
            digest,
            requested_by=actor.name,
            subject_column=column,
            holdings=[h.to_dict() for h in holdings],
            deleted_rows=[d.to_dict() for d in deleted] if deleted is not None else None,
            reason=reason,
            pages=vault,
        )
    except LookupError:  # a concurrent erasure of the same value won
        _no_entry(gov, digest, column)
    products = sorted({h.product for h in holdings})
    log.info("erasure: receipt #%d by %s, %s held in %s", receipt.id, actor.name, column, products or "none")
    return ErasureResult(receipt, tuple(holdings), deleted, unsearched)


def _refuse(actor: Principal, column: str) -> NoReturn:
    from data_mesh.metadata.store import GovernanceStore

    reason = "erasure needs Airflow's admin role"
    GovernanceStore().audit(actor.name, "erasure.refused", None, column=column, reason=reason)
    raise NotAllowed(actor.name, "erase personal data", reason)


def _no_entry(gov: GovernanceStore, digest: str, column: str) -> NoReturn:
    receipts = gov.receipts(digest=digest)  # newest first
    if receipts:
        last = receipts[0]
        raise AlreadyErased(column, last.id, last.at.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC"))
    raise NothingToErase(column)


# ---- holdings ----------------------------------------------------------------------------------
def find_holdings(token: str, specs: Iterable[ProductSpec]) -> tuple[list[Holding], dict[str, int]]:
    """Every (product, restricted column) whose kept versions hold `token`, and each product's latest
    version number (products never published are left out)."""
    from data_mesh.storage.products import product_storage

    holdings: list[Holding] = []
    latest: dict[str, int] = {}
    for spec in sorted(specs, key=lambda s: s.id):
        storage = product_storage(spec)
        history = storage.history()
        if not history:
            continue
        latest[spec.id] = history[-1].version
        holdings += _product_holdings(spec, storage, history, token)
    return holdings, latest


def _product_holdings(
    spec: ProductSpec, storage: ProductStorage, history: list[ProductVersion], token: str
) -> list[Holding]:
    files = {v.version: storage.data_files(v) for v in history}
    distinct = sorted({f for listed in files.values() for f in listed})
    found = {f: _columns_holding(f, spec.restricted_columns, token) for f in distinct}
    log.info("erasure: %s: %d data files of %d versions searched", spec.id, len(distinct), len(history))
    holdings = []
    for column in spec.restricted_columns:
        versions = tuple(n for n, listed in files.items() if any(column in found[f] for f in listed))
        if versions:
            holdings.append(Holding(spec.id, column, versions))
    return holdings


def _columns_holding(url: str, columns: Iterable[str], token: str) -> set[str]:
    """The columns among `columns` in which the Parquet file at `url` holds `token`."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    from data_mesh.storage.files import filesystem

    fs, path = filesystem(url)
    with fs.open_input_file(path) as handle:
        parquet = pq.ParquetFile(handle)
        present = [c for c in columns if c in parquet.schema_arrow.names]
        found: set[str] = set()
        if not present:
            return found
        for batch in parquet.iter_batches(batch_size=BATCH_ROWS, columns=present):
            for name in present:
                values = batch.column(name)
                if not pa.types.is_string(values.type) and not pa.types.is_large_string(values.type):
                    values = values.cast(pa.string())
                if name not in found and pc.any(pc.equal(values, token)).as_py():
                    found.add(name)
            if len(found) == len(present):
                break
    return found


# ---- deleting rows -----------------------------------------------------------------------------
def _delete(
    specs: list[ProductSpec], holdings: list[Holding], latest: dict[str, int], token: str, actor: Principal
) -> tuple[DeletedRows, ...]:
    """A new version without the token's rows, for each product whose latest version holds it."""
    import pyiceberg.expressions

    from data_mesh.storage.products import product_storage

    expr: Any = pyiceberg.expressions  # pydantic models whose typed __init__ hides the positional form
    by_id = {s.id: s for s in specs}
    run_id = f"erasure__{datetime.now(UTC).isoformat(timespec='seconds')}"
    deleted = []
    for product in sorted({h.product for h in holdings}):
        columns = [h.column for h in holdings if h.product == product and latest[product] in h.versions]
        if not columns:
            continue
        row_filter = expr.EqualTo(columns[0], token)
        for column in columns[1:]:
            row_filter = expr.Or(row_filter, expr.EqualTo(column, token))
        spec = by_id[product]
        storage = product_storage(spec)
        version = storage.delete_rows(row_filter, run_id, {"erasure.requested-by": actor.name})
        if version is None:  # a publication replaced those rows meanwhile: nothing left to delete
            continue
        rows = int(version.summary.get("data-mesh.deleted-rows", 0))
        deleted.append(DeletedRows(product, version.version, rows))
        _record(spec, version, run_id)
    return tuple(deleted)


def _record(spec: ProductSpec, version: ProductVersion, run_id: str) -> None:
    """The new version in the metadata store, as a publication with operation delete (never raises:
    the version is live already)."""
    from data_mesh.metadata.store import MetadataStore, PublicationRecord

    try:
        store = MetadataStore()
        previous = store.get_publication(spec.id)
        store.record_publication(
            PublicationRecord(
                product_id=spec.id,
                version=version.version,
                partition=None,  # no partition was published: freshness is unchanged
                rows=version.rows,
                bytes=version.bytes,
                files=version.files,
                schema=previous.schema if previous else None,
                schema_hash=version.schema_hash,
                run_id=run_id,
                snapshot_id=version.snapshot_id,
                operation="delete",
            )
        )
    except Exception:
        log.exception("could not record %s v%d in the metadata store", spec.id, version.version)
