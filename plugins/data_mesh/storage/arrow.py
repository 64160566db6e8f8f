"""The contract's schema in Arrow: one place maps logical types to storage types.

    string -> string        date -> date32        timestamp -> timestamp[us, UTC]
    number -> float64       integer -> int64      boolean -> bool

`schema_hash` fingerprints names, types and nullability (not metadata), so a publication's schema
can be compared with the contract's. pyarrow is imported inside the functions (DAG parse stays light).
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pyarrow as pa

    from data_mesh.contract.spec import ProductSpec


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
    canonical = "\n".join(f"{f.name}\t{f.type}\t{'null' if f.nullable else 'not null'}" for f in schema)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:16]
