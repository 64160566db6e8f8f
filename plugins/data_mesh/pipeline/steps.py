"""The four steps of every product's pipeline: fetch -> transform -> validate -> publish.

Each step is a plain function of (spec, run, its input) that returns a small JSON-safe dict (it
travels as an XCom); data moves between steps as files in the run's staging folder. The DAG builder
wraps these in TaskFlow tasks; tests can call them without a scheduler.
"""

from __future__ import annotations

import importlib
import json
import logging
import re
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from data_mesh import conf
from data_mesh.contract.partition import PartitionWindow, parse_partition
from data_mesh.contract.spec import ProductSpec
from data_mesh.governance.reader import Principal, read_table
from data_mesh.pipeline import recorder

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

    from data_mesh.sources.http import FetchResult
    from data_mesh.storage.products import ProductStore

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RunInfo:
    """Which Airflow run (or test run) a step works for."""

    dag_id: str
    run_id: str
    task_id: str = ""

    @property
    def folder_name(self) -> str:
        return re.sub(r"[^A-Za-z0-9_.-]", "_", self.run_id)


def staging_dir(spec: ProductSpec, run: RunInfo) -> Path:
    return Path(conf.staging_root()) / spec.id / run.folder_name


@dataclass
class TransformContext:
    """What a domain's transform function gets: its fetched sources and governed upstream reads."""

    spec: ProductSpec
    window: PartitionWindow
    run: RunInfo
    fetched: dict[str, FetchResult]
    inputs_read: dict[str, int] = field(default_factory=dict)

    def source(self, name: str, fields: list[str] | None = None) -> pd.DataFrame:
        """All batches of a fetched source as one DataFrame (flattened JSON, or CSV as strings).

        `fields` the transform relies on are always present: a field the source stopped sending
        (schema drift) becomes an empty column and is logged, so validation rejects the batch with a
        report instead of the transform crashing on a KeyError.
        """
        import pandas as pd

        from data_mesh.sources.http import load_records

        if name not in self.fetched:
            raise KeyError(f"{self.spec.id} declares no source {name!r}; it has {sorted(self.fetched)}")
        frames = list(load_records(self.fetched[name]))
        frame = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
        missing = [f for f in fields or [] if f not in frame.columns]
        if missing:
            log.warning("%s: schema drift: source %s no longer sends %s", self.spec.id, name, missing)
            frame = frame.assign(**{f: pd.Series(pd.NA, index=frame.index, dtype="object") for f in missing})
        return frame

    def read_input(self, product_id: str, columns: list[str] | None = None) -> pd.DataFrame:
        """An upstream product's partitions inside this run's window, read through the governed reader."""
        if product_id not in self.spec.inputs:
            raise KeyError(f"{self.spec.id} does not declare input {product_id!r} in its contract")
        principal = Principal.for_task(self.run.dag_id, self.run.task_id or "transform", self.spec.domain)
        result = read_table(
            product_id,
            principal,
            purpose=f"build {self.spec.id} partition {self.window.key}",
            window=self.window,
            columns=columns,
        )
        self.inputs_read[product_id] = result.manifest.version
        return result.table.to_pandas()


def fetch(spec: ProductSpec, window: PartitionWindow, run: RunInfo, connections: dict[str, Any]) -> dict:
    """Pull every source of the product to staging; `connections` maps conn_id -> ConnectionInfo."""
    from data_mesh.sources.http import fetch_source

    folder = staging_dir(spec, run)
    if folder.exists():
        shutil.rmtree(folder)  # a retried try starts from a clean slate
    results = {}
    for source in spec.sources:
        result = fetch_source(
            source, connections[source.conn_id], folder / "sources" / source.name, window.template_values()
        )
        log.info(
            "%s: fetched %d records in %d pages from %s", spec.id, result.records, result.pages, source.name
        )
        results[source.name] = asdict(result)
    return {"partition": window.key, "sources": results}


def transform(spec: ProductSpec, run: RunInfo, fetched: dict) -> dict:
    """Run the domain's transform; stage its output as Parquet exactly as it came out."""
    from data_mesh.sources.http import FetchResult

    window = parse_partition(spec.partitioning.granularity, fetched["partition"])
    results = {name: FetchResult(**_tuples(raw)) for name, raw in fetched["sources"].items()}
    context = TransformContext(spec=spec, window=window, run=run, fetched=results)
    module_name, _, func_name = spec.transform.partition(":")
    build = getattr(importlib.import_module(module_name), func_name)
    frame = build(context)
    path = staging_dir(spec, run) / "transformed.parquet"
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_parquet(path, index=False)
    log.info("%s: transform produced %d rows x %d columns", spec.id, len(frame), frame.shape[1])
    return {"partition": window.key, "staged": str(path), "rows": len(frame), "inputs": context.inputs_read}


def check_and_stage(table: pa.Table, spec: ProductSpec, store: ProductStore, partition: str):
    """Validate `table` while its Parquet file is staged in the product store on a second thread.

    The write (invisible until committed) overlaps the checks instead of following them; a rejected
    batch's staged file is discarded. Returns (report, staged partition or None when rejected).
    """
    from concurrent.futures import ThreadPoolExecutor

    from data_mesh.quality.expectations import validate_table

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="stage") as pool:
        staging = pool.submit(store.stage, table, partition)
        report = validate_table(table, spec, str(conf.expectations_folder() / spec.expectation_suite))
        if report.success:
            return report, staging.result()
    # Rejected: the report says why; a staging error (e.g. nulls in a required column) adds nothing.
    if staging.exception() is None:
        store.discard(staging.result())
    return report, None


def validate(spec: ProductSpec, run: RunInfo, transformed: dict) -> dict:
    """Conform to the contract and run the GX suite; on failure quarantine the batch and fail.

    A passing partition is left staged (written, not yet visible) in the product store for publish.
    """
    import pyarrow.parquet as pq

    from data_mesh.exceptions import ContractViolation, ValidationFailed
    from data_mesh.quality.conform import conform, schema_hash
    from data_mesh.quality.expectations import ValidationReport
    from data_mesh.storage.products import ProductStore

    partition = transformed["partition"]
    frame = pq.read_table(transformed["staged"]).to_pandas()
    try:
        table = conform(frame, spec)
    except ContractViolation as violation:
        report = ValidationReport.from_violation(spec.id, violation)
        _quarantine(spec, run, partition, transformed["staged"], report)
        raise
    report, staged = check_and_stage(table, spec, ProductStore(spec), partition)
    if staged is None:
        _quarantine(spec, run, partition, transformed["staged"], report)
        raise ValidationFailed(report)
    recorder.validation(spec, run, partition, report, quarantine_path=None)
    log.info("%s: %d rows passed %d checks", spec.id, table.num_rows, report.evaluated)
    return {
        **transformed,
        "staged_partition": asdict(staged),
        "schema_hash": schema_hash(table.schema),
        "schema": [{"name": f.name, "type": str(f.type), "nullable": f.nullable} for f in table.schema],
        "validation": _summary(report),
        "report": report.to_dict(),
    }


def publish(spec: ProductSpec, run: RunInfo, validated: dict) -> dict:
    """Commit the staged partition as the product's next version; returns the Asset event extra."""
    from data_mesh.storage.products import ProductStore, StagedPartition

    started = time.monotonic()
    staged = StagedPartition(**validated["staged_partition"])
    manifest = ProductStore(spec).commit(staged, validated["schema_hash"], run.run_id)
    extra = {
        "product": spec.id,
        "version": manifest.version,
        "partition": staged.partition,
        "rows": staged.rows,
        "bytes": staged.bytes,
        "schema_hash": validated["schema_hash"],
        "validation": validated["validation"],
    }
    recorder.publication(spec, run, manifest, validated, duration_s=time.monotonic() - started)
    shutil.rmtree(staging_dir(spec, run), ignore_errors=True)
    log.info("%s: published version %d (%s, %d rows)", spec.id, manifest.version, staged.file, staged.rows)
    return extra


def _summary(report: Any) -> dict:
    return {
        "success": report.success,
        "evaluated": report.evaluated,
        "successful": report.successful,
        "failed": report.failed,
    }


def _quarantine(spec: ProductSpec, run: RunInfo, partition: str, staged: str, report: Any) -> Path:
    """Keep the rejected batch and its report where the domain team can inspect them."""
    folder = Path(conf.quarantine_root()) / spec.id / partition / run.folder_name
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(staged, folder / "batch.parquet")
    (folder / "report.json").write_text(json.dumps(report.to_dict(), indent=1, default=str))
    recorder.validation(spec, run, partition, report, quarantine_path=str(folder))
    log.error("%s: batch rejected, quarantined in %s", spec.id, folder)
    return folder


def _tuples(raw: dict) -> dict:
    return {k: tuple(v) if isinstance(v, list) else v for k, v in raw.items()}
