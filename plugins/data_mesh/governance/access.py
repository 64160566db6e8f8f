"""The one access decision of the mesh: may this principal read these columns of this product?

Every read path asks `decide` (the governed reader for tasks, the API, the UI and the CLI), the DAG
builder and the mesh-wide policy ask `domain_decision` for a consuming domain, and the UI asks
`may_read_restricted` only to choose between clear and masked samples. There is no other rule.

The rules, from the contract's `roles`:

* a consuming domain reads a product when it is the owning domain, or among `readers` (or `*`);
* restricted (PII) columns need the owning domain or a domain in `restrictedDomains`;
* a person reads every unrestricted column; restricted columns need one of the Airflow roles in
  `RESTRICTED_READER_ROLES`.

A `Decision` is deliberately not a boolean: `if decide(...)` raises TypeError, so a caller cannot
test the (allowed, reason) pair for truth by mistake and let every read through.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

from data_mesh.contract.spec import ProductSpec

PrincipalKind = Literal["user", "task"]
AccessPath = Literal["task", "api", "ui", "cli"]
RESTRICTED_READER_ROLES = frozenset({"admin", "op"})


@dataclass(frozen=True)
class Principal:
    """Who reads: a person (API, UI, CLI) or a consuming task of a domain's DAG."""

    name: str
    kind: PrincipalKind
    domain: str | None = None  # the consuming domain (tasks); None for people
    roles: frozenset[str] = frozenset()  # Airflow roles, lower-case (people)

    @classmethod
    def for_task(cls, dag_id: str, task_id: str, domain: str) -> Principal:
        return cls(name=f"domain:{domain}/dag:{dag_id}/task:{task_id}", kind="task", domain=domain)

    @classmethod
    def for_user(cls, user: Any) -> Principal:
        """An Airflow user (SimpleAuthManager's `role` or FAB's `roles`)."""
        name = user.get_name() if hasattr(user, "get_name") else str(user)
        return cls(name=name, kind="user", roles=user_roles(user))


@dataclass(frozen=True)
class Decision:
    allowed: bool
    reason: str

    def __bool__(self) -> bool:
        raise TypeError("test Decision.allowed, not the Decision itself")


GRANTED = Decision(True, "granted")


def user_roles(user: Any) -> frozenset[str]:
    roles = [getattr(user, "role", None)]
    roles += [getattr(r, "name", r) for r in getattr(user, "roles", None) or ()]
    return frozenset(str(r).lower() for r in roles if r)


def domain_decision(spec: ProductSpec, domain: str | None, columns: Iterable[str] = ()) -> Decision:
    """Whether a consuming domain may read these columns of a product, and why not."""
    readers = spec.access.readers
    if domain != spec.domain and "*" not in readers and domain not in readers:
        return Decision(False, f"domain {domain!r} is not among the readers {list(readers)}")
    restricted = [c for c in columns if c in spec.restricted_columns]
    if restricted and domain != spec.domain and domain not in spec.access.restricted_readers:
        return Decision(False, f"restricted columns {restricted} need the restrictedDomains grant")
    return GRANTED


def may_read_restricted(principal: Principal) -> bool:
    """Whether a person's roles let them see restricted (PII) values."""
    return bool(principal.roles & RESTRICTED_READER_ROLES)


def decide(spec: ProductSpec, principal: Principal, columns: Iterable[str]) -> Decision:
    """The decision for one read of `columns` of `spec` by `principal`."""
    columns = tuple(columns)
    if principal.kind == "task":
        return domain_decision(spec, principal.domain, columns)
    restricted = [c for c in columns if c in spec.restricted_columns]
    if restricted and not may_read_restricted(principal):
        roles = sorted(RESTRICTED_READER_ROLES)
        return Decision(False, f"restricted columns {restricted} need one of the roles {roles}")
    return GRANTED
