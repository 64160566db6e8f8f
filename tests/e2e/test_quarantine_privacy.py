"""A rejected batch of a product with PII is quarantined without a clear restricted value: the batch
holds vault tokens and the report masks the values, on both ways a batch is rejected (the contract's
types, or the GX suite)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from data_mesh.governance.vault import TOKEN_PREFIX
from tests.e2e.conftest import DAY, run_dag


@pytest.mark.parametrize("fault", ["null_keys", "out_of_range"])
def test_the_quarantine_of_a_failed_run_holds_no_clear_address(
    dagbag, producers_published, demo_sources, fault
):
    demo_sources.set_fault("crm", fault, count=-1)
    try:
        run = run_dag(dagbag, "sales__customer_orders", DAY)
    finally:
        demo_sources.clear_faults()
    assert run.state == "failed"
    quarantine = Path(os.environ["DATA_MESH_QUARANTINE_ROOT"]) / "sales.customer_orders" / DAY
    newest = max(quarantine.iterdir(), key=lambda p: p.stat().st_mtime)
    batch = pq.read_table(newest / "batch.parquet")
    assert batch.num_rows > 0
    emails = [v for v in batch.column("customer_email").to_pylist() if v is not None]
    assert emails and all(v.startswith(TOKEN_PREFIX) for v in emails)
    strings = [c for c, t in zip(batch.column_names, batch.schema.types, strict=True) if str(t) == "string"]
    assert not any("@" in (v or "") for c in strings for v in batch.column(c).to_pylist())
    report = (newest / "report.json").read_text()
    assert json.loads(report)["success"] is False and "@example.com" not in report
    staging = Path(os.environ["DATA_MESH_STAGING_ROOT"]) / "sales.customer_orders"
    assert not staging.exists() or not any(staging.iterdir())  # and staging is gone
