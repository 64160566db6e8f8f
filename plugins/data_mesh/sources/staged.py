"""Fetched batches on disk: what a source produced, written and read back one batch at a time.

Invariants:

* Memory never grows with the source: each JSON page is one NDJSON file written as it arrives, and a
  CSV body is streamed to one file; `load_records` yields one DataFrame per file (or CSV chunk).
* A retried fetch never mixes two pulls: `remove_stale_files` clears the source's files first.
* `FetchResult` holds plain values only: it travels between tasks through XCom.

pandas is imported inside `load_records` only.
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas


class MalformedBody(ValueError):
    """A fetched body that cannot be read as what the source declares (cut short, ragged, empty)."""


@dataclass(frozen=True)
class FetchResult:
    """What one source produced on disk."""

    source: str
    files: tuple[str, ...]
    records: int
    pages: int
    bytes: int
    format: str

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> FetchResult:
        return cls(
            source=str(raw["source"]),
            files=tuple(raw["files"]),
            records=int(raw["records"]),
            pages=int(raw["pages"]),
            bytes=int(raw["bytes"]),
            format=str(raw["format"]),
        )


class NdjsonWriter:
    """Writes each page's records as one NDJSON file and keeps the tallies for the `FetchResult`."""

    def __init__(self, out_dir: Path, name: str) -> None:
        self.out_dir, self.name = out_dir, name
        self.files: list[str] = []
        self.records = 0
        self.bytes = 0

    def write(self, page: int, rows: list[dict[str, Any]]) -> None:
        if not rows:
            return
        path = self.out_dir / f"{self.name}-{page:05d}.ndjson"
        with open(path, "wb") as handle:
            for row in rows:
                line = (json.dumps(row, ensure_ascii=False, separators=(",", ":")) + "\n").encode()
                handle.write(line)
                self.bytes += len(line)
        self.files.append(str(path))
        self.records += len(rows)

    def result(self, pages: int) -> FetchResult:
        return FetchResult(self.name, tuple(self.files), self.records, pages, self.bytes, "json")


def remove_stale_files(out_dir: Path, name: str) -> None:
    """Remove the files an earlier try wrote for source `name`."""
    pattern = re.compile(rf"{re.escape(name)}(-\d{{5,}}\.ndjson|\.csv)")
    for path in out_dir.iterdir():
        if path.is_file() and pattern.fullmatch(path.name):
            path.unlink()


def count_csv_records(path: Path) -> int:
    """Count data rows in one streaming pass; a body cut short or ragged is `MalformedBody`."""
    try:
        with open(path, encoding="utf-8-sig", newline="") as handle:
            reader = csv.reader(handle, strict=True)
            header = next(reader, None)
            if not header:
                raise MalformedBody("malformed CSV: the body is empty (no header)")
            records = 0
            for row in reader:
                if not row:
                    continue
                records += 1
                if len(row) != len(header):
                    raise MalformedBody(
                        f"malformed CSV: record {records} (line {reader.line_num}) has {len(row)} fields, "
                        f"the header has {len(header)}"
                    )
    except (csv.Error, UnicodeDecodeError) as exc:
        raise MalformedBody(f"malformed CSV: {exc}") from None
    return records


def load_records(result: FetchResult, *, csv_chunksize: int = 100_000) -> Iterator[pandas.DataFrame]:
    """Yield the fetched records one batch (DataFrame) at a time, so callers can stay within memory.

    JSON records are flattened with dotted names (`campaign.id`, `metrics.clicks`). CSV columns are all
    strings, with empty cells as missing values: the domain's transform decides the types, not a guess.
    """
    import pandas as pd

    if result.format == "csv":
        for path in result.files:
            reader = pd.read_csv(
                path, dtype=str, keep_default_na=False, chunksize=csv_chunksize, encoding="utf-8-sig"
            )
            with reader:
                for chunk in reader:
                    yield chunk.mask(chunk == "")
        return
    for path in result.files:
        with open(path, encoding="utf-8") as handle:
            records = [json.loads(line) for line in handle if line.strip()]
        yield pd.json_normalize(records, sep=".")
