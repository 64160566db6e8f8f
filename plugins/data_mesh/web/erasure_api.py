"""Erasure endpoints of the JSON API (mounted with the API router at /data-mesh/api).

    POST /erasures   {"column", "value", "delete_rows", "reason"} -> 201 the receipt
    GET  /erasures   -> {"items": [receipts, newest first], "total"}

Both are for admins only (403 otherwise, before anything is looked up). Who erases is the logged-in
Airflow user, never a field of the body. The value travels in the body only (never in a URL, so never
in an access log) and is never echoed: errors name the column, not the value. Erasure errors answer
409 (already erased, naming the receipt) or 404 (no product holds the value).
No `from __future__ import annotations` here: FastAPI must resolve the Annotated dependencies.
"""

from typing import Any

from airflow.api_fastapi.core_api.security import GetUserDep
from fastapi import APIRouter, HTTPException
from pydantic import BaseModel, Field

from data_mesh.exceptions import AlreadyErased, NotAllowed, NothingToErase
from data_mesh.governance.access import Principal, is_admin

router = APIRouter(tags=["data-mesh"])


class ErasureRequest(BaseModel):
    """One data subject to erase: a value of a restricted column, matched exactly."""

    column: str = Field(min_length=1, max_length=255, examples=["customer_email"])
    value: str = Field(min_length=1, max_length=10_000, examples=["alice@example.com"])
    delete_rows: bool = Field(
        False, description="also write a new version of each product without the subject's rows"
    )
    reason: str | None = Field(None, max_length=2_000, examples=["GDPR request #123"])


ERRORS: dict[int | str, dict[str, Any]] = {
    403: {"description": "not an admin"},
    404: {"description": "no published product holds the value (nothing to erase)"},
    409: {"description": "already erased (the message names the date and the receipt)"},
}


@router.post(
    "/erasures",
    status_code=201,
    summary="Erase a data subject from every version of every product (admin; crypto-shredding)",
    responses=ERRORS,
)
def create_erasure(request: ErasureRequest, user: GetUserDep) -> dict[str, Any]:
    """The receipt: `{id, at, requested_by, subject_column, token, holdings, deleted_rows, reason,
    unsearched}`; holdings `[{product, column, versions}]`, deleted_rows `[{product, version, rows}]`
    (null without `delete_rows`)."""
    from data_mesh.governance.erasure import erase_subject

    try:
        result = erase_subject(
            request.column,
            request.value,
            actor=Principal.for_user(user),
            delete_rows=request.delete_rows,
            reason=request.reason,
        )
    except NotAllowed as refused:
        raise HTTPException(403, str(refused)) from None
    except AlreadyErased as done:
        raise HTTPException(409, str(done)) from None
    except NothingToErase as missing:
        raise HTTPException(404, str(missing)) from None
    return result.to_dict()


@router.get("/erasures", summary="Erasure receipts, newest first (admin)", responses={403: ERRORS[403]})
def list_erasures(user: GetUserDep) -> dict[str, Any]:
    from data_mesh.metadata.store import GovernanceStore

    principal = Principal.for_user(user)
    if not is_admin(principal):
        raise HTTPException(
            403, f"{principal.name} may not read erasure receipts: they need Airflow's admin role"
        )
    receipts = [r.to_dict() for r in GovernanceStore().receipts()]
    return {"items": receipts, "total": len(receipts)}
