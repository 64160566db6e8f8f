"""Governed corrections over the API: POST /data-mesh/api/products/{product_id}/corrections.

A steward (the product's owning team, or an admin) updates or deletes the rows matching `where`, with
a reason; each affected partition is validated like a publication and published as a new version
(`governance.corrections`). Refusals are JSON `{"detail": ...}`: 400 bad request (unknown column,
a value not of its column's type, no reason), 403 not a steward, 404 unknown product or no row
matched, 409 nothing would change or a concurrent publication, 422 the corrected data fails validation.
No `from __future__ import annotations` here: FastAPI must resolve the Annotated dependencies.
"""

from typing import Any

from airflow.api_fastapi.core_api.security import GetUserDep
from fastapi import APIRouter, HTTPException
from pydantic import BaseModel, ConfigDict, Field

router = APIRouter(tags=["data-mesh"])

Value = str | int | float | bool | None


class CorrectionRequest(BaseModel):
    """Which rows (column equality, all of them), and what to do with them, and why."""

    model_config = ConfigDict(populate_by_name=True, extra="forbid")

    where: dict[str, Value] = Field(
        description="column -> value the rows must hold (every one); values as text in the contract's "
        "types, an empty value or null meaning null",
        examples=[{"order_id": "ord-20261120-000042"}],
    )
    set_values: dict[str, Value] | None = Field(
        None, alias="set", description="column -> new value (an update)", examples=[{"status": "returned"}]
    )
    delete: bool = Field(False, description="delete the matched rows instead of updating them")
    reason: str | None = Field(
        None, max_length=1000, description="why the published data is wrong (required)",
        examples=["customer returned the order"],
    )  # fmt: skip


def _text(values: dict[str, Value] | None) -> dict[str, str | None] | None:
    if values is None:
        return None
    return {
        k: None if v is None else str(v).lower() if isinstance(v, bool) else str(v) for k, v in values.items()
    }


@router.post(
    "/products/{product_id}/corrections",
    status_code=201,
    summary="Correct a product: update or delete rows as a new version (stewards, with a reason)",
    responses={
        400: {"description": "unknown column, value not of its column's type, no reason, nothing asked"},
        403: {"description": "not the product's owning team or an admin"},
        404: {"description": "unknown product, nothing published, or no row matches"},
        409: {"description": "the rows already hold the values, or a concurrent publication"},
        422: {"description": "the corrected data fails validation (the report's message); nothing published"},
    },
)
def create_correction(product_id: str, body: CorrectionRequest, user: GetUserDep) -> dict[str, Any]:
    """The correction's result: `{product, action, previous_version, version, versions, partitions, ...}`."""
    from data_mesh.governance.access import Principal
    from data_mesh.governance.corrections import CorrectionError, correct

    try:
        result = correct(
            product_id,
            where=_text(body.where) or {},
            set_values=_text(body.set_values),
            delete=body.delete,
            reason=body.reason,
            actor=Principal.for_user(user),
        )
    except CorrectionError as refused:
        raise HTTPException(status_code=refused.status, detail=str(refused)) from None
    return result.to_dict()
