"""The contract's own rules, checked on a conformed Arrow table before the GX suite.

    contract:required     a required (or primary-key) column has no nulls
    contract:not_null     a column the contract does not mark `optional` is not entirely null: an
                          all-null column means the source stopped sending the field (schema drift);
                          a required or restricted column may never be optional
    contract:unique       a unique column has no duplicates
    contract:primary_key  the primary key is unique in the batch AND across the whole version that
                          publishing would produce (the keys of the other partitions are passed in)
    contract:partition    every row's partition column falls inside the run's partition

`check_contract` never raises for bad data: it returns the rules evaluated and their violations.
Uniqueness of a column set the GX suite already expects is not computed twice.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from data_mesh.quality.report import MASK, MAX_SAMPLES, ExpectationOutcome, json_safe

if TYPE_CHECKING:
    import pyarrow as pa

    from data_mesh.contract.partition import PartitionWindow
    from data_mesh.contract.spec import Column, ProductSpec


@dataclass(frozen=True)
class SchemaViolation:
    """One broken contract rule. `count` is the number of rows concerned (as GX counts them)."""

    kind: str  # "required" | "unique" | "primary_key" | "not_null" | "partition"
    columns: tuple[str, ...]
    count: int
    total: int
    samples: list[Any] = field(default_factory=list)  # <= 5, JSON-safe (a key is a list of values)
    distinct: int | None = None  # distinct duplicated values / keys, for unique and primary_key

    @property
    def expectation_type(self) -> str:
        return f"contract:{self.kind}"

    @property
    def column(self) -> str:
        return ",".join(self.columns)

    @property
    def percent(self) -> float:
        return 100.0 * self.count / self.total if self.total else 0.0

    def message(self) -> str:
        what = {
            "required": "null values in a required column",
            "unique": f"{self.distinct} values duplicated in a unique column",
            "primary_key": f"{self.distinct} primary keys duplicated",
            "not_null": "the column arrived empty (every value null)",
            "partition": "rows outside the run's partition",
        }[self.kind]
        return f"{self.expectation_type}({self.column}): {what}: {self.count} rows, e.g. {self.samples}"


def _duplicates(
    table: pa.Table, columns: tuple[str, ...], kind: str, skip_nulls: bool
) -> SchemaViolation | None:
    import pyarrow.compute as pc

    keys = table.select(list(columns))
    if skip_nulls:
        keys = keys.filter(pc.is_valid(keys[columns[0]]))
    if keys.num_rows == 0:
        return None
    counts = keys.group_by(list(columns), use_threads=False).aggregate([([], "count_all")])
    if counts.num_rows == keys.num_rows:  # every key once: the common, cheap case
        return None
    dup = counts.filter(pc.greater(counts["count_all"], 1))
    rows = int(pc.sum(dup["count_all"]).as_py())
    head = dup.slice(0, MAX_SAMPLES).to_pylist()
    if len(columns) == 1:
        samples = [json_safe(r[columns[0]]) for r in head]
    else:
        samples = [[json_safe(r[c]) for c in columns] for r in head]
    return SchemaViolation(kind, columns, rows, table.num_rows, samples, distinct=dup.num_rows)


@dataclass(frozen=True)
class RuleResults:
    evaluated: int
    violations: list[SchemaViolation]


def check_contract(
    table: pa.Table,
    spec: ProductSpec,
    covered: frozenset[frozenset[str]] = frozenset(),
    *,
    window: PartitionWindow | None = None,
    published_keys: pa.Table | None = None,
) -> RuleResults:
    """Every contract rule on `table`; `published_keys` are the primary keys of the version's other
    partitions (None when nothing else is published)."""
    present = set(table.column_names)
    checks: list[SchemaViolation | None] = []
    for col in spec.columns:
        if col.name in present:
            checks += _column_rules(table, col, covered)
    key = spec.primary_key
    if key and all(c in present for c in key):
        if not (frozenset(key) in covered or (len(key) == 1 and spec.column(key[0]).unique)):
            checks.append(_duplicates(table, key, "primary_key", skip_nulls=False))
        if published_keys is not None and published_keys.num_rows:
            checks.append(_published_elsewhere(table, key, published_keys))
    if window is not None and spec.partitioning.column in present:
        checks.append(_outside_partition(table, spec.partitioning.column, window))
    return RuleResults(len(checks), [v for v in checks if v is not None])


def _column_rules(
    table: pa.Table, col: Column, covered: frozenset[frozenset[str]]
) -> list[SchemaViolation | None]:
    """One entry per rule evaluated on the column: its violation, or None when it holds."""
    nulls, rows = table[col.name].null_count, table.num_rows
    out: list[SchemaViolation | None] = []
    if col.required or col.primary_key:
        out.append(SchemaViolation("required", (col.name,), nulls, rows, [None]) if nulls else None)
    elif not col.optional:
        empty = rows and nulls == rows
        out.append(SchemaViolation("not_null", (col.name,), nulls, rows, [None]) if empty else None)
    if col.unique and frozenset((col.name,)) not in covered:
        out.append(_duplicates(table, (col.name,), "unique", skip_nulls=True))
    return out


def _published_elsewhere(
    table: pa.Table, key: tuple[str, ...], published: pa.Table
) -> SchemaViolation | None:
    """Batch rows whose primary key another partition of the version already holds (a hash lookup)."""
    import pyarrow.compute as pc

    batch = table.select(list(key))
    others = published.select(list(key)).cast(batch.schema)
    if len(key) == 1:
        clash = batch.filter(pc.is_in(batch[key[0]], value_set=others[key[0]]))
    else:
        clash = batch.join(others.group_by(list(key)).aggregate([]), keys=list(key), join_type="inner")
    if not clash.num_rows:
        return None
    head = clash.slice(0, MAX_SAMPLES).to_pylist()
    samples = (
        [json_safe(r[key[0]]) for r in head]
        if len(key) == 1
        else [[json_safe(r[c]) for c in key] for r in head]
    )
    distinct = clash.group_by(list(key)).aggregate([]).num_rows
    return SchemaViolation("primary_key", key, clash.num_rows, table.num_rows, samples, distinct=distinct)


def _outside_partition(table: pa.Table, column: str, window: PartitionWindow) -> SchemaViolation | None:
    """Rows whose partition value does not belong to `window` (nulls are the required rule's)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    values = table[column]
    if pa.types.is_date(values.type) or pa.types.is_timestamp(values.type):
        # compare with the window's bounds (vectorised comparisons; formatting 1M dates is 100x slower)
        if pa.types.is_timestamp(values.type):
            low = pa.scalar(datetime.combine(window.start, datetime.min.time(), tzinfo=UTC), values.type)
            high = pa.scalar(datetime.combine(window.end, datetime.min.time(), tzinfo=UTC), values.type)
        else:
            low, high = pa.scalar(window.start, values.type), pa.scalar(window.end, values.type)
        inside = pc.and_(pc.greater_equal(values, low), pc.less(values, high))
    else:
        inside = pc.equal(values.cast(pa.string()), pa.scalar(window.key))
    bad = pc.and_(pc.is_valid(values), pc.invert(inside))
    count = int(pc.sum(bad).as_py() or 0)
    if not count:
        return None
    samples: list[Any] = []
    for value in values.filter(bad).slice(0, 200).to_pylist():
        if json_safe(value) not in samples:
            samples.append(json_safe(value))
        if len(samples) == MAX_SAMPLES:
            break
    return SchemaViolation("partition", (column,), count, table.num_rows, samples)


def rule_outcome(v: SchemaViolation, spec: ProductSpec) -> ExpectationOutcome:
    """A violation as a report outcome (samples of restricted columns masked)."""
    restricted = set(spec.restricted_columns)
    samples = v.samples
    if restricted & set(v.columns) and v.kind not in ("required", "not_null"):
        samples = [MASK] * len(samples)
    kwargs: dict[str, Any] = {"column_list": list(v.columns)} if len(v.columns) > 1 else {"column": v.column}
    if v.distinct is not None:
        kwargs["duplicated_values"] = v.distinct
    return ExpectationOutcome(
        expectation_type=v.expectation_type,
        column=v.column,
        kwargs=kwargs,
        success=False,
        severity="critical",
        unexpected_count=v.count,
        unexpected_percent=round(v.percent, 4),
        sample_values=samples,
        exception=v.message() if v.kind in ("partition", "not_null") else None,
    )
