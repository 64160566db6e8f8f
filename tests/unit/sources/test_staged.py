"""Staging files: an NDJSON page is exactly `json.dumps` per record, whichever encoder path wrote it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from data_mesh.sources.staged import NdjsonWriter, ndjson_bytes

ROWS = [
    {"id": "ord-1", "total": {"amount": "126.71", "currency": "USD"}, "line_items": 1},
    {"name": "Zoë \u00e9t\u00e9 \u6771\u4eac \U0001f600", "note": 'a "quoted" },{ line\nbreak\ttab\x00\x1f'},
    {"n": None, "t": True, "f": False, "x": 1.5, "big": 10**30, "neg": -0.0, "e": 1e300, "nan": float("nan")},
    {"nested": [{"a": []}, {"b": {}}, [1, [2, [3]]]], "": "empty key", "1": "digit key"},
    {},
]


def expected(rows: list) -> bytes:
    return "".join(json.dumps(r, ensure_ascii=False, separators=(",", ":")) + "\n" for r in rows).encode()


@pytest.mark.parametrize("accelerated", [True, False])
def test_ndjson_bytes_is_json_dumps_per_record(accelerated: bool) -> None:
    data = ndjson_bytes(ROWS, accelerated=accelerated)
    assert data == expected(ROWS)
    assert data.count(b"\n") == len(ROWS)  # control characters are escaped: one line per record
    back = [json.loads(line) for line in data.decode().splitlines()]
    assert back[:2] == ROWS[:2] and back[3:] == ROWS[3:]  # (row 2 holds a nan: nan != nan)
    assert ndjson_bytes([], accelerated=accelerated) == b""


@pytest.mark.parametrize("accelerated", [True, False])
def test_ndjson_bytes_raises_what_json_dumps_raises(accelerated: bool) -> None:
    with pytest.raises(TypeError):
        ndjson_bytes([{"ok": 1}, {"bad": object()}], accelerated=accelerated)
    loop: dict = {}
    loop["self"] = loop
    with pytest.raises(ValueError, match="[Cc]ircular"):
        ndjson_bytes([loop], accelerated=accelerated)
    assert ndjson_bytes([{"ok": 1}], accelerated=accelerated) == b'{"ok":1}\n'  # no state left behind


def test_writer_writes_one_file_per_non_empty_page_and_counts_bytes(tmp_path: Path) -> None:
    writer = NdjsonWriter(tmp_path, "orders")
    writer.write(1, ROWS[:2])
    writer.write(2, [])
    writer.write(3, ROWS[3:])
    result = writer.result(3)
    assert [Path(f).name for f in result.files] == ["orders-00001.ndjson", "orders-00003.ndjson"]
    assert Path(result.files[0]).read_bytes() == expected(ROWS[:2])
    assert Path(result.files[1]).read_bytes() == expected(ROWS[3:])
    assert (result.records, result.pages) == (4, 3)
    assert result.bytes == len(expected(ROWS[:2])) + len(expected(ROWS[3:]))
