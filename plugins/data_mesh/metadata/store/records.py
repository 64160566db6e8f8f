"""Plain, frozen records written to and read from the metadata store.

Every record has `to_dict()`: JSON-serialisable (datetimes as ISO-8601 strings in UTC, tuples as
lists), ready for `json.dumps` or a FastAPI response.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Generic, Literal, NamedTuple, TypeVar

from data_mesh.governance.access import AccessPath, PrincipalKind

UpstreamKind = Literal["source", "product"]
DownstreamKind = Literal["product", "dag"]

PRINCIPAL_KINDS: frozenset[str] = frozenset({"user", "task"})
ACCESS_PATHS: frozenset[str] = frozenset({"task", "api", "ui", "cli"})
UPSTREAM_KINDS: frozenset[str] = frozenset({"source", "product"})
DOWNSTREAM_KINDS: frozenset[str] = frozenset({"product", "dag"})


def utcnow() -> datetime:
    return datetime.now(UTC)


def as_utc(value: datetime | None) -> datetime | None:
    """Aware UTC datetime; a naive value is taken to be UTC already."""
    if value is None:
        return None
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def to_jsonable(value: Any) -> Any:
    """Datetimes -> ISO strings (UTC), records -> dicts, tuples/sets -> lists, recursively."""
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat() if value.tzinfo else value.replace(tzinfo=UTC).isoformat()
    if hasattr(value, "to_dict"):
        return value.to_dict()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [to_jsonable(v) for v in value]
    return value


class _Record:
    def to_dict(self) -> dict[str, Any]:
        return {f.name: to_jsonable(getattr(self, f.name)) for f in dataclasses.fields(self)}  # type: ignore[arg-type]


def _check(value: str, allowed: frozenset[str], what: str) -> None:
    if value not in allowed:
        raise ValueError(f"{what} must be one of {sorted(allowed)}, not {value!r}")


@dataclass(frozen=True)
class PublicationRecord(_Record):
    """One published version of a product (`inputs`: the (product_id, version) pairs it was built from)."""

    product_id: str
    version: int
    partition: str | None = None
    rows: int | None = None
    bytes: int | None = None
    files: int | None = None
    schema: Any = None  # e.g. [{"name": ..., "type": ...}] or {"fields": [...]}
    schema_hash: str | None = None
    duration_s: float | None = None
    dag_id: str | None = None
    run_id: str | None = None
    task_id: str | None = None
    published_at: datetime = field(default_factory=utcnow)
    validation_success: bool | None = None
    # {"statistics": {...}, "results": [{"type", "column", "success", "unexpected_count",
    #  "unexpected_percent", "sample"}]}
    validation_summary: dict[str, Any] | None = None
    inputs: tuple[tuple[str, int | None], ...] = ()
    id: int | None = None
    snapshot_id: int | None = None  # the Iceberg snapshot of this version
    operation: str | None = None  # append | overwrite | delete


@dataclass(frozen=True)
class ValidationRecord(_Record):
    """One validation of a partition, passing or failing."""

    product_id: str
    success: bool
    partition: str | None = None
    run_id: str | None = None
    evaluated: int = 0
    successful: int = 0
    failed: int = 0
    report: dict[str, Any] | None = None
    quarantine_path: str | None = None
    created_at: datetime = field(default_factory=utcnow)
    id: int | None = None


@dataclass(frozen=True)
class TaskRunRecord(_Record):
    """One try of one task instance; the store upserts on (dag_id, task_id, run_id, map_index, try_number)."""

    dag_id: str
    task_id: str
    run_id: str
    map_index: int = -1
    try_number: int = 1
    state: str | None = None
    start_date: datetime | None = None
    end_date: datetime | None = None
    duration_s: float | None = None
    error: str | None = None
    hostname: str | None = None
    recorded_at: datetime = field(default_factory=utcnow)
    id: int | None = None


@dataclass(frozen=True)
class AccessEvent(_Record):
    """One read (or refused read) of a product, by a user or by a task.

    `principal` is a user name or e.g. "domain:finance/dag:finance__monthly_revenue/task:build".
    """

    principal: str
    principal_kind: PrincipalKind
    product_id: str
    path: AccessPath
    allowed: bool
    version: int | None = None
    columns: tuple[str, ...] | None = None
    rows: int | None = None
    purpose: str | None = None
    reason: str | None = None
    grant_id: int | None = None  # the access request whose grant allowed the read, if one did
    at: datetime = field(default_factory=utcnow)
    id: int | None = None

    def __post_init__(self) -> None:
        _check(self.principal_kind, PRINCIPAL_KINDS, "principal_kind")
        _check(self.path, ACCESS_PATHS, "path")
        if self.columns is not None and not isinstance(self.columns, tuple):
            object.__setattr__(self, "columns", tuple(self.columns))


@dataclass(frozen=True)
class ProductSummary(_Record):
    """One line of the catalog: the product, its latest publication and its latest validation.

    The caller computes a freshness status from `sla` (e.g. latency_hours) and `latest_published_at`.
    """

    id: str
    domain: str
    name: str
    owner: str
    status: str
    version: str
    description: str
    tags: tuple[str, ...]
    sla: dict[str, Any]
    updated_at: datetime | None = None
    latest_version: int | None = None
    latest_published_at: datetime | None = None
    latest_rows: int | None = None
    latest_validation_success: bool | None = None
    latest_validated_at: datetime | None = None
    newest_partition: str | None = None  # the newest partition any publication wrote


@dataclass(frozen=True)
class ProductRecord(_Record):
    """Everything the store knows about a product's contract (`contract` is the ODCS YAML text)."""

    id: str
    domain: str
    name: str
    owner: str
    status: str
    version: str
    description: str
    tags: tuple[str, ...]
    sla: dict[str, Any]
    access: dict[str, Any]
    columns: tuple[dict[str, Any], ...]
    contract_path: str
    contract: str
    updated_at: datetime | None = None


@dataclass(frozen=True)
class LineageNode(_Record):
    kind: str  # source | product | dag
    id: str

    @property
    def key(self) -> str:
        return f"{self.kind}:{self.id}"


@dataclass(frozen=True)
class LineageEdge(_Record):
    upstream_kind: str
    upstream_id: str
    downstream_kind: str
    downstream_id: str

    def __post_init__(self) -> None:
        _check(self.upstream_kind, UPSTREAM_KINDS, "upstream_kind")
        _check(self.downstream_kind, DOWNSTREAM_KINDS, "downstream_kind")

    @property
    def upstream(self) -> LineageNode:
        return LineageNode(self.upstream_kind, self.upstream_id)

    @property
    def downstream(self) -> LineageNode:
        return LineageNode(self.downstream_kind, self.downstream_id)


@dataclass(frozen=True)
class LineageGraph(_Record):
    nodes: tuple[LineageNode, ...]
    edges: tuple[LineageEdge, ...]


T = TypeVar("T")


@dataclass(frozen=True)
class Page(_Record, Generic[T]):
    """One page of a longer list; `total` counts every matching row."""

    items: tuple[T, ...]
    total: int
    limit: int
    offset: int


class ConsumerUsage(NamedTuple):
    """How much one principal read of a product (unpacks as (principal, reads, rows, last_at))."""

    principal: str
    reads: int
    rows: int
    last_at: datetime | None

    def to_dict(self) -> dict[str, Any]:
        return {k: to_jsonable(v) for k, v in self._asdict().items()}


class PublicationInput(NamedTuple):
    """One input a publication was built from (unpacks as (input_product_id, input_version))."""

    input_product_id: str
    input_version: int | None

    def to_dict(self) -> dict[str, Any]:
        return dict(self._asdict())


__all__ = [
    "AccessEvent",
    "ConsumerUsage",
    "LineageEdge",
    "LineageGraph",
    "LineageNode",
    "Page",
    "ProductRecord",
    "ProductSummary",
    "PublicationInput",
    "PublicationRecord",
    "TaskRunRecord",
    "ValidationRecord",
]
