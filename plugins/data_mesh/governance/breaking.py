"""The breaking-change gate, run at DAG parse and again at publish.

The reference is the contract of the last publication (the metadata store keeps its text), so the
gate compares what consumers have been reading with what would be published next (`contract.compat`
classifies the changes). A breaking change raises `BreakingChange` (a `ContractError`: at parse, a
DAG import error) naming each change and whom it breaks: the consumer DAGs (contracts that read the
product) and every principal who read an affected column in the last 30 days (the access log);
a change to the key or the partitioning affects every column.

At parse, a metadata store that cannot be read skips the gate (logged): the dag-processor keeps
parsing, and the publish step, which needs the store anyway, checks again.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

from data_mesh.contract import compat
from data_mesh.contract.spec import ProductSpec
from data_mesh.exceptions import BreakingChange, ContractError

if TYPE_CHECKING:
    from data_mesh.metadata.store import MetadataStore, ProductRecord

log = logging.getLogger(__name__)


def last_published(
    spec: ProductSpec, store: MetadataStore, record: ProductRecord | None = None
) -> ProductSpec | None:
    """The contract the product was last published with, or None if it never was, or if it is the
    very text of `spec`'s contract file (nothing can have changed: no parse needed)."""
    from data_mesh.contract.odcs import parse_contract

    record = record or store.get_product(spec.id)
    if record is None or not record.contract or _same_text(spec, record.contract):
        return None
    try:
        return parse_contract(record.contract, Path(f"{spec.contract_path} (published {record.version})"))
    except ContractError as error:  # e.g. written by an older platform: no reference, say so
        log.warning(
            "%s: the published contract cannot be read, no breaking-change reference: %s", spec.id, error
        )
        return None


def _same_text(spec: ProductSpec, published: str) -> bool:
    try:
        return Path(spec.contract_path).read_text(encoding="utf-8") == published
    except OSError:
        return False


def check(spec: ProductSpec, store: MetadataStore | None = None, record: ProductRecord | None = None) -> None:
    """Raise `BreakingChange` if `spec` breaks its last published contract (`record`: the store's
    record of the product, when the caller has read it already)."""
    from data_mesh.contract import registry
    from data_mesh.governance.lifecycle import consumers

    if store is None:
        from data_mesh.metadata.store import MetadataStore

        store = MetadataStore()
    published = last_published(spec, store, record)
    if published is None:
        return
    breaking = compat.gate(published, spec)
    if not breaking:
        return
    table_wide = any(c.column is None or c.kind == "partitioning" for c in breaking)
    affected = None if table_wide else sorted({c.column for c in breaking if c.column})
    mesh = registry.load_mesh().products
    who = [
        f"DAG {c.name}" if c.kind == "dag" else f"{c.name} ({c.reads} reads)"
        for c in consumers(spec, mesh, store, columns=affected)
    ]
    raise BreakingChange(spec.contract_path, [str(c) for c in breaking], who, published.version)


def check_at_parse(spec: ProductSpec) -> None:
    """The gate at DAG parse: a store that cannot be read skips it (publish checks again)."""
    try:
        from data_mesh.metadata.store import MetadataStore

        store = MetadataStore()
        record = store.get_product(spec.id)
    except Exception as error:  # noqa: BLE001 - the dag-processor must keep parsing
        log.warning(
            "%s: breaking-change gate skipped at parse, the metadata store is unreadable: %s", spec.id, error
        )
        return
    if record is not None:
        check(spec, store, record)
