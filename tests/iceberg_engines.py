"""Other engines on the mesh's Iceberg tables: DuckDB's own Iceberg extension, installed offline.

The extensions come from their registry wheels (`duckdb-extension-avro`, `duckdb-extension-iceberg`,
matching DuckDB 1.5.5): INSTALL from the file inside the wheel, then LOAD (iceberg needs avro first).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import duckdb


def _extension(package: str, name: str) -> Path:
    spec = importlib.util.find_spec(package)
    assert spec is not None and spec.submodule_search_locations, f"{package} is not installed"
    root = Path(next(iter(spec.submodule_search_locations)))
    return next(root.glob(f"extensions/v*/{name}.duckdb_extension"))


def duckdb_with_iceberg() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    avro = _extension("duckdb_extension_avro", "avro")
    iceberg = _extension("duckdb_extension_iceberg", "iceberg")
    con.execute(f"INSTALL '{avro}'; LOAD avro; INSTALL '{iceberg}'; LOAD iceberg")
    return con


def iceberg_scan_rows(metadata_location: str, sql: str = "SELECT * FROM t") -> list[tuple]:
    """Rows of `sql` over the table at `metadata_location`, read by DuckDB alone (no pyiceberg)."""
    con = duckdb_with_iceberg()
    try:
        con.execute(f"CREATE VIEW t AS SELECT * FROM iceberg_scan('{metadata_location}')")
        return con.execute(sql).fetchall()
    finally:
        con.close()
