"""What a pipeline step works for (`RunInfo`), what it hands on (typed step results), and what a
domain's transform function receives (`TransformContext`).

Step results are frozen dataclasses; they cross task boundaries as plain JSON dicts (XCom) through
`to_xcom()` / `from_xcom()`, so the metadata database never holds pickles and the types are checked
where they are built. Data itself never travels by XCom: it moves as files in the run's staging
folder (`staging_dir`).
"""

from __future__ import annotations

import dataclasses
import logging
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from data_mesh import conf
from data_mesh.contract.partition import PartitionWindow
from data_mesh.contract.spec import ProductSpec
from data_mesh.sources.staged import FetchResult
from data_mesh.storage.products import StagedPartition

if TYPE_CHECKING:
    import pandas as pd

log = logging.getLogger(__name__)

R = TypeVar("R", bound="StepResult")


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


class StepResult:
    """A step's result as it travels through XCom: a JSON dict, rebuilt into its dataclass."""

    def to_xcom(self) -> dict[str, Any]:
        return dataclasses.asdict(self)  # type: ignore[call-overload]

    @classmethod
    def from_xcom(cls: type[R], raw: dict[str, Any]) -> R:
        return cls(**raw)


@dataclass(frozen=True)
class Fetched(StepResult):
    partition: str
    sources: dict[str, FetchResult]

    @classmethod
    def from_xcom(cls, raw: dict[str, Any]) -> Fetched:
        sources = {name: FetchResult.from_dict(r) for name, r in raw["sources"].items()}
        return cls(partition=raw["partition"], sources=sources)


@dataclass(frozen=True)
class Transformed(StepResult):
    partition: str
    staged: str  # the transform's output, as Parquet in the staging folder
    rows: int
    inputs: dict[str, int] = field(default_factory=dict)  # upstream product -> version read


@dataclass(frozen=True)
class ValidationSummary(StepResult):
    success: bool
    evaluated: int
    successful: int
    failed: int


@dataclass(frozen=True)
class Validated(StepResult):
    transformed: Transformed
    staged_partition: StagedPartition  # written in the product storage, not yet visible
    schema_hash: str
    schema: list[dict[str, Any]]
    validation: ValidationSummary
    report: dict[str, Any]  # the ValidationReport as JSON (restricted values masked)

    @classmethod
    def from_xcom(cls, raw: dict[str, Any]) -> Validated:
        return cls(
            transformed=Transformed.from_xcom(raw["transformed"]),
            staged_partition=StagedPartition(**raw["staged_partition"]),
            schema_hash=raw["schema_hash"],
            schema=raw["schema"],
            validation=ValidationSummary.from_xcom(raw["validation"]),
            report=raw["report"],
        )


@dataclass(frozen=True)
class Published(StepResult):
    """What a publication produced; `to_xcom()` is also the Asset event's extra."""

    product: str
    version: int
    partition: str
    rows: int
    bytes: int
    schema_hash: str
    validation: ValidationSummary


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
        report (an all-null column fails `contract:not_null`) instead of the transform crashing.
        """
        import pandas as pd

        from data_mesh.sources.staged import load_records

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
        """An upstream product's partitions inside this run's window, read through the governed reader.

        The consumer is this product's pipeline (its contract's domain), never a caller-supplied identity.
        """
        from data_mesh.governance.reader import read_for_pipeline

        if product_id not in self.spec.inputs:
            raise KeyError(f"{self.spec.id} does not declare input {product_id!r} in its contract")
        result = read_for_pipeline(
            self.spec,
            self.run.dag_id,
            self.run.task_id or "transform",
            product_id,
            purpose=f"build {self.spec.id} partition {self.window.key}",
            window=self.window,
            columns=columns,
        )
        self.inputs_read[product_id] = result.version.version
        return result.table.to_pandas()
