"""The three files of a scaffolded product, as text: ODCS contract, GX suite, transform module.

They are shaped like the shipped products' (`domains/marketing/ads_performance.*`): the contract with
its two servers (the Iceberg table, the local Parquet files), slaProperties (frequency, latency,
retention), roles, the partitioned column and the source under `customProperties`; the suite in the
GX 1.x JSON the platform loads strictly; the transform selecting the dotted source fields and typing
them. Text, not `yaml.dump`, so the contract reads like a hand-written one (one flow mapping per
column) and the TODOs stand out.

What the sample cannot tell is `TODO` (spec.TODO_MARKER): the purpose and usage, each column's
description and classification. No sampled value is ever written into a file (a sample may hold
personal data); only shapes (`^cmp\\-[0-9]+$`), value sets of categorical columns and ranges are.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass

from data_mesh.contract.policies.builtin import looks_personal
from data_mesh.contract.spec import TODO_MARKER, Granularity, HttpSource
from data_mesh.scaffold.domain import DomainInfo
from data_mesh.scaffold.infer import Inference, InferredColumn

_PHYSICAL = {
    "string": "varchar",
    "integer": "bigint",
    "number": "double",
    "boolean": "boolean",
    "date": "date",
    "timestamp": "timestamp_tz",
}
_SLA = {"day": ("@daily", 36), "month": ("@monthly", 48)}  # frequency, latency hours
MAX_ROWS = 10_000_000


@dataclass(frozen=True)
class ProductDraft:
    """Everything the three files are written from."""

    domain: DomainInfo
    name: str
    source: HttpSource
    inference: Inference
    granularity: Granularity
    gx_version: str

    @property
    def id(self) -> str:
        return f"{self.domain.name}.{self.name}"


def _q(value: object) -> str:
    """A YAML scalar: JSON's quoting is valid YAML."""
    return json.dumps(value)


def contract_yaml(draft: ProductDraft) -> str:
    d, p, inf = draft.domain.name, draft.name, draft.inference
    frequency, latency = _SLA[draft.granularity]
    lines = [
        "apiVersion: v3.2.0",
        "kind: DataContract",
        f"id: urn:datacontract:{d}:{p}",
        f"name: {p}",
        "version: 0.1.0",
        "status: draft",
        f"domain: {d}",
        f"tags: [{d}]",
        "description:",
        f"  purpose: {_q(f'{TODO_MARKER}: what this product is for, who relies on it, what one row is.')}",
        f"  usage: {_q(f'{TODO_MARKER}: how consumers should use it, and what not to use it for.')}",
        f"  limitations: {_q(f'Scaffolded from {inf.rows} sampled records of {draft.source.endpoint}.')}",
        "team:",
        f"  name: {draft.domain.team}",
        "  members:",
        f"    - username: {_q(draft.domain.owner)}",
        "      role: owner",
    ]
    if draft.domain.support_channel:
        lines += ["support:", f"  - channel: {_q(draft.domain.support_channel)}"]
        if draft.domain.support_url:
            lines.append(f"    url: {_q(draft.domain.support_url)}")
    lines += [
        "roles:",
        "  - role: readers",
        "    access: read",
        "    description: Every domain's DAGs and every signed-in person read the unrestricted columns.",
        "    customProperties:",
        "      - property: domains",
        '        value: ["*"]',
        "      - property: airflowRoles",
        '        value: ["*"]',
        "slaProperties:",
        "  - property: frequency",
        f'    value: "{frequency}"',
        "  - property: latency",
        f"    value: {latency}",
        "    unit: h",
        f"    element: {p}.{inf.partition_column}",
        "  - property: retention",
        "    value: 30",
        "    unit: versions",
        "servers:",
        "  - server: mesh",
        "    type: iceberg",
        "    environment: production",
        "    description: The product's Apache Iceberg table, in the mesh's JDBC/SQL catalog "
        "(the platform's metadata database).",
        "    catalog: mesh",
        '    catalogUrl: "${DATA_MESH_CATALOG_URL:-sqlite:///data/metadata.db}"',
        f"    namespace: {d}",
        '    warehouse: "${DATA_MESH_STORAGE_ROOT:-data/products}"',
        "  - server: local",
        "    type: local",
        "    environment: dev",
        "    format: parquet",
        "    description: The data files of the table's current snapshot "
        "(datacontract test; other engines read the table).",
        f'    path: "${{DATA_MESH_STORAGE_ROOT:-data/products}}/{d}/{p}/data/*/*.parquet"',
        "schema:",
        f"  - name: {p}",
        f"    physicalName: {p}",
        "    physicalType: table",
        f"    description: {_q(_grain(inf))}",
        "    quality:",
        "      - type: custom",
        "        engine: great-expectations",
        f"        implementation: {d}/{p}.json",
        "        description: The GX suite every publication must pass.",
        "    properties:",
        *(f"      - {_property(c, inf, draft.granularity)}" for c in inf.columns),
        "customProperties:",
        "  - property: transform",
        f"    value: domains.{d}.{p}:build",
        "  - property: sources",
        "    value:",
        *_source_lines(draft.source),
    ]
    return "\n".join(lines) + "\n"


def _grain(inf: Inference) -> str:
    if inf.primary_key:
        return f"One row per {', '.join(inf.primary_key)}."
    return "One row per source record (no key found in the sample: mark the primaryKey columns)."


def _property(col: InferredColumn, inf: Inference, granularity: Granularity) -> str:
    items: list[tuple[str, object]] = [
        ("name", col.name),
        ("logicalType", col.logical_type),
        ("physicalType", _PHYSICAL[col.logical_type]),
    ]
    if col.required:
        items.append(("required", True))
    if inf.primary_key == (col.name,):
        items.append(("unique", True))
    if col.name in inf.primary_key:
        items += [("primaryKey", True), ("primaryKeyPosition", inf.primary_key.index(col.name) + 1)]
    if col.name == inf.partition_column:
        items += [("partitioned", True), ("partitionKeyPosition", 1)]
    hint = " (the name looks like personal data: restricted?)" if looks_personal(col.name) else ""
    items.append(("classification", f"{TODO_MARKER}: public, internal, confidential or restricted{hint}"))
    origin = f"the date of {col.field}" if col.derived else col.field
    items.append(("description", f"{TODO_MARKER}: describe it (source field {origin})."))
    custom: list[dict[str, object]] = []
    if col.name == inf.partition_column:
        custom.append({"property": "partitionGranularity", "value": granularity})
    if col.optional:
        custom.append({"property": "optional", "value": True})
    body = ", ".join(f"{key}: {_flow(value)}" for key, value in items)
    if custom:
        body += (
            ", customProperties: ["
            + ", ".join(f"{{property: {c['property']}, value: {_flow(c['value'])}}}" for c in custom)
            + "]"
        )
    return "{" + body + "}"


def _flow(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    text = str(value)
    plain = text.replace("_", "").replace(".", "").isalnum()
    return text if plain and text not in ("true", "false", "null") else _q(text)


def _source_lines(source: HttpSource) -> list[str]:
    lines = [
        f"      - name: {source.name}",
        f"        connId: {source.conn_id}",
        f"        endpoint: {_q(source.endpoint)}",
    ]
    if source.params:
        lines.append("        params: {" + ", ".join(f"{k}: {_q(v)}" for k, v in source.params.items()) + "}")
    lines += [
        f"        pagination: {source.pagination}",
        f"        auth: {source.auth.value}",
        f"        pageSize: {source.page_size}",
    ]
    defaults = HttpSource("", "", "")
    if source.records_field != defaults.records_field:
        lines.append(f"        recordsField: {_q(source.records_field)}")
    if source.cursor_field != defaults.cursor_field:
        lines.append(f"        cursorField: {_q(source.cursor_field)}")
    return lines


# --------------------------------------------------------------------------------------------- suite


def _expectation(
    etype: str, kwargs: Mapping[str, object], severity: str = "critical", notes: str = ""
) -> dict:
    return {
        "type": etype,
        "kwargs": dict(kwargs),
        "meta": {"notes": notes} if notes else {},
        "severity": severity,
    }


def suite_json(draft: ProductDraft) -> str:
    inf = draft.inference
    names = [c.name for c in inf.columns]
    items = [
        _expectation("expect_table_row_count_to_be_between", {"min_value": 1, "max_value": MAX_ROWS}),
        _expectation("expect_table_columns_to_match_set", {"column_set": names, "exact_match": True}),
    ]
    items += [
        _expectation("expect_column_values_to_not_be_null", {"column": c.name})
        for c in inf.columns
        if c.required
    ]
    if len(inf.primary_key) == 1:
        items.append(_expectation("expect_column_values_to_be_unique", {"column": inf.primary_key[0]}))
    elif inf.primary_key:
        items.append(
            _expectation(
                "expect_compound_columns_to_be_unique",
                {"column_list": list(inf.primary_key)},
                notes="Primary key.",
            )
        )
    for c in inf.columns:
        if c.pattern and not looks_personal(c.name):
            items.append(
                _expectation("expect_column_values_to_match_regex", {"column": c.name, "regex": c.pattern})
            )
        if c.values and not looks_personal(c.name):
            items.append(
                _expectation(
                    "expect_column_values_to_be_in_set",
                    {"column": c.name, "value_set": list(c.values)},
                    "warning",
                    f"Values seen in {inf.rows} sampled records: complete the set, then make it critical.",
                )
            )
        if c.minimum is not None and c.minimum >= 0:
            items.append(
                _expectation(
                    "expect_column_values_to_be_between",
                    {"column": c.name, "min_value": 0},
                    notes="Never negative in the sample.",
                )
            )
    suite = {
        "name": draft.id,
        "expectations": items,
        "meta": {"product_id": draft.id, "columns": names, "great_expectations_version": draft.gx_version},
        "notes": f"Scaffolded by `data-mesh new-product` from {inf.rows} sampled records: "
        "review every expectation. Contract types, required columns and the key are enforced too.",
    }
    return json.dumps(suite, indent=2) + "\n"


# --------------------------------------------------------------------------------------------- transform

_CAST = {
    ("string", "json"): 'rows["{f}"].astype("string")',
    ("integer", "json"): 'pd.to_numeric(rows["{f}"], errors="coerce").astype("Int64")',
    ("number", "json"): 'pd.to_numeric(rows["{f}"], errors="coerce")',
    ("number", "text"): 'pd.to_numeric(rows["{f}"], errors="coerce")',
    ("boolean", "json"): 'rows["{f}"].astype("boolean")',
    ("boolean", "text"): 'rows["{f}"].str.lower().map({{"true": True, "false": False}}).astype("boolean")',
    ("date", "text"): 'pd.to_datetime(rows["{f}"], format="ISO8601", errors="coerce").dt.date',
    ("timestamp", "text"): 'pd.to_datetime(rows["{f}"], format="ISO8601", utc=True, errors="coerce")',
}


def _cast(col: InferredColumn) -> str:
    if col.derived:  # the partition date of a timestamp field, in UTC
        return f'pd.to_datetime(rows["{col.field}"], format="ISO8601", utc=True, errors="coerce").dt.date'
    return _CAST[(col.logical_type, col.encoding)].format(f=col.field)


def _wrapped(line: str, limit: int = 110) -> str:
    """One dict entry, its first call's arguments on a line of their own when too long (as ruff does)."""
    start = line.find("(")
    if len(line) <= limit or start < 0:
        return line + "\n"
    depth = 0
    for end in range(start, len(line)):
        depth += {"(": 1, ")": -1}.get(line[end], 0)
        if depth == 0:
            break
    return f"{line[: start + 1]}\n                {line[start + 1 : end]}\n            {line[end:]}\n"


def transform_py(draft: ProductDraft) -> str:
    inf, source = draft.inference, draft.source
    fields = list(dict.fromkeys(c.field for c in inf.columns))
    field_lines = "".join(f'    "{f}",\n' for f in fields)
    column_lines = "".join(_wrapped(f'            "{c.name}": {_cast(c)},') for c in inf.columns)
    return (
        f'"""Transform of {draft.id}: one row per record of its source {source.name}.\n\n'
        f"The source: {source.endpoint} through the Airflow connection {source.conn_id}.\n"
        "Scaffolded by `data-mesh new-product`: selects the source's fields, names them in snake_case and\n"
        'types them as the contract declares. Rename, derive or drop columns here and in the contract."""\n'
        "\n"
        "from __future__ import annotations\n"
        "\n"
        "from typing import TYPE_CHECKING\n"
        "\n"
        "if TYPE_CHECKING:\n"
        "    import pandas as pd\n"
        "\n"
        "    from data_mesh import TransformContext\n"
        "\n"
        f"FIELDS = [\n{field_lines}]\n"
        "\n"
        "\n"
        "def build(ctx: TransformContext) -> pd.DataFrame:\n"
        "    import pandas as pd\n"
        "\n"
        f'    rows = ctx.source("{source.name}", fields=FIELDS)\n'
        "    return pd.DataFrame(\n"
        "        {\n"
        f"{column_lines}"
        "        }\n"
        "    )\n"
    )
