"""A product's partitions in Iceberg terms: keys of data files, row filters, contract types on read.

The partition key is the platform's name of a partition ("2026-11-22" for a day, "2026-11" for a
month); Iceberg stores dates as days since 1970-01-01, which `partition_key` turns back into keys.
Filters are built on the partition column, so Iceberg prunes whole files (an overwrite of one
partition drops its files without rewriting others).
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

from data_mesh.contract.partition import PartitionWindow, parse_partition

if TYPE_CHECKING:
    import pyarrow as pa
    from pyiceberg.expressions import BooleanExpression

    from data_mesh.contract.spec import ProductSpec

_EPOCH = date(1970, 1, 1)


def partition_key(spec: ProductSpec, value: Any) -> str:
    """The partition key of a data file's partition value."""
    granularity = spec.partitioning.granularity
    if isinstance(value, int) and not isinstance(value, bool):
        value = _EPOCH + timedelta(days=value)
    if isinstance(value, date):
        return value.isoformat() if granularity == "day" else value.strftime("%Y-%m")
    return str(value)


def _bounds(spec: ProductSpec, start: date, end: date) -> BooleanExpression:
    import pyiceberg.expressions

    # pyiceberg's expression classes are pydantic models whose typed __init__ hides the positional form.
    expr: Any = pyiceberg.expressions
    And, GreaterThanOrEqual, In, LessThan = expr.And, expr.GreaterThanOrEqual, expr.In, expr.LessThan

    column = spec.column(spec.partitioning.column)
    if column.logical_type == "date":
        return And(GreaterThanOrEqual(column.name, start.isoformat()), LessThan(column.name, end.isoformat()))
    if column.logical_type == "timestamp":
        low, high = f"{start.isoformat()}T00:00:00+00:00", f"{end.isoformat()}T00:00:00+00:00"
        return And(GreaterThanOrEqual(column.name, low), LessThan(column.name, high))
    # Text keys ("2026-11" or "2026-11-22"): the keys of the product's granularity inside the range.
    keys: list[str] = []
    day = start
    while day < end:
        key = day.isoformat() if spec.partitioning.granularity == "day" else day.strftime("%Y-%m")
        if spec.partitioning.granularity == "day" or day.day == 1:
            keys.append(key)
        day += timedelta(days=1)
    return In(column.name, keys) if keys else _nothing()


def _nothing() -> BooleanExpression:
    from pyiceberg.expressions import AlwaysFalse

    return AlwaysFalse()


def partition_filter(spec: ProductSpec, key: str) -> BooleanExpression:
    """The rows of one partition of this product."""
    window = parse_partition(spec.partitioning.granularity, key)
    return _bounds(spec, window.start, window.end)


def window_filter(spec: ProductSpec, window: PartitionWindow | None) -> BooleanExpression:
    """The rows of this product inside another product's run window (any granularity)."""
    from pyiceberg.expressions import AlwaysTrue

    return AlwaysTrue() if window is None else _bounds(spec, window.start, window.end)


def conform_to_contract(
    data: pa.Table | pa.RecordBatch, spec: ProductSpec, columns: list[str] | None
) -> pa.Table:
    """The columns asked for, in the contract's order and types; columns a version predates are absent."""
    import pyarrow as pa

    from data_mesh.storage.arrow import arrow_schema

    schema = arrow_schema(spec)
    table = data if isinstance(data, pa.Table) else pa.Table.from_batches([data])
    wanted = [c for c in (columns or spec.column_names) if c in table.column_names]
    fields = [schema.field(c) for c in wanted]
    arrays = [table[c].cast(f.type) for c, f in zip(wanted, fields, strict=True)]
    return pa.Table.from_arrays(arrays, schema=pa.schema(fields, metadata=schema.metadata))
