"""The rows a correction names and what it writes into them, in the contract's types (and its errors).

A correction's `where` and `set` arrive as text (an API body, a command line). Each value is converted
with its column's logical type (`string`, `integer`, `number`, `boolean`, `date`, `timestamp`); an
empty value means null. A restricted column is matched and written as stored: through its vault
token, never in clear (a value the vault has never seen matches no row).

pyarrow is imported inside the functions.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any

from data_mesh.exceptions import DataMeshError
from data_mesh.quality.report import MASK

if TYPE_CHECKING:
    import pyarrow as pa

    from data_mesh.contract.spec import Column, ProductSpec

_BOOLEANS = {"true": True, "t": True, "1": True, "yes": True, "y": True,
             "false": False, "f": False, "0": False, "no": False, "n": False}  # fmt: skip


class CorrectionError(DataMeshError):
    """A correction that was refused; `status` is its HTTP status. Nothing was published."""

    status = 400


class InvalidCorrection(CorrectionError, ValueError):
    """An unknown column, a value not of its column's type, no reason, or nothing asked for."""

    status = 400


class NotSteward(CorrectionError, PermissionError):
    """Only the owning team or an admin corrects a product."""

    status = 403


class NoRowsMatched(CorrectionError, LookupError):
    status = 404


class NothingToChange(CorrectionError):
    """The matched rows already hold the values asked for: no version would differ."""

    status = 409


class CorrectionConflict(CorrectionError):
    """The partition was published by someone else while the correction was being validated;
    `published` lists the versions this correction committed before it stopped (other partitions)."""

    status = 409

    def __init__(self, message: str, published: list[int] | None = None) -> None:
        super().__init__(message)
        self.published = published or []


class CorrectionRejected(CorrectionError):
    """The corrected partition fails validation (contract or GX suite); `report` says why."""

    status = 422

    def __init__(self, message: str, report: Any) -> None:
        super().__init__(message)
        self.report = report


class _Unknown:
    """A restricted value the vault has never tokenized: no stored row can hold it."""


UNKNOWN_TOKEN = _Unknown()


def typed_value(column: Column, text: str | None) -> Any:
    """`text` as a value of `column`'s logical type (None for an empty value); InvalidCorrection if not."""
    if text is None or str(text).strip() == "":
        return None
    text = str(text)
    kind = column.logical_type
    try:
        if kind == "string":
            return text
        if kind == "integer":
            return _integer(text.strip())
        if kind == "number":
            number = float(text)
            if not math.isfinite(number):
                raise ValueError
            return number
        if kind == "boolean":
            return _BOOLEANS[text.strip().lower()]
        if kind == "date":
            return date.fromisoformat(text.strip())
        if kind == "timestamp":
            moment = datetime.fromisoformat(text.strip())
            return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    except (ValueError, KeyError, OverflowError):
        shown = MASK if column.is_pii else repr(text)
        raise InvalidCorrection(f"column {column.name}: {shown} is not a {kind} value") from None
    raise InvalidCorrection(f"column {column.name}: unsupported logical type {kind}")


def _integer(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        number = float(text)  # "3.0" is an integer, as the contract's conversion has it
        if not (math.isfinite(number) and number.is_integer()):
            raise ValueError(text) from None
        value = int(number)
    if not -(2**63) <= value < 2**63:
        raise ValueError(text)
    return value


def check_columns(spec: ProductSpec, values: Mapping[str, Any], what: str) -> None:
    unknown = [name for name in values if name not in spec.column_names]
    if unknown:
        raise InvalidCorrection(
            f"{spec.id} has no column(s) {unknown} (in {what}); it has {list(spec.column_names)}"
        )


def typed(spec: ProductSpec, values: Mapping[str, str | None], what: str) -> dict[str, Any]:
    """Every value of `values` in its column's type (columns checked first, all named at once)."""
    check_columns(spec, values, what)
    return {name: typed_value(spec.column(name), text) for name, text in values.items()}


def as_stored(spec: ProductSpec, values: Mapping[str, Any], *, create: bool) -> dict[str, Any]:
    """The values as the table stores them: a restricted column's value replaced by its vault token.

    `create` makes the vault tokenize a value it has not seen (a value to write); otherwise such a
    value becomes `UNKNOWN_TOKEN` (a value to match: no stored row holds it).
    """
    restricted = {n: v for n, v in values.items() if n in spec.restricted_columns and v is not None}
    if not restricted:
        return dict(values)
    from data_mesh.governance.vault import Vault

    vault = Vault()
    out = dict(values)
    for name, value in restricted.items():
        if create:
            out[name] = vault.tokens([str(value)])[0]
        else:
            token = vault.token_of(str(value))
            out[name] = UNKNOWN_TOKEN if token is None else token
    return out


def masked(spec: ProductSpec, values: Mapping[str, Any] | None) -> dict[str, Any]:
    """The values as an audit event or a result may show them: restricted ones as "***"."""
    from data_mesh.quality.report import json_safe

    return {
        n: MASK if n in spec.restricted_columns and v not in (None, "") else json_safe(v)
        for n, v in (values or {}).items()
    }


def matching(table: pa.Table, conditions: Mapping[str, Any]) -> pa.ChunkedArray | pa.Array:
    """The boolean mask of the rows where every column equals its value (None: the column is null)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    mask: Any = pa.array([True] * table.num_rows, pa.bool_())
    for name, value in conditions.items():
        column = table.column(name)
        if value is UNKNOWN_TOKEN:
            hit: Any = pa.array([False] * table.num_rows, pa.bool_())
        elif value is None:
            hit = pc.is_null(column)
        else:
            hit = pc.fill_null(pc.equal(column, pa.scalar(value, type=column.type)), False)
        mask = pc.and_(mask, hit)
    return mask


@dataclass(frozen=True)
class Applied:
    """A partition's stored rows after the correction, and what it did to them."""

    table: pa.Table
    matched: int
    changed: int  # rows whose stored values change (an update) or that are dropped (a delete)


def apply(table: pa.Table, mask: Any, updates: Mapping[str, Any] | None, delete: bool) -> Applied:
    """Drop the rows of `mask` (delete) or set `updates` (stored values) in them."""
    import pyarrow as pa
    import pyarrow.compute as pc

    matched = int(pc.sum(pc.cast(mask, pa.int64())).as_py() or 0)
    if delete:
        return Applied(table.filter(pc.invert(mask)), matched, matched)
    changed: Any = pa.array([False] * table.num_rows, pa.bool_())
    for name, value in (updates or {}).items():
        index = table.column_names.index(name)
        old = table.column(index)
        new = pa.scalar(value, type=old.type)
        same = pc.is_null(old) if value is None else pc.fill_null(pc.equal(old, new), False)
        changed = pc.or_(changed, pc.and_(mask, pc.invert(same)))
        table = table.set_column(index, table.schema.field(index), pc.if_else(mask, new, old))
    return Applied(table, matched, int(pc.sum(pc.cast(changed, pa.int64())).as_py() or 0))


def partition_keys(spec: ProductSpec, values: list[Any]) -> list[str]:
    """The partition keys of partition-column values (a timestamp's day, a date's day or month)."""
    from data_mesh.storage.partitions import partition_key

    keys = set()
    for value in values:
        if isinstance(value, datetime):
            value = value.astimezone(UTC).date()
        keys.add(partition_key(spec, value))
    return sorted(keys)
