"""Access requests: usage agreements with a purpose, an approval and an expiry.

    request_access(spec, principal, columns=["customer_email"], purpose="...", days=30)
    decide_request(request_id, steward, approve=True, reason="...")
    revoke_grant(request_id, steward_or_requester, reason="...")

The rules:

* a person requests access for themselves; a consuming domain's owner (an owner in the team of one
  of that domain's contracts) or an admin requests it on behalf of the domain's DAGs;
* the request names the columns (they must exist), a purpose (required) and how many days access
  is needed (1 to `MAX_DAYS`);
* only the product's stewards (its owning team, or an admin: `access.may_steward`) approve or deny,
  and never a request they made themselves (separation of duties);
* an approved request is a grant until it expires (`days` after the approval) or is revoked, by a
  steward or by the requester; the reader reads the active grants on every read, so a revocation
  takes effect on the next read;
* every request, decision and revocation is an audit event (written by the store in the same
  transaction); every read that uses a grant names it in its access event.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

from data_mesh.contract import registry
from data_mesh.contract.spec import ProductSpec
from data_mesh.exceptions import NotAllowed, RequestNotFound
from data_mesh.governance.access import Principal, is_admin, may_steward
from data_mesh.metadata.store import AccessRequest, GovernanceStore
from data_mesh.metadata.store.governance import RequesterKind

MAX_DAYS = 365


def domain_owners(domain: str) -> set[str]:
    """The users named owner in any contract of `domain`."""
    return {
        user
        for spec in registry.load_products(domain).values()
        for user, role in spec.team
        if role == "owner"
    }


def request_access(
    spec: ProductSpec,
    principal: Principal,
    *,
    columns: Sequence[str],
    purpose: str,
    days: float,
    for_domain: str | None = None,
) -> AccessRequest:
    """File a request (pending until a steward decides); ValueError names what is wrong with it."""
    if principal.kind != "user":
        raise NotAllowed(principal.name, "request access", "access requests are made by people")
    columns = list(dict.fromkeys(columns))
    unknown = [c for c in columns if c not in spec.column_names]
    if not columns or unknown:
        detail = f"unknown columns {unknown}" if unknown else "no columns"
        raise ValueError(f"{detail}: {spec.id} has {list(spec.column_names)}")
    if not purpose or not purpose.strip():
        raise ValueError("a purpose is required: say what the data will be used for")
    if not 0 < days <= MAX_DAYS:
        raise ValueError(f"days must be more than 0 and at most {MAX_DAYS}, not {days}")
    kind: RequesterKind
    if for_domain is None:
        requester, kind = principal.name, "user"
    else:
        if not registry.load_products(for_domain):
            raise ValueError(f"unknown domain {for_domain!r}")
        if not (is_admin(principal) or principal.name in domain_owners(for_domain)):
            raise NotAllowed(
                principal.name,
                f"request access for domain {for_domain!r}",
                "only an owner of that domain or an admin requests access for its DAGs",
            )
        requester, kind = for_domain, "domain"
    return GovernanceStore().create_request(
        spec.id, requester, kind, principal.name, columns, purpose.strip(), days
    )


def _request_and_spec(request_id: int) -> tuple[AccessRequest, ProductSpec]:
    try:
        request = GovernanceStore().get_request(request_id)
    except LookupError as missing:
        raise RequestNotFound(str(missing)) from None
    return request, registry.get_product(request.product_id)


def decide_request(
    request_id: int, steward: Principal, *, approve: bool, reason: str | None = None
) -> AccessRequest:
    """Approve (a grant until now + the requested days) or deny a pending request."""
    request, spec = _request_and_spec(request_id)
    if not may_steward(spec, steward):
        raise NotAllowed(
            steward.name,
            f"decide request #{request_id}",
            f"only the owning team of {spec.id} or an admin does",
        )
    if steward.name == request.requested_by:
        raise NotAllowed(
            steward.name, f"decide request #{request_id}", "it is decided by someone other than its requester"
        )
    if not approve and not (reason and reason.strip()):
        raise ValueError("a denial needs a reason the requester can read")
    if request.status != "pending":
        raise ValueError(f"access request #{request_id} is {request.state}, not pending")
    if approve:
        from data_mesh.metadata.store.records import utcnow

        expires = utcnow() + timedelta(days=request.duration_days)
        return GovernanceStore().set_status(
            request_id,
            expected="pending",
            status="approved",
            actor=steward.name,
            reason=reason,
            expires_at=expires,
        )
    return GovernanceStore().set_status(
        request_id, expected="pending", status="denied", actor=steward.name, reason=reason
    )


def revoke_grant(request_id: int, principal: Principal, *, reason: str | None = None) -> AccessRequest:
    """End a grant now: by a steward of the product, or by the person who asked for it."""
    request, spec = _request_and_spec(request_id)
    if not (may_steward(spec, principal) or principal.name == request.requested_by):
        raise NotAllowed(
            principal.name,
            f"revoke grant #{request_id}",
            f"only the owning team of {spec.id}, an admin or the requester does",
        )
    if request.status != "approved":
        raise ValueError(f"access request #{request_id} is {request.state}: there is no grant to revoke")
    return GovernanceStore().set_status(
        request_id, expected="approved", status="revoked", actor=principal.name, reason=reason
    )
