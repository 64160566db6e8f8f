"""One evaluation of a batch against its product's contract and GX suite.

`evaluate(table, spec, ...)` -> `ValidationReport`. It never raises for bad data: every broken rule
is an outcome in the report, and the pipeline step decides what a failed report means (quarantine,
no publication, no Asset event). It raises only when the suite itself cannot be loaded.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from data_mesh.quality.expectations import load_suite, run_suite, uniqueness_in_suite
from data_mesh.quality.report import ValidationReport
from data_mesh.quality.rules import check_contract, rule_outcome

if TYPE_CHECKING:
    import pyarrow as pa

    from data_mesh.contract.partition import PartitionWindow
    from data_mesh.contract.spec import ProductSpec


def evaluate(
    table: pa.Table,
    spec: ProductSpec,
    suite_path: str | os.PathLike[str],
    *,
    window: PartitionWindow | None = None,
    published_keys: pa.Table | None = None,
) -> ValidationReport:
    """Contract rules + the GX suite on `table`; `success` is False only when a critical
    expectation or a contract rule fails."""
    suite = load_suite(suite_path)
    rules = check_contract(
        table, spec, uniqueness_in_suite(suite), window=window, published_keys=published_keys
    )
    outcomes = [rule_outcome(v, spec) for v in rules.violations]
    gx_outcomes = run_suite(table, suite, set(spec.restricted_columns))
    outcomes += gx_outcomes
    failed = sum(1 for o in outcomes if not o.success)
    evaluated = rules.evaluated + len(gx_outcomes)
    return ValidationReport(
        product_id=spec.id,
        success=not any(o.blocking for o in outcomes),
        evaluated=evaluated,
        successful=evaluated - failed,
        failed=failed,
        results=outcomes,
        suite_name=suite.name,
        row_count=table.num_rows,
    )
