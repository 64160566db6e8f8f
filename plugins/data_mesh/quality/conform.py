"""The contract's schema as Arrow, and conforming a transform's DataFrame to it.

`arrow_schema` maps a `ProductSpec` to a `pyarrow.Schema`; `conform` selects and casts a pandas
DataFrame to it (reporting every problem at once); `check_contract` checks what the types cannot
say: required columns have no nulls, unique columns and the primary key have no duplicates.

pandas and pyarrow are imported inside the functions (DAG parsing must stay cheap).
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from data_mesh.exceptions import ContractViolation

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

    from data_mesh.contract.spec import Column, ProductSpec

MAX_SAMPLES = 5

# Values accepted for a boolean column stored as text (compared lower-cased).
_BOOL_TEXT = {"true": True, "false": False, "t": True, "f": False, "1": True, "0": False,
              "yes": True, "no": False, "y": True, "n": False}


def arrow_type(logical_type: str) -> pa.DataType:
    """The Arrow type a contract's logical type is stored as."""
    import pyarrow as pa

    types = {
        "string": pa.string(),
        "date": pa.date32(),
        "timestamp": pa.timestamp("us", tz="UTC"),
        "number": pa.float64(),
        "integer": pa.int64(),
        "boolean": pa.bool_(),
    }
    try:
        return types[logical_type]
    except KeyError:
        raise ValueError(f"unknown logical type {logical_type!r}") from None


def arrow_schema(spec: ProductSpec) -> pa.Schema:
    """The product's Arrow schema: contract order, nullable unless required, metadata per field."""
    import pyarrow as pa

    fields = [
        pa.field(
            col.name,
            arrow_type(col.logical_type),
            nullable=not (col.required or col.primary_key),
            metadata={
                "logical_type": col.logical_type,
                "classification": col.classification,
                "description": col.description,
            },
        )
        for col in spec.columns
    ]
    return pa.schema(fields, metadata={"product_id": spec.id, "contract_version": spec.version})


def schema_hash(schema: pa.Schema) -> str:
    """A short, stable fingerprint of names, types and nullability (metadata is not part of it)."""
    canonical = "\n".join(
        f"{f.name}\t{f.type}\t{'null' if f.nullable else 'not null'}" for f in schema
    )
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:16]


# --- conform ---------------------------------------------------------------------------------------


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


def _samples(series: pd.Series, mask: Any) -> list[Any]:
    """Up to MAX_SAMPLES distinct original values where `mask` is true."""
    bad = series[mask]
    out: list[Any] = []
    for value in bad.head(200).tolist():  # bounded: never walks the whole column
        value = json_safe(value)
        if value not in out:
            out.append(value)
        if len(out) == MAX_SAMPLES:
            break
    return out


def _coerce(series: pd.Series, logical_type: str) -> tuple[Any, Any]:
    """Slow path (still vectorised): the column as Arrow with nulls where a value does not cast,
    and the boolean mask of those values."""
    import pandas as pd
    import pyarrow as pa

    target = arrow_type(logical_type)
    present = series.notna().to_numpy()
    if logical_type in ("number", "integer"):
        numeric = pd.to_numeric(series, errors="coerce")
        values = numeric.to_numpy(dtype="float64", na_value=float("nan"))
        ok = ~pd.isna(values)
        if logical_type == "integer":
            import numpy as np

            ok &= np.isfinite(values) & (np.floor(values) == values) & (np.abs(values) < 2.0**63)
            values = np.where(ok, values, 0).astype("int64")
        array = pa.array(values, type=target, mask=~ok)
    elif logical_type in ("date", "timestamp"):
        stamps = pd.to_datetime(series, errors="coerce", utc=True, format="ISO8601")
        ok = stamps.notna().to_numpy()
        array = pa.array(stamps, from_pandas=True).cast(pa.timestamp("us", tz="UTC"), safe=False)
        if logical_type == "date":
            import pyarrow.compute as pc

            midnight = pc.equal(pc.floor_temporal(array, unit="day"), array)
            ok = ok & pc.fill_null(midnight, False).to_numpy(zero_copy_only=False)
            array = array.cast(target)
    elif logical_type == "boolean":
        lowered = series.astype("string").str.strip().str.lower()
        booleans = lowered.map(_BOOL_TEXT)
        ok = booleans.notna().to_numpy()
        array = pa.array(booleans.astype("boolean"), type=target, from_pandas=True)
    else:  # string: anything has a text form
        array = pa.array(series.astype("string"), type=target, from_pandas=True)
        ok = present
    bad = present & ~ok
    return array, bad


def _is_exact(source: pa.Array, logical_type: str) -> bool:
    """True when the fast Arrow cast loses nothing that the slow path would flag."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if logical_type == "date" and pa.types.is_timestamp(source.type):
        # Arrow truncates a time of day silently; a date column may only receive midnights.
        return bool(pc.all(pc.equal(pc.floor_temporal(source, unit="day"), source)).as_py() is not False)
    # Casts to boolean from numbers/text accept too much (any non-zero number is true).
    return logical_type != "boolean" or pa.types.is_boolean(source.type)


def _conform_column(series: pd.Series, col: Column) -> tuple[Any, str | None]:
    """(Arrow array of the contract type, problem text or None)."""
    import pyarrow as pa

    target = arrow_type(col.logical_type)
    try:  # fast path: one Arrow conversion + cast, nothing per row
        source = pa.array(series, from_pandas=True)
        if _is_exact(source, col.logical_type):
            return source.cast(target, safe=True), None
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError, TypeError, ValueError):
        pass
    array, bad = _coerce(series, col.logical_type)
    count = int(bad.sum())
    if not count:
        return array, None
    samples = _samples(series, bad)
    if col.is_pii:
        samples = ["***"] * len(samples)
    return array, (
        f"column {col.name}: {count} of {len(series)} values cannot be cast to "
        f"{col.logical_type} ({target}), e.g. {samples}"
    )


def conform(df: pd.DataFrame, spec: ProductSpec) -> pa.Table:
    """The DataFrame as an Arrow table of the contract's schema (contract order, contract types).

    Raises `ContractViolation` listing every problem at once: missing columns, unexpected columns
    (schema drift), duplicated column names and values that cannot be cast.
    """
    import pyarrow as pa

    problems: list[str] = []
    names = [str(c) for c in df.columns]
    wanted = set(spec.column_names)
    seen: set[str] = set()
    for name in names:
        if name in seen:
            problems.append(f"duplicate column {name}")
        seen.add(name)
    problems += [f"missing column {c}" for c in spec.column_names if c not in seen]
    problems += [f"schema drift: unexpected column {c}" for c in dict.fromkeys(names) if c not in wanted]

    schema = arrow_schema(spec)
    arrays = []
    for col in spec.columns:
        if col.name not in seen or names.count(col.name) > 1:
            continue
        array, problem = _conform_column(df[col.name], col)
        if problem:
            problems.append(problem)
        arrays.append(array)
    if problems:
        raise ContractViolation(spec.id, problems)
    return pa.Table.from_arrays(arrays, schema=schema)


# --- contract checks -------------------------------------------------------------------------------


@dataclass(frozen=True)
class SchemaViolation:
    """One broken contract rule. `count` is the number of rows concerned (as GX counts them)."""

    kind: str  # "required" | "unique" | "primary_key"
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


def check_contract(
    table: pa.Table, spec: ProductSpec, checked_elsewhere: frozenset[frozenset[str]] = frozenset()
) -> list[SchemaViolation]:
    """Required columns have no nulls, unique columns and the primary key have no duplicates.

    Columns missing from the table are skipped (`conform` reports those). Uniqueness of a column
    set in `checked_elsewhere` (the GX suite already expects it) is not computed twice.
    """
    present = set(table.column_names)
    out: list[SchemaViolation] = []
    for col in spec.columns:
        if col.name not in present:
            continue
        if col.required or col.primary_key:
            nulls = table[col.name].null_count
            if nulls:
                out.append(SchemaViolation("required", (col.name,), nulls, table.num_rows, [None]))
        if col.unique and frozenset((col.name,)) not in checked_elsewhere:
            found = _duplicates(table, (col.name,), "unique", skip_nulls=True)
            if found:
                out.append(found)
    key = spec.primary_key
    if (
        key
        and all(c in present for c in key)
        and not (len(key) == 1 and spec.column(key[0]).unique)
        and frozenset(key) not in checked_elsewhere
    ):
        found = _duplicates(table, key, "primary_key", skip_nulls=False)
        if found:
            out.append(found)
    return out
