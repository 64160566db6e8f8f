"""Access requests, grants, usage and the audit trail, in the JSON API (/data-mesh/api).

The requester and the deciding steward are always the Airflow user of the request (`GetUserDep`),
never a field of the body. The rules live in `governance.requests`; errors map to HTTP as everywhere
in the app: 400 bad request, 403 not allowed, 404 unknown product or request.
No `from __future__ import annotations` here: FastAPI must resolve the Annotated dependencies.
"""

from datetime import datetime
from typing import Annotated, Any, Literal

from airflow.api_fastapi.core_api.security import GetUserDep
from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from data_mesh.contract import registry
from data_mesh.governance.access import Principal, active_grants, may_steward, readable_columns
from data_mesh.metadata.store import AccessRequest, GovernanceStore

router = APIRouter(tags=["data-mesh governance"])


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def request_json(request: AccessRequest) -> dict[str, Any]:
    return {
        "id": request.id,
        "product_id": request.product_id,
        "requester": request.requester,
        "requester_kind": request.requester_kind,
        "requested_by": request.requested_by,
        "columns": list(request.columns),
        "purpose": request.purpose,
        "duration_days": request.duration_days,
        "status": request.state,
        "created_at": _iso(request.created_at),
        "decided_by": request.decided_by,
        "decided_at": _iso(request.decided_at),
        "decision_reason": request.decision_reason,
        "expires_at": _iso(request.expires_at),
        "revoked_by": request.revoked_by,
        "revoked_at": _iso(request.revoked_at),
    }


def access_overview(product_id: str, user: Any) -> dict[str, Any]:
    """What the product page's access panel shows: the caller's columns, grants, pending requests."""
    spec = registry.get_product(product_id)
    principal = Principal.for_user(user)
    readable = readable_columns(spec, principal, active_grants(spec, principal))
    requests = GovernanceStore().list_requests(product_id=spec.id)
    return {
        "product_id": spec.id,
        "me": {
            "name": principal.name,
            "readable_columns": readable,
            "masked_columns": [c for c in spec.column_names if c not in readable],
            "may_steward": may_steward(spec, principal),
        },
        "roles": [
            {
                "role": r.role,
                "domains": list(r.domains),
                "airflow_roles": list(r.airflow_roles),
                "users": list(r.users),
                "columns": list(r.columns) or "every unrestricted column",
                "purpose": r.purpose,
            }
            for r in spec.access.roles
        ],
        "grants": [request_json(r) for r in requests if r.active()],
        "pending": [request_json(r) for r in requests if r.status == "pending"],
        "history": [request_json(r) for r in requests if r.status != "pending" and not r.active()],
    }


@router.get("/products/{product_id}/access", summary="Your access, the contract's roles, grants and requests")
def get_access(product_id: str, user: GetUserDep) -> dict[str, Any]:
    return access_overview(product_id, user)


class AccessRequestBody(BaseModel):
    columns: list[str] = Field(min_length=1, max_length=200, description="the columns you need")
    purpose: str = Field(min_length=1, max_length=2000, description="what the data will be used for")
    duration_days: float = Field(gt=0, le=365, description="how long access is needed")
    domain: str | None = Field(None, max_length=100, description="request for this domain's DAGs (its owner)")


@router.post("/products/{product_id}/access-requests", status_code=201, summary="Request access (audited)")
def create_access_request(product_id: str, body: AccessRequestBody, user: GetUserDep) -> dict[str, Any]:
    from data_mesh.governance.requests import request_access

    spec = registry.get_product(product_id)
    created = request_access(
        spec,
        Principal.for_user(user),
        columns=body.columns,
        purpose=body.purpose,
        days=body.duration_days,
        for_domain=body.domain,
    )
    return request_json(created)


@router.get("/access-requests", summary="Access requests and grants, newest first")
def list_access_requests(
    product_id: Annotated[str | None, Query(max_length=255)] = None,
    status: Literal["pending", "approved", "denied", "revoked"] | None = None,
    requester: Annotated[str | None, Query(max_length=255)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> dict[str, Any]:
    if product_id is not None:
        registry.get_product(product_id)
    found = GovernanceStore().list_requests(
        product_id=product_id, status=status, requester=requester, limit=limit
    )
    return {"items": [request_json(r) for r in found], "total": len(found)}


class Decision(BaseModel):
    reason: str | None = Field(None, max_length=2000)


@router.post(
    "/access-requests/{request_id}/approve", summary="Approve a request (the owning team or an admin)"
)
def approve(request_id: int, user: GetUserDep, body: Decision | None = None) -> dict[str, Any]:
    from data_mesh.governance.requests import decide_request

    reason = body.reason if body else None
    return request_json(decide_request(request_id, Principal.for_user(user), approve=True, reason=reason))


@router.post("/access-requests/{request_id}/deny", summary="Deny a request, with a reason")
def deny(request_id: int, body: Decision, user: GetUserDep) -> dict[str, Any]:
    from data_mesh.governance.requests import decide_request

    return request_json(
        decide_request(request_id, Principal.for_user(user), approve=False, reason=body.reason)
    )


@router.post("/access-requests/{request_id}/revoke", summary="Revoke a grant now (steward or requester)")
def revoke(request_id: int, user: GetUserDep, body: Decision | None = None) -> dict[str, Any]:
    from data_mesh.governance.requests import revoke_grant

    reason = body.reason if body else None
    return request_json(revoke_grant(request_id, Principal.for_user(user), reason=reason))


@router.get("/products/{product_id}/usage", summary="Reads per consumer: rows, columns, purposes, last read")
def get_usage(product_id: str) -> dict[str, Any]:
    from data_mesh.metadata.store import MetadataStore
    from data_mesh.metadata.store.access_log import usage_detail

    spec = registry.get_product(product_id)
    with MetadataStore().engine.connect() as conn:
        consumers = usage_detail(conn, spec.id)
    for entry in consumers:
        entry["last_at"] = _iso(entry["last_at"])
    return {"product_id": spec.id, "consumers": consumers}


@router.get("/audit-events", summary="Governance audit trail: requests, decisions, erasures, corrections")
def list_audit_events(
    product_id: Annotated[str | None, Query(max_length=255)] = None,
    action: Annotated[str | None, Query(max_length=50)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> dict[str, Any]:
    found = GovernanceStore().audit_events(product_id=product_id, action=action, limit=limit)
    return {
        "items": [
            {
                "id": e.id,
                "at": _iso(e.at),
                "actor": e.actor,
                "action": e.action,
                "product_id": e.product_id,
                "detail": e.detail,
            }
            for e in found
        ]
    }
