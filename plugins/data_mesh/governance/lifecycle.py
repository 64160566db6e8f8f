"""A product's lifecycle, from its contract's `status`: who sees it, who reads it, and with what warning.

    draft (or proposed)  only the owning domain (its DAGs and its team) and admins see and read it; for
                         everyone else it does not exist: it is not listed and every lookup is an
                         unknown product (404), so a draft's name and schema never leak
    active               served normally
    deprecated           served, but every read warns (task log, API `Deprecation`/`Warning` headers,
                         SQL result `warnings`, CLI stderr); the catalog badges it and lists who still
                         reads it (consumer DAGs, and the readers of the last 30 days)
    retired              not published (no DAG is built); listed with its successor; every read fails
                         with `ProductRetired` (HTTP 410) naming the successor

A deprecated product whose `endOfLife` SLA date has passed is retired: a contract change is not needed
for the end of life to take effect. The successor is `customProperties.successor` (a product id).

Every read path calls `check_read` after it has found the contract and before any data moves (the
task reader, the API download, the SQL port, the UI sample and the CLI through the API), and every
listing or lookup calls `visible`. A consumer DAG whose contract reads a retired product, or another
domain's draft, is a DAG import error (`pipeline.dags`) and a `global.inputs-readable` finding.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Literal, NamedTuple

from data_mesh.contract.spec import ProductSpec
from data_mesh.exceptions import ProductRetired, UnknownProductError
from data_mesh.governance.access import Principal, is_admin, owns

if TYPE_CHECKING:
    from data_mesh.metadata.store import MetadataStore

State = Literal["draft", "active", "deprecated", "retired"]
STATES: tuple[State, ...] = ("draft", "active", "deprecated", "retired")
CONSUMER_WINDOW = timedelta(days=30)

log = logging.getLogger(__name__)


def state(spec: ProductSpec, today: date | None = None) -> State:
    """The effective state: the contract's status, with a passed `endOfLife` meaning retired."""
    status = spec.status.lower()
    if status == "retired":
        return "retired"
    end = spec.sla.end_of_life
    if end is not None and (today or datetime.now(UTC).date()) >= end:
        return "retired"
    if status in ("draft", "proposed"):
        return "draft"
    if status == "deprecated":
        return "deprecated"
    return "active"


def visible(spec: ProductSpec, principal: Principal) -> bool:
    """Whether `principal` may know the product exists (a draft: its owners and admins only)."""
    return state(spec) != "draft" or owns(spec, principal) or is_admin(principal)


def visible_to_domain(spec: ProductSpec, domain: str | None) -> bool:
    """Whether a platform-built DAG of `domain` may see the product (a draft: its own domain only)."""
    return state(spec) != "draft" or spec.domain == domain


def require_visible(spec: ProductSpec, principal: Principal) -> ProductSpec:
    """`spec`, or UnknownProductError for a principal a draft is hidden from (the same 404 as a typo)."""
    if not visible(spec, principal):
        raise UnknownProductError(spec.id)
    return spec


def notice(spec: ProductSpec, today: date | None = None) -> str | None:
    """The warning a deprecated product's readers get (None for any other state)."""
    if state(spec, today) != "deprecated":
        return None
    parts = [f"{spec.id} is deprecated"]
    if spec.sla.end_of_life:
        parts.append(f"it is retired on {spec.sla.end_of_life.isoformat()}")
    parts.append(f"move to {spec.successor}" if spec.successor else f"ask its owner {spec.owner}")
    return "; ".join(parts)


def check_read(spec: ProductSpec, principal: Principal, today: date | None = None) -> str | None:
    """Before a read: raise for a hidden draft (404) or a retired product (410); a deprecated
    product's warning (also written to the log, so a task's log shows it), or None."""
    require_visible(spec, principal)
    current = state(spec, today)
    if current == "retired":
        since = spec.sla.end_of_life.isoformat() if spec.sla.end_of_life else None
        raise ProductRetired(spec.id, spec.successor or None, since)
    warning = notice(spec, today)
    if warning:
        log.warning("%s reads a deprecated product: %s", principal.name, warning)
    return warning


def input_problem(upstream: ProductSpec, consumer_domain: str) -> str | None:
    """Why a product of `consumer_domain` may not be built from `upstream` (None: it may)."""
    if not visible_to_domain(upstream, consumer_domain):
        return f"{upstream.id} is a draft: only domain {upstream.domain!r} reads it until it is active"
    if state(upstream) == "retired":
        successor = f"; build from its successor {upstream.successor}" if upstream.successor else ""
        return f"{upstream.id} is retired{successor}"
    return None


class Consumer(NamedTuple):
    """Who still reads a product: a consumer DAG (from the contracts) or a recent reader (access log)."""

    kind: Literal["dag", "reader"]
    name: str
    reads: int = 0
    last_at: datetime | None = None


def consumers(
    spec: ProductSpec,
    mesh: dict[str, ProductSpec],
    store: MetadataStore | None = None,
    now: datetime | None = None,
    columns: Sequence[str] | None = None,
) -> list[Consumer]:
    """The DAGs built from it, then every principal with an allowed read in the last 30 days (of
    any of `columns`, when given: who a change to those columns breaks)."""
    dags = [Consumer("dag", other.dag_id) for other in mesh.values() if spec.id in other.inputs]
    if store is None:
        from data_mesh.metadata.store import MetadataStore

        store = MetadataStore()
    since = (now or datetime.now(UTC)) - CONSUMER_WINDOW
    readers = [
        Consumer("reader", u.principal, u.reads, u.last_at)
        for u in store.usage_by_consumer(spec.id, since=since, columns=columns)
    ]
    return dags + readers
