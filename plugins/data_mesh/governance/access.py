"""The one access decision of the mesh: may this principal read these columns of this product?

Every read path asks `decide` (the governed reader for tasks, the API, the UI sample, the SQL port and
the CLI through the API); the DAG builder and the mesh policy ask it for a consuming domain. There is
no other rule. A column is readable when one of these covers it:

* ownership: the owning domain's DAGs and the owning team's members (the contract's `team`) read
  every column;
* a standing grant in the contract's `roles` (`RoleGrant`): matched by domain (DAGs), Airflow role
  or user name (people); it covers the columns it lists, or every unrestricted column if it lists
  none. A restricted (PII) column is only ever covered by a grant that names it;
* an approved access request (`AccessRequest`, a usage agreement) of this user, or of this DAG's
  domain, that has not expired or been revoked, for the columns it names.

Who the principal is never comes from the caller: tasks are identified from the running task by
`governance.identity`, people by their Airflow login. A DAG the platform did not build from a
contract has no domain, and no domain grant (not even "*") matches it.

A `Decision` is deliberately not a boolean: `if decide(...)` raises TypeError, so a caller cannot
test the (allowed, reason) pair for truth by mistake and let every read through.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from data_mesh.contract.spec import ProductSpec, RoleGrant

if TYPE_CHECKING:
    from data_mesh.metadata.store import AccessRequest

PrincipalKind = Literal["user", "task"]
AccessPath = Literal["task", "api", "ui", "cli"]


@dataclass(frozen=True)
class Principal:
    """Who reads: a person (API, UI, CLI) or a task of a DAG the platform built for a domain."""

    name: str
    kind: PrincipalKind
    domain: str | None = None  # the consuming domain of a platform-built DAG; None otherwise
    roles: frozenset[str] = frozenset()  # Airflow roles, lower-case (people)

    @classmethod
    def for_task(cls, dag_id: str, task_id: str, domain: str | None) -> Principal:
        owner = f"domain:{domain}" if domain else "no-domain"
        return cls(name=f"{owner}/dag:{dag_id}/task:{task_id}", kind="task", domain=domain)

    @classmethod
    def for_user(cls, user: Any) -> Principal:
        """An Airflow user (SimpleAuthManager's `role` or FAB's `roles`)."""
        name = user.get_name() if hasattr(user, "get_name") else str(user)
        return cls(name=name, kind="user", roles=user_roles(user))

    @property
    def requester(self) -> tuple[Literal["user", "domain"], str] | None:
        """Whose access requests apply: the user's own, or the DAG's domain's (None: nobody's)."""
        if self.kind == "user":
            return "user", self.name
        return ("domain", self.domain) if self.domain else None


@dataclass(frozen=True)
class Decision:
    allowed: bool
    reason: str
    grants: tuple[int, ...] = ()  # access requests whose grants this read uses

    def __bool__(self) -> bool:
        raise TypeError("test Decision.allowed, not the Decision itself")


def user_roles(user: Any) -> frozenset[str]:
    roles = [getattr(user, "role", None)]
    roles += [getattr(r, "name", r) for r in getattr(user, "roles", None) or ()]
    return frozenset(str(r).lower() for r in roles if r)


def owns(spec: ProductSpec, principal: Principal) -> bool:
    """The owning domain's DAGs and the owning team's members."""
    if principal.kind == "task":
        return principal.domain == spec.domain
    return principal.name in {user for user, _ in spec.team} or principal.name == spec.owner


ADMIN_ROLE = "admin"


def is_admin(principal: Principal) -> bool:
    """A person with Airflow's admin role (erasure, and every product's stewardship)."""
    return principal.kind == "user" and ADMIN_ROLE in principal.roles


def may_steward(spec: ProductSpec, principal: Principal) -> bool:
    """Who decides about a product (access requests, corrections): its owning team, or an admin."""
    return is_admin(principal) or (principal.kind == "user" and owns(spec, principal))


def _matches(role: RoleGrant, principal: Principal) -> bool:
    if principal.kind == "task":
        return principal.domain is not None and ("*" in role.domains or principal.domain in role.domains)
    return (
        "*" in role.airflow_roles
        or bool(principal.roles & set(role.airflow_roles))
        or principal.name in role.users
    )


def _covered_by_role(spec: ProductSpec, role: RoleGrant, column: str) -> bool:
    if role.columns:
        return column in role.columns
    return column not in spec.restricted_columns


def decide(
    spec: ProductSpec,
    principal: Principal,
    columns: Iterable[str],
    grants: Sequence[AccessRequest] = (),
) -> Decision:
    """The decision for one read of `columns` of `spec` by `principal`, given its active `grants`."""
    columns = tuple(columns)
    if owns(spec, principal):
        return Decision(True, f"owner of {spec.id}")
    roles = [r for r in spec.access.roles if _matches(r, principal)]
    used: dict[int, None] = {}
    missing = []
    for column in columns:
        if any(_covered_by_role(spec, r, column) for r in roles):
            continue
        grant = next((g for g in grants if g.active() and column in g.columns), None)
        if grant is None:
            missing.append(column)
        else:
            used[grant.id] = None
    if missing:
        return Decision(False, _refusal(spec, principal, roles, missing))
    names = ", ".join(r.role for r in roles) or "no role"
    if used:
        return Decision(
            True, f"granted by {names} and access grant #{', #'.join(map(str, used))}", tuple(used)
        )
    return Decision(True, f"granted by {names}")


def _refusal(spec: ProductSpec, principal: Principal, roles: list[RoleGrant], missing: list[str]) -> str:
    who = (
        f"domain {principal.domain!r}"
        if principal.kind == "task" and principal.domain
        else "a DAG the platform did not build from a contract"
        if principal.kind == "task"
        else f"user {principal.name!r}"
    )
    restricted = [c for c in missing if c in spec.restricted_columns]
    if not roles and len(missing) > len(restricted):
        return f"{who} is not among the readers of {spec.id}: request access to it"
    if restricted:
        return f"restricted columns {restricted} need an explicit grant for {who}: request access to them"
    return f"columns {missing} are not granted to {who}: request access to them"


def domain_decision(
    spec: ProductSpec, domain: str | None, columns: Iterable[str] = (), grants: Sequence[AccessRequest] = ()
) -> Decision:
    """Whether a platform-built DAG of `domain` may read these columns (none given: any column)."""
    principal = Principal(name=f"domain:{domain}", kind="task", domain=domain)
    wanted = tuple(columns)
    if wanted:
        return decide(spec, principal, wanted, grants)
    for column in spec.column_names:
        decision = decide(spec, principal, [column], grants)
        if decision.allowed:
            return decision
    return decide(spec, principal, spec.column_names, grants)


def readable_columns(
    spec: ProductSpec, principal: Principal, grants: Sequence[AccessRequest] = ()
) -> list[str]:
    """The columns of `spec` that `principal` may read, by the one access decision."""
    return [c for c in spec.column_names if decide(spec, principal, [c], grants).allowed]


def active_grants(spec: ProductSpec, principal: Principal) -> list[AccessRequest]:
    """The principal's approved, unexpired, unrevoked grants on `spec`, read now (revocation is
    effective on the next read)."""
    from data_mesh.metadata.store import GovernanceStore

    requester = principal.requester
    if requester is None:
        return []
    return GovernanceStore().active_grants(spec.id, requester[0], requester[1])
