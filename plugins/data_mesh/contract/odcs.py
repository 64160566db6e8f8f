"""Read an ODCS v3.1 data contract (YAML) into a `ProductSpec`.

The contract is validated by the `open-data-contract-standard` pydantic model (unknown keys are
rejected), then the platform reads its own settings from `customProperties`:
`transform`, `sources`, `inputs`; from the partitioned column's `partitionGranularity`; access from
the `readers` role. Every problem is a `ContractError` naming the file and the field.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import yaml

from data_mesh.contract.spec import (
    TODO_MARKER,
    Access,
    Auth,
    Column,
    HttpSource,
    Partitioning,
    ProductSpec,
    RoleGrant,
    Sla,
    Waiver,
)
from data_mesh.exceptions import ContractError

CONTRACT_SUFFIX = ".odcs.yaml"
_SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_LOGICAL_TYPES = {"string", "date", "timestamp", "number", "integer", "boolean"}
_CLASSIFICATIONS = {"public", "internal", "confidential", "restricted"}


def load_contract(path: Path) -> ProductSpec:
    """Parse and validate one contract file; raise `ContractError` on the first problem found."""
    return parse_contract(path.read_text(encoding="utf-8"), path)


def parse_contract(text: str, path: Path) -> ProductSpec:
    """Parse and validate a contract's text (`path` names it in errors, e.g. a published version)."""
    try:
        # libyaml's loader when PyYAML has it: the same safe constructors, ~10x faster (a contract is
        # parsed at every DAG parse, and a 200-product mesh has 200 of them)
        raw = yaml.load(text, Loader=_SAFE_LOADER)  # noqa: S506 - a safe loader
    except yaml.YAMLError as err:
        raise ContractError(str(path), "<yaml>", str(err)) from err
    if not isinstance(raw, dict):
        raise ContractError(str(path), "<document>", "a contract is a YAML mapping")
    _validate_odcs(path, raw, text)
    return _to_spec(path, raw)


def _validate_odcs(path: Path, raw: dict[str, Any], text: str) -> None:
    """The ODCS model's verdict on the contract, remembered per text and model version.

    Importing the model (a large pydantic class tree) cost 0.16 s of each DAG file's parse on the
    200-product mesh, in every parsing process; a contract text that passed once is not checked
    again by the same model version (`conf.cache_dir()/odcs-valid/<sha256>`), a failing one always is.
    """
    if raw.get("apiVersion") not in {"v3.0.0", "v3.0.1", "v3.0.2", "v3.1.0", "v3.2.0"}:
        raise ContractError(str(path), "apiVersion", f"expected v3.2.0, got {raw.get('apiVersion')!r}")
    marker = _passed_marker(text)
    if marker is not None and marker.exists():
        return
    from open_data_contract_standard.model import OpenDataContractStandard
    from pydantic import ValidationError

    try:
        OpenDataContractStandard.model_validate(raw)
    except ValidationError as err:
        first = err.errors()[0]
        field = ".".join(str(p) for p in first["loc"])
        raise ContractError(str(path), field, first["msg"]) from err
    if marker is not None:
        try:
            marker.parent.mkdir(parents=True, exist_ok=True)
            marker.touch()
        except OSError:  # a read-only cache folder: the next parse validates again
            pass


def _passed_marker(text: str) -> Path | None:
    """Where the verdict "this text passed this ODCS model version" is kept (None: not cacheable)."""
    import hashlib

    from data_mesh import conf

    model = _model_version()
    if model is None:
        return None
    digest = hashlib.sha256(f"{model}\n{text}".encode()).hexdigest()
    return conf.cache_dir() / "odcs-valid" / digest


@functools.lru_cache(maxsize=1)
def _model_version() -> str | None:
    import importlib.metadata

    try:
        return importlib.metadata.version("open-data-contract-standard")
    except importlib.metadata.PackageNotFoundError:
        return None


def _custom(props: list[dict[str, Any]] | None) -> dict[str, Any]:
    return {p["property"]: p.get("value") for p in props or []}


def _require(path: Path, raw: dict[str, Any], key: str) -> Any:
    value = raw.get(key)
    if value in (None, "", [], {}):
        raise ContractError(str(path), key, "is required by the platform")
    return value


def _to_spec(path: Path, raw: dict[str, Any]) -> ProductSpec:
    domain = _require(path, raw, "domain")
    name = _require(path, raw, "name")
    tables = _require(path, raw, "schema")
    if len(tables) != 1:
        raise ContractError(str(path), "schema", "a product contract declares exactly one table")
    table = tables[0]
    columns = tuple(_column(path, i, p) for i, p in enumerate(table.get("properties") or []))
    if not columns:
        raise ContractError(str(path), "schema[0].properties", "no columns declared")
    custom = _custom(raw.get("customProperties"))
    description = raw.get("description") or {}
    return ProductSpec(
        domain=domain,
        name=name,
        version=str(_require(path, raw, "version")),
        status=_require(path, raw, "status"),
        description=(description.get("purpose") or "").strip(),
        owner=_owner(path, raw),
        columns=columns,
        partitioning=_partitioning(path, table),
        sla=_sla(path, raw.get("slaProperties")),
        access=_access(path, raw.get("roles")),
        expectation_suite=_suite(path, table),
        contract_path=str(path),
        contract_id=_require(path, raw, "id"),
        tags=tuple(raw.get("tags") or ()),
        team=tuple((m["username"], m.get("role", "")) for m in (raw.get("team") or {}).get("members", [])),
        support=tuple((s.get("channel", ""), s.get("url", "")) for s in raw.get("support") or []),
        sources=tuple(_source(path, i, s) for i, s in enumerate(custom.get("sources") or [])),
        inputs=tuple(custom.get("inputs") or ()),
        transform=str(custom.get("transform") or ""),
        doc_md=render_markdown(raw),
        waivers=_waivers(path, custom.get("policyWaivers")),
        usage=(description.get("usage") or "").strip(),
        limitations=(description.get("limitations") or "").strip(),
        tenant=str(raw.get("tenant") or ""),
        team_name=str((raw.get("team") or {}).get("name") or ""),
        successor=str(custom.get("successor") or ""),
        todos=tuple(_todos(raw, "")),
    )


def _todos(value: Any, where: str) -> Iterator[str]:
    """The fields whose value still starts with TODO_MARKER; list items are named by their `name`."""
    if isinstance(value, str):
        if value.strip().startswith(TODO_MARKER):
            yield where
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _todos(item, f"{where}.{key}" if where else str(key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            label = item.get("name") if isinstance(item, dict) and item.get("name") else index
            yield from _todos(item, f"{where}[{label}]")


def _waivers(path: Path, raw: Any) -> tuple[Waiver, ...]:
    """`customProperties.policyWaivers`: [{policy, reason, approvedBy, expires: YYYY-MM-DD}, ...]."""
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise ContractError(str(path), "customProperties.policyWaivers", "a list of waivers")
    waivers = []
    for index, item in enumerate(raw):
        where = f"customProperties.policyWaivers[{index}]"
        if not isinstance(item, dict):
            raise ContractError(str(path), where, "a mapping with policy, reason, approvedBy and expires")
        missing = [
            k for k in ("policy", "reason", "approvedBy", "expires") if not str(item.get(k) or "").strip()
        ]
        if missing:
            raise ContractError(str(path), where, f"a waiver needs {', '.join(missing)}")
        expires = _date(path, f"{where}.expires", item["expires"])
        assert expires is not None  # checked non-empty above
        waivers.append(Waiver(str(item["policy"]), str(item["reason"]), str(item["approvedBy"]), expires))
    return tuple(waivers)


def _column(path: Path, index: int, prop: dict[str, Any]) -> Column:
    where = f"schema[0].properties[{index}]"
    name = prop.get("name") or ""
    if prop.get("logicalType") not in _LOGICAL_TYPES:
        raise ContractError(str(path), f"{where}.logicalType", f"{prop.get('logicalType')!r} for {name!r}")
    classification = prop.get("classification") or ""
    if str(classification).startswith(TODO_MARKER):
        classification = "restricted"  # undecided: the safest reading (`global.decided` blocks it anyway)
    if classification not in _CLASSIFICATIONS:
        raise ContractError(
            str(path), f"{where}.classification", f"{name!r} must be one of {sorted(_CLASSIFICATIONS)}"
        )
    optional = bool(_custom(prop.get("customProperties")).get("optional", False))
    if optional and (prop.get("required") or prop.get("primaryKey") or classification == "restricted"):
        reason = f"{name!r} is required or restricted, so it cannot be optional (may arrive empty)"
        raise ContractError(str(path), f"{where}.customProperties.optional", reason)
    return Column(
        name=name,
        logical_type=prop["logicalType"],
        optional=optional,
        required=bool(prop.get("required")),
        unique=bool(prop.get("unique")),
        primary_key=bool(prop.get("primaryKey")),
        partitioned=bool(prop.get("partitioned")),
        classification=classification,  # type: ignore[arg-type]  # checked against _CLASSIFICATIONS
        description=prop.get("description") or "",
    )


def _owner(path: Path, raw: dict[str, Any]) -> str:
    members = (raw.get("team") or {}).get("members") or []
    owners = [m["username"] for m in members if m.get("role") == "owner"]
    if not owners:
        raise ContractError(str(path), "team.members", "no member with role 'owner'")
    return owners[0]


def _partitioning(path: Path, table: dict[str, Any]) -> Partitioning:
    parts = [p for p in table.get("properties") or [] if p.get("partitioned")]
    if len(parts) != 1:
        raise ContractError(str(path), "schema[0].properties", "exactly one column must be partitioned")
    granularity = _custom(parts[0].get("customProperties")).get("partitionGranularity", "day")
    if granularity not in {"day", "month"}:
        raise ContractError(str(path), f"{parts[0]['name']}.partitionGranularity", f"{granularity!r}")
    return Partitioning(column=parts[0]["name"], granularity=granularity)


def _sla(path: Path, props: list[dict[str, Any]] | None) -> Sla:
    by_name = {p["property"]: p for p in props or []}
    frequency = by_name.get("frequency", {}).get("value")
    latency = by_name.get("latency")
    latency_hours = None
    if latency:
        factor = {"h": 1, "hours": 1, "d": 24, "days": 24, "m": 1 / 60, "minutes": 1 / 60}
        latency_hours = float(latency["value"]) * factor.get(latency.get("unit", "h"), 1)
    retention = by_name.get("retention") or {}
    value, unit = retention.get("value"), str(retention.get("unit") or "versions").lower()
    if value is not None and unit not in ("versions", "d", "day", "days"):
        raise ContractError(str(path), "slaProperties.retention.unit", f"{unit!r}: use versions or days")
    in_days = value is not None and unit != "versions"
    return Sla(
        frequency=frequency,
        latency_hours=latency_hours,
        retention_versions=int(value) if value is not None and not in_days else None,
        retention_days=float(value) if in_days and value is not None else None,
        end_of_life=_date(path, "slaProperties.endOfLife", (by_name.get("endOfLife") or {}).get("value")),
    )


def _date(path: Path, where: str, value: Any) -> date | None:
    """An ISO date (YAML may already have parsed it), or None when absent."""
    if value in (None, ""):
        return None
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        raise ContractError(str(path), where, f"{value!r} is not a date (YYYY-MM-DD)") from None


def _access(path: Path, roles: list[dict[str, Any]] | None) -> Access:
    """The contract's `roles` as grants; no roles at all means every domain and person reads."""
    grants = []
    for index, role in enumerate(roles or []):
        if str(role.get("access", "read")).lower() != "read":
            continue
        custom = _custom(role.get("customProperties"))
        values = {}
        for key, name in (
            ("domains", "domains"),
            ("airflowRoles", "airflow_roles"),
            ("users", "users"),
            ("columns", "columns"),
        ):
            raw = custom.get(key) or ()
            if isinstance(raw, str) or not all(isinstance(v, str) for v in raw):
                raise ContractError(str(path), f"roles[{index}].customProperties.{key}", "a list of names")
            values[name] = tuple(v.lower() if key == "airflowRoles" else v for v in raw)
        grants.append(
            RoleGrant(
                role=str(role.get("role", f"role{index}")), purpose=str(custom.get("purpose") or ""), **values
            )
        )
    return Access(tuple(grants)) if grants else Access()


def _suite(path: Path, table: dict[str, Any]) -> str:
    for check in table.get("quality") or []:
        if check.get("type") == "custom" and check.get("engine") == "great-expectations":
            return str(check["implementation"])
    raise ContractError(str(path), "schema[0].quality", "no great-expectations suite declared")


def _source(path: Path, index: int, raw: dict[str, Any]) -> HttpSource:
    where = f"customProperties.sources[{index}]"
    try:
        return HttpSource(
            name=raw["name"],
            conn_id=raw["connId"],
            endpoint=raw["endpoint"],
            params={k: str(v) for k, v in (raw.get("params") or {}).items()},
            pagination=_pagination(raw.get("pagination", "none")),
            auth=Auth(raw.get("auth", "none")),
            format=raw.get("format", "json"),
            records_field=raw.get("recordsField", "data"),
            cursor_field=raw.get("cursorField", "next_cursor"),
            page_size=int(raw.get("pageSize", 500)),
            max_pages=_max_pages(raw.get("maxPages")),
        )
    except KeyError as err:
        raise ContractError(str(path), f"{where}.{err.args[0]}", "is required") from err
    except ValueError as err:
        raise ContractError(str(path), where, str(err)) from err


def _max_pages(raw: object) -> int | None:
    if raw is None:
        return None
    if isinstance(raw, bool) or not isinstance(raw, int) or raw < 1:
        raise ValueError(f"maxPages must be a positive integer, got {raw!r}")
    return raw


def _pagination(name: object) -> str:
    from data_mesh.sources import pagination

    pagination.get(str(name))  # a ValueError naming the known paginators
    return str(name)


def render_markdown(raw: dict[str, Any]) -> str:
    """The contract as Markdown, shown as the DAG's documentation in the Airflow UI."""
    description = raw.get("description") or {}
    table = (raw.get("schema") or [{}])[0]
    lines = [
        f"# {raw.get('domain')}.{raw.get('name')} (v{raw.get('version')}, {raw.get('status')})",
        "",
        (description.get("purpose") or "").strip(),
        "",
    ]
    if description.get("usage"):
        lines += [f"**Usage:** {description['usage'].strip()}", ""]
    if description.get("limitations"):
        lines += [f"**Limitations:** {description['limitations'].strip()}", ""]
    members = (raw.get("team") or {}).get("members") or []
    lines += ["**Team:** " + ", ".join(f"{m['username']} ({m.get('role', '')})" for m in members), ""]
    for sla in raw.get("slaProperties") or []:
        lines.append(f"- SLA {sla['property']}: {sla.get('value')} {sla.get('unit', '')}".rstrip())
    lines += ["", "| column | type | required | classification | description |", "|---|---|---|---|---|"]
    for prop in table.get("properties") or []:
        lines.append(
            f"| {prop.get('name')} | {prop.get('logicalType')} | {'yes' if prop.get('required') else ''} "
            f"| {prop.get('classification', '')} | {prop.get('description', '')} |"
        )
    lines += ["", f"Contract id `{raw.get('id')}`."]
    return "\n".join(lines)
