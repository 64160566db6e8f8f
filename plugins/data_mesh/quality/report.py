"""What validation says about a batch: a small, JSON-safe `ValidationReport` of `ExpectationOutcome`s.

Invariants: a report never holds a restricted (PII) value in clear (samples and observed values of
restricted columns are masked before an outcome is built), holds at most `MAX_SAMPLES` samples per
outcome, and round-trips through JSON (it travels as an XCom and is stored in the metadata store).
Only a failed "critical" outcome fails a report; "warning" and "info" are reported, not blocking.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

MASK = "***"
MAX_SAMPLES = 5
SEVERITIES = ("critical", "warning", "info")


@dataclass(frozen=True)
class ExpectationOutcome:
    expectation_type: str  # a GX type, or contract:required / contract:unique / contract:primary_key
    column: str | None  # one column, "a,b" for several, None for table-level expectations
    kwargs: dict[str, Any]
    success: bool
    severity: str = "critical"
    unexpected_count: int | None = None
    unexpected_percent: float | None = None
    sample_values: list[Any] = field(default_factory=list)
    exception: str | None = None
    observed_value: Any = None  # table-level expectations (e.g. the row count), JSON-safe

    @property
    def blocking(self) -> bool:
        """Whether this outcome fails the report."""
        return not self.success and self.severity == "critical"

    def describe(self) -> str:
        args = (
            f"column={self.column}" if self.column else ", ".join(f"{k}={v}" for k, v in self.kwargs.items())
        )
        head = f"{'FAILED' if self.blocking else self.severity.upper()} {self.expectation_type}({args})"
        if self.exception:
            return f"{head}: error: {self.exception}"
        if self.unexpected_count is None:
            return f"{head}: observed {self.observed_value}" if self.observed_value is not None else head
        pct = f" ({self.unexpected_percent:.3g}%)" if self.unexpected_percent is not None else ""
        rows = "row" if self.unexpected_count == 1 else "rows"
        return f"{head}: {self.unexpected_count} {rows}{pct}, e.g. {self.sample_values}"


@dataclass(frozen=True)
class ValidationReport:
    product_id: str
    success: bool
    evaluated: int
    successful: int
    failed: int
    results: list[ExpectationOutcome] = field(default_factory=list)
    suite_name: str | None = None
    row_count: int | None = None

    @property
    def failures(self) -> list[ExpectationOutcome]:
        return [r for r in self.results if not r.success]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ValidationReport:
        values = dict(data)
        values["results"] = [ExpectationOutcome(**r) for r in values.get("results", [])]
        return cls(**values)

    @classmethod
    def from_violation(cls, product_id: str, violation: Any) -> ValidationReport:
        """A failed report for data that could not even be conformed to the contract's schema."""
        results = [
            ExpectationOutcome(
                expectation_type="contract:schema", column=None, kwargs={}, success=False, exception=p
            )
            for p in violation.problems
        ]
        return cls(product_id, False, len(results), 0, len(results), results)

    def summary_text(self) -> str:
        verdict = "PASSED" if self.success else "FAILED"
        lines = [
            f"Validation of {self.product_id} {verdict}: {self.successful}/{self.evaluated} expectations "
            f"met, {self.failed} not met"
            + (
                f" ({self.row_count} rows" + (f", suite {self.suite_name})" if self.suite_name else ")")
                if self.row_count is not None
                else ""
            )
        ]
        order = {s: i for i, s in enumerate(SEVERITIES)}
        for outcome in sorted(self.failures, key=lambda o: order.get(o.severity, 9)):
            lines.append("  " + outcome.describe())
        return "\n".join(lines)


def json_safe(value: Any) -> Any:
    """A value as JSON can carry it: NaN/NaT -> None, dates and times -> ISO text, numpy -> Python."""
    if value is None:
        return None
    if isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return None if math.isnan(value) or math.isinf(value) else value
    if hasattr(value, "isoformat"):  # date, datetime, pandas.Timestamp (NaT is handled below)
        try:
            return value.isoformat()
        except ValueError:
            return None
    if hasattr(value, "item"):  # numpy scalar
        return json_safe(value.item())
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    if value != value:  # pandas.NA, NaT and friends
        return None
    text = str(value)
    return None if text in {"<NA>", "NaT", "nan"} else text
