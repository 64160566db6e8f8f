"""GET /data-mesh/api/products/{id}/slo: a product's freshness SLO, attainment and history.

Authenticated like every route of the app (`app.py`: an Airflow login); anyone signed in may read a
product's SLO, as they may read its catalog entry. An unknown product, or a draft hidden from the
user (`governance.lifecycle`), is a 404. No
`from __future__ import annotations` here: FastAPI resolves the route's annotations.
"""

from typing import Any

from airflow.api_fastapi.core_api.security import GetUserDep
from fastapi import APIRouter

from data_mesh.contract import registry
from data_mesh.governance import lifecycle
from data_mesh.governance.access import Principal

router = APIRouter(tags=["data-mesh"])


@router.get(
    "/products/{product_id}/slo",
    summary="Freshness SLO: current state, attainment over 7 and 30 days, daily history, alerts",
)
def get_slo(product_id: str, user: GetUserDep) -> dict[str, Any]:
    """Attainment is the time-weighted share of the window in which the SLO was met (see `definition`)."""
    from data_mesh.slo.report import slo_report

    spec = lifecycle.require_visible(registry.get_product(product_id), Principal.for_user(user))
    return slo_report(spec.id).to_dict()
