"""Plain, Airflow-free description of a data product: what the contract and the domain declare.

Everything here is cheap to import (no pandas, pyarrow or GX): DAG files build from these objects.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum
from typing import Literal

LogicalType = Literal["string", "date", "timestamp", "number", "integer", "boolean"]
Classification = Literal["public", "internal", "confidential", "restricted"]
Granularity = Literal["day", "month"]

# What `data-mesh new-product` writes where a person must decide (a purpose, a column's description or
# classification). A contract value that starts with it is reported by the policy `global.decided`.
TODO_MARKER = "TODO"


class Auth(StrEnum):
    """Where the Connection's secret goes in each request."""

    NONE = "none"
    BEARER = "bearer"  # Authorization: Bearer <connection password>
    API_KEY = "api_key"  # X-Api-Key: <connection password>
    BASIC = "basic"  # connection login / password


@dataclass(frozen=True)
class HttpSource:
    """One HTTP endpoint a product is fetched from; its base URL and secret live in an Airflow Connection.

    `endpoint` and the values of `params` are `str.format` templates filled with the run's
    partition values: `{partition}` (e.g. 2026-11-22 or 2026-11), `{start}` / `{end}` (ISO dates,
    end exclusive) and `{year}`.
    """

    name: str
    conn_id: str
    endpoint: str
    params: dict[str, str] = field(default_factory=dict)
    pagination: str = "none"  # a registered paginator: data_mesh.sources.pagination
    auth: Auth = Auth.NONE
    format: Literal["json", "csv"] = "json"
    records_field: str = "data"  # JSON key holding the rows of a page (not used for csv/world_bank)
    cursor_field: str = "next_cursor"  # JSON key holding the next cursor (CURSOR pagination)
    page_size: int = 500
    max_pages: int | None = None  # more pages than this fails the fetch (None: DATA_MESH_SOURCE_MAX_PAGES)


@dataclass(frozen=True)
class Column:
    name: str
    logical_type: LogicalType
    required: bool = False
    unique: bool = False
    primary_key: bool = False
    partitioned: bool = False
    classification: Classification = "internal"
    description: str = ""
    optional: bool = False  # customProperties optional: the source may stop sending it (all-null)

    @property
    def is_pii(self) -> bool:
        return self.classification == "restricted"


@dataclass(frozen=True)
class Partitioning:
    """A product's data is split by one column; each run (re)builds exactly one partition."""

    column: str
    granularity: Granularity


@dataclass(frozen=True)
class Sla:
    frequency: str | None = None  # cron-like or "@daily"; None when the product is asset-triggered
    latency_hours: float | None = None  # how old the newest partition may be before it is stale
    retention_versions: int | None = None  # retention in versions (contract unit: versions)
    retention_days: float | None = None  # or in days (contract unit: days)
    end_of_life: date | None = None  # slaProperties endOfLife: served (deprecated) until then, then retired


@dataclass(frozen=True)
class RoleGrant:
    """A standing grant from the contract's `roles`: who may read which columns, and for what.

    A consuming domain's DAGs match through `domains`, people through their Airflow role
    (`airflow_roles`) or user name (`users`); "*" matches every domain or every person. No `columns`
    means every unrestricted column; a restricted (PII) column is granted only when listed.
    """

    role: str
    domains: tuple[str, ...] = ()
    airflow_roles: tuple[str, ...] = ()
    users: tuple[str, ...] = ()
    columns: tuple[str, ...] = ()
    purpose: str = ""


DEFAULT_READERS = RoleGrant("readers", domains=("*",), airflow_roles=("*",))


@dataclass(frozen=True)
class Access:
    """Who may read the product: the contract's roles (the owning domain and team read everything)."""

    roles: tuple[RoleGrant, ...] = (DEFAULT_READERS,)

    @classmethod
    def of(
        cls,
        readers: tuple[str, ...] = ("*",),
        restricted_readers: tuple[str, ...] = (),
        people: tuple[str, ...] = ("*",),
        restricted_people: tuple[str, ...] = (),
        restricted_columns: tuple[str, ...] = (),
    ) -> Access:
        """Product-level readers (domains, Airflow roles) and who reads `restricted_columns`."""
        roles = [RoleGrant("readers", domains=readers, airflow_roles=people)]
        if restricted_columns and (restricted_readers or restricted_people):
            roles.append(
                RoleGrant(
                    "pii-readers",
                    domains=restricted_readers,
                    airflow_roles=restricted_people,
                    columns=restricted_columns,
                )
            )
        return cls(tuple(roles))

    @property
    def readers(self) -> tuple[str, ...]:
        """Domains granted the product (any of its columns)."""
        return tuple(dict.fromkeys(d for r in self.roles for d in r.domains))

    @property
    def restricted_readers(self) -> tuple[str, ...]:
        """Domains granted at least one column explicitly (the restricted ones need that)."""
        return tuple(dict.fromkeys(d for r in self.roles if r.columns for d in r.domains))


@dataclass(frozen=True)
class Waiver:
    """An approved exception to one policy (`customProperties.policyWaivers`), until `expires`."""

    policy: str
    reason: str
    approved_by: str
    expires: date

    def expired(self, today: date) -> bool:
        return today > self.expires


@dataclass(frozen=True)
class ProductSpec:
    """Everything the platform needs to build, validate, publish and describe one data product."""

    domain: str
    name: str
    version: str
    status: str
    description: str
    owner: str
    columns: tuple[Column, ...]
    partitioning: Partitioning
    sla: Sla
    access: Access
    expectation_suite: str  # path relative to the expectations folder
    contract_path: str
    contract_id: str
    tags: tuple[str, ...] = ()
    team: tuple[tuple[str, str], ...] = ()  # (username, role)
    support: tuple[tuple[str, str], ...] = ()  # (channel, url)
    sources: tuple[HttpSource, ...] = ()
    inputs: tuple[str, ...] = ()  # upstream product ids this product is built from
    transform: str = ""  # "module:function" in the domain package
    doc_md: str = ""  # the contract rendered as Markdown for the DAG docs
    waivers: tuple[Waiver, ...] = ()
    usage: str = ""  # description.usage of the contract
    limitations: str = ""  # description.limitations
    tenant: str = ""
    team_name: str = ""  # team.name
    successor: str = ""  # customProperties.successor: the product id that replaces this one
    todos: tuple[str, ...] = ()  # contract fields still holding the scaffolding's TODO_MARKER

    @property
    def id(self) -> str:
        return f"{self.domain}.{self.name}"

    @property
    def dag_id(self) -> str:
        return f"{self.domain}__{self.name}"

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    @property
    def primary_key(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns if c.primary_key)

    @property
    def restricted_columns(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns if c.is_pii)

    def column(self, name: str) -> Column:
        for col in self.columns:
            if col.name == name:
                return col
        raise KeyError(f"{self.id} has no column {name!r}")
