"""Conforming a transform's DataFrame to the contract's schema.

`conform` selects and casts a pandas DataFrame to the contract's Arrow schema (`storage.arrow`),
reporting every problem at once (missing, duplicated and unexpected columns, values that cannot be
cast) as one `ContractViolation`. A restricted column's bad values are masked in the message.

The fast path is one Arrow conversion and cast per column; only a column that does not cast exactly
takes the slower, still vectorised, per-type coercion that finds the offending values.
pandas and pyarrow are imported inside the functions (DAG parsing must stay cheap).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from data_mesh.exceptions import ContractViolation
from data_mesh.quality.report import MASK, MAX_SAMPLES, json_safe
from data_mesh.storage.arrow import arrow_schema, arrow_type

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

    from data_mesh.contract.spec import Column, ProductSpec

# Values accepted for a boolean column stored as text (compared lower-cased).
_BOOL_TEXT = {"true": True, "false": False, "t": True, "f": False, "1": True, "0": False,
              "yes": True, "no": False, "y": True, "n": False}


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
        samples = [MASK] * len(samples)
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
