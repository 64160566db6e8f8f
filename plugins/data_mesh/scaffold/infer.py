"""Infer a product's columns from a sample page of its source: names, ODCS types, required-ness, a key.

The sample is the first page the platform's own fetch returns (`sources.http.sample_page`): a list of
JSON objects. Nested objects are flattened to dotted fields exactly as the pipeline does
(`pandas.json_normalize(sep=".")`, what `ctx.source(fields=[...])` selects), so `total.amount` here is
`total.amount` in the transform; the product column is its snake_case name (`total_amount`).

Rules, all decided on the sample alone (a person reviews the result; nothing here is final):

* type: JSON booleans -> boolean; integers -> integer; integers mixed with decimals -> number; text that
  is always an ISO date -> date, always an ISO date-time -> timestamp, always a decimal such as
  "12.50" -> number (money sent as text), always "true"/"false" -> boolean; anything else, or a
  mix, -> string. A field that is null in every row is a string marked optional (the source may keep
  sending nothing). Arrays are not columns: they are reported in `skipped`.
* required: present and non-null in every row of the sample.
* key: a single id-like column (`id`, `*_id`, `*_key`, `*_code`, `*_uuid`) unique and never null;
  otherwise the smallest unique combination (up to 3 columns) of an id-like column with text columns,
  then with the partition column in front, since such rows repeat once per period.
* partition column: the requested one, else the first date column, else a date derived from the first
  timestamp (`created_at` -> `created_date`).

Pure Python on purpose: no pandas, so the types seen are JSON's own (pandas would turn ints with a null
into floats).
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from typing import Any, Literal

from data_mesh.contract.spec import LogicalType

Encoding = Literal["json", "text"]  # a number or boolean sent as JSON, or as text ("12.50", "true")

_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?$")
_DECIMAL = re.compile(r"^-?\d+\.\d+$")
_BOOL_TEXT = {"true", "false"}
_ID_LIKE = re.compile(r"(^|_)(id|key|code|uuid)$")
_MAX_KEY_COLUMNS = 3
VALUE_SET_MAX = 10  # a text column with at most this many distinct values gets a value-set expectation
VALUE_SET_MIN_ROWS = 50  # ... when the sample has at least this many rows to tell


@dataclass(frozen=True)
class InferredColumn:
    """One product column, from one source field (or derived from one, for the partition date)."""

    name: str  # the product column, snake_case
    field: str  # the source's dotted field the transform selects
    logical_type: LogicalType
    required: bool = False
    optional: bool = False  # null in every sampled row: the contract lets it arrive empty
    encoding: Encoding = "json"
    derived: bool = False  # the partition date computed from a timestamp field
    minimum: float | None = None  # smallest sampled value of a numeric column
    pattern: str | None = None  # a regex every sampled text value matches (ids such as cmp-0001)
    values: tuple[str, ...] = ()  # the few distinct values of a categorical text column

    @property
    def id_like(self) -> bool:
        return bool(_ID_LIKE.search(self.name))


@dataclass(frozen=True)
class Inference:
    """What the scaffolding writes from: the columns in source order, the key and the partition column."""

    columns: tuple[InferredColumn, ...]
    primary_key: tuple[str, ...]
    partition_column: str
    rows: int
    skipped: tuple[str, ...] = field(default=())  # fields that are not columns (arrays), with why

    def column(self, name: str) -> InferredColumn:
        return next(c for c in self.columns if c.name == name)


def flatten(record: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """A JSON object's leaves under dotted names, as `pandas.json_normalize(sep=".")` names them."""
    out: dict[str, Any] = {}
    for key, value in record.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            out.update(flatten(value, f"{name}."))
        else:
            out[name] = value
    return out


def column_name(source_field: str) -> str:
    """`campaign.id` -> `campaign_id`, `createdAt` -> `created_at`, `2fa` -> `f_2fa` (snake_case)."""
    text = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", source_field)
    text = re.sub(r"[^0-9a-zA-Z]+", "_", text).strip("_").lower()
    if not text:
        return "field"
    return text if text[0].isalpha() else f"f_{text}"


def infer(records: Sequence[Mapping[str, Any]], *, partition_column: str | None = None) -> Inference:
    """The columns, key and partition column of a sample; ValueError when there is nothing to infer from."""
    if not records:
        raise ValueError("the sample has no records: nothing to infer columns from")
    flat = [flatten(r) for r in records]
    fields = list(dict.fromkeys(name for row in flat for name in row))
    fields = [f for f in fields if not _only_parent(f, fields, flat)]
    columns: list[InferredColumn] = []
    skipped: list[str] = []
    taken: set[str] = set()
    for source_field in fields:
        values = [row.get(source_field) for row in flat]
        if any(isinstance(v, list | dict) for v in values):
            skipped.append(f"{source_field} (array or empty object: no column type)")
            continue
        columns.append(_column(source_field, values, _unique_name(column_name(source_field), taken)))
    columns, partition = _partition(columns, partition_column, taken)
    key = _key(columns, flat, partition)
    return Inference(tuple(columns), key, partition, len(records), tuple(skipped))


def _only_parent(name: str, fields: list[str], flat: list[dict[str, Any]]) -> bool:
    """`total` when some rows have `total: null` and others `total.amount`: only the leaves are columns."""
    return any(f.startswith(f"{name}.") for f in fields) and all(row.get(name) is None for row in flat)


def _unique_name(name: str, taken: set[str]) -> str:
    candidate, n = name, 2
    while candidate in taken:
        candidate, n = f"{name}_{n}", n + 1
    taken.add(candidate)
    return candidate


def _column(source_field: str, values: list[Any], name: str) -> InferredColumn:
    present = [v for v in values if v is not None]
    required = len(present) == len(values)
    if not present:
        return InferredColumn(name, source_field, "string", optional=True)
    logical, encoding = _type_of(present)
    minimum = None
    if logical in ("integer", "number"):
        minimum = min(float(v) for v in present)
    pattern: str | None = None
    distinct: tuple[str, ...] = ()
    if logical == "string":
        texts = [str(v) for v in present]
        pattern = _shape(texts) if _ID_LIKE.search(name) else None
        kinds = set(texts)
        if len(kinds) <= VALUE_SET_MAX and len(values) >= VALUE_SET_MIN_ROWS and len(kinds) < len(texts):
            distinct = tuple(sorted(kinds))
    return InferredColumn(
        name, source_field, logical, required, False, encoding, False, minimum, pattern, distinct
    )


def _type_of(values: Iterable[Any]) -> tuple[LogicalType, Encoding]:
    kinds = {_kind(v) for v in values}
    if kinds == {"bool"}:
        return "boolean", "json"
    if kinds == {"int"}:
        return "integer", "json"
    if kinds <= {"int", "float"}:
        return "number", "json"
    for text_kind, logical, encoding in (
        ("date", "date", "text"),
        ("datetime", "timestamp", "text"),
        ("decimal", "number", "text"),
        ("booltext", "boolean", "text"),
    ):
        if kinds == {text_kind}:
            return logical, encoding  # type: ignore[return-value]
    return "string", "json"


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    text = str(value).strip()
    if _DATE.match(text) and _parses(date.fromisoformat, text):
        return "date"
    if _DATETIME.match(text) and _parses(datetime.fromisoformat, text.replace("Z", "+00:00")):
        return "datetime"
    if _DECIMAL.match(text):
        return "decimal"
    if text.lower() in _BOOL_TEXT:
        return "booltext"
    return "text"


def _parses(parse: Any, text: str) -> bool:
    try:
        parse(text)
    except ValueError:
        return False
    return True


def _shape(texts: list[str]) -> str | None:
    """`^cmp\\-[0-9]+$` when every value is the same text around digit runs (ids); else None."""
    shapes = {
        "".join("[0-9]+" if part.isdigit() else re.escape(part) for part in re.split(r"(\d+)", text) if part)
        for text in texts
    }
    if len(shapes) != 1:
        return None
    shape = shapes.pop()
    if "[0-9]+" not in shape or not shape.replace("[0-9]+", ""):
        return None  # no digits, or digits only (a number sent as text)
    return f"^{shape}$"


def _partition(
    columns: list[InferredColumn], wanted: str | None, taken: set[str]
) -> tuple[list[InferredColumn], str]:
    """The columns with the partition column required (a derived date added when needed), and its name."""
    if wanted:
        chosen = next((c for c in columns if wanted in (c.name, c.field)), None)
        if chosen is None:
            known = ", ".join(c.field for c in columns)
            raise ValueError(f"--partition-column {wanted!r} is no field of the sample (fields: {known})")
        if chosen.logical_type not in ("date", "timestamp"):
            raise ValueError(
                f"--partition-column {wanted!r} is {chosen.logical_type} in the sample; "
                "partition by a date or timestamp field"
            )
    else:
        chosen = next((c for c in columns if c.logical_type == "date"), None) or next(
            (c for c in columns if c.logical_type == "timestamp"), None
        )
        if chosen is None:
            raise ValueError(
                "the sample has no date or timestamp field to partition by (ISO text such as 2026-11-20)"
            )
    if chosen.logical_type == "date":
        marked = [replace(c, required=True, optional=False) if c is chosen else c for c in columns]
        return marked, chosen.name
    base = re.sub(r"_(at|ts|time|timestamp|datetime)$", "", chosen.name)
    name = _unique_name(f"{base}_date" if base != chosen.name else f"{chosen.name}_date", taken)
    derived = InferredColumn(name, chosen.field, "date", required=True, encoding="text", derived=True)
    return [derived, *columns], name


def _key(columns: list[InferredColumn], flat: list[dict[str, Any]], partition: str) -> tuple[str, ...]:
    """The key candidate (see the module docstring); () when the sample shows none."""
    usable = [c for c in columns if c.required and not c.derived and c.name != partition]
    ids = [c for c in usable if c.id_like and c.logical_type in ("string", "integer")]
    texts = [c for c in usable if not c.id_like and c.logical_type == "string"]
    for single in ids:
        if _unique(flat, (single,)):
            return (single.name,)
    candidates = ids + texts
    for size in range(2, _MAX_KEY_COLUMNS + 1):
        for combo in itertools.combinations(candidates, size):
            if any(c.id_like for c in combo) and _unique(flat, combo):
                return (partition, *(c.name for c in combo))
    return ()


def _unique(flat: list[dict[str, Any]], combo: Sequence[InferredColumn]) -> bool:
    seen = {tuple(row.get(c.field) for c in combo) for row in flat}
    return len(seen) == len(flat)
