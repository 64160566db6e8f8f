"""Deleting rows from a product's current version, as a new version (erasure with `delete_rows`).

    IcebergProduct(spec).delete_rows(EqualTo("customer_email", token), run_id) -> ProductVersion | None

Invariants:

* A delete is one Iceberg commit on the current snapshot (copy-on-write: a data file holding a
  matching row is rewritten without it, a file holding nothing else is dropped). It is a version like
  every other: `data-mesh.version` N+1 in the summary with the run id, the partitions it changed, the
  schema hash of the version it changes and `data-mesh.operation=delete`, tagged `v<N+1>` in the
  same commit. A lost race re-reads the table, recounts and commits again with the next number, as a
  publication does (`IcebergProduct.commit`).
* Older versions are untouched: time travel still returns them, row for row, until retention expires
  them (retention runs after the delete as after any publication).
* Nothing matching: no commit, no version, None.
"""

from __future__ import annotations

import logging
import random
import time
from datetime import datetime
from typing import TYPE_CHECKING, Any

from data_mesh.exceptions import VersionNotFound
from data_mesh.storage.iceberg import (
    COMMIT_ATTEMPTS,
    OPERATION_KEY,
    VERSION_KEY,
    _housekeeping,
    _tag,
)

if TYPE_CHECKING:
    from pyiceberg.table import Table

    from data_mesh.storage.iceberg import IcebergProduct
    from data_mesh.storage.products import ProductVersion

log = logging.getLogger(__name__)

DELETED_ROWS_KEY = "data-mesh.deleted-rows"


def delete_rows(
    product: IcebergProduct, row_filter: Any, run_id: str, summary: dict[str, Any] | None = None
) -> ProductVersion | None:
    """The current version without the rows `row_filter` matches, committed as the next version.

    `summary` entries go into the snapshot summary as `data-mesh.<key>` (any engine reading the
    table metadata sees them: never put personal data there). The new version's summary says how
    many rows were deleted (`data-mesh.deleted-rows`).
    """
    from pyiceberg.exceptions import CommitFailedException

    for attempt in range(1, COMMIT_ATTEMPTS + 1):
        table = product._table()
        snapshots = product._snapshots(table)
        current = table.metadata.current_snapshot()
        if not snapshots or current is None:
            raise VersionNotFound(product.spec.id, "nothing has been published yet")
        rows, partitions = _matching(product, table, row_filter)
        if rows == 0:
            return None
        latest = snapshots[max(snapshots)].summary
        number = max(snapshots) + 1
        props = {
            VERSION_KEY: str(number),
            OPERATION_KEY: "delete",
            "data-mesh.run-id": run_id,
            "data-mesh.partition": ",".join(partitions),
            "data-mesh.schema-hash": (latest.additional_properties if latest else {}).get(
                "data-mesh.schema-hash", ""
            ),
            DELETED_ROWS_KEY: str(rows),
            **{f"data-mesh.{k}": str(v) for k, v in (summary or {}).items()},
        }
        try:
            with table.transaction() as tx:
                tx.delete(row_filter, snapshot_properties=props)
                after = tx.table_metadata.current_snapshot()
                if after is None or after.snapshot_id == current.snapshot_id:  # never tag the old one
                    raise RuntimeError(f"{product.spec.id}: the delete of {rows} rows wrote no snapshot")
                _tag(tx, f"v{number}")
        except CommitFailedException as lost:
            wait = min(4.0, 0.05 * 2**attempt) * random.uniform(0.5, 1.5)
            log.warning(
                "%s: delete as v%d lost a race (%s); retrying in %.2fs", product.spec.id, number, lost, wait
            )
            time.sleep(wait)
            continue
        log.info("%s: v%d deletes %d rows (partitions %s)", product.spec.id, number, rows, partitions)
        with _housekeeping(product.spec.id):
            from data_mesh.storage.retention import apply_retention

            apply_retention(product)
        return product.version(number)
    raise RuntimeError(
        f"{product.spec.id}: could not delete after {COMMIT_ATTEMPTS} attempts (concurrent writers)"
    )


def _matching(product: IcebergProduct, table: Table, row_filter: Any) -> tuple[int, list[str]]:
    """How many rows of the current snapshot `row_filter` matches, and their partition keys."""
    from data_mesh.storage.partitions import partition_key

    column = product.spec.partitioning.column
    matched = table.scan(row_filter=row_filter, selected_fields=(column,)).to_arrow()
    keys = set()
    for value in matched.column(column).unique().to_pylist():
        keys.add(partition_key(product.spec, value.date() if isinstance(value, datetime) else value))
    return matched.num_rows, sorted(keys)
