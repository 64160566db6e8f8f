"""GET /data-mesh/api/products/{id}/slo: a product's freshness SLO, attainment and history.

Authenticated like every route of the app (`app.py`: an Airflow login); anyone signed in may read a
product's SLO, as they may read its catalog entry. An unknown product is a 404. No
`from __future__ import annotations` here: FastAPI resolves the route's annotations.
"""

from typing import Any

from fastapi import APIRouter

router = APIRouter(tags=["data-mesh"])


@router.get(
    "/products/{product_id}/slo",
    summary="Freshness SLO: current state, attainment over 7 and 30 days, daily history, alerts",
)
def get_slo(product_id: str) -> dict[str, Any]:
    """Attainment is the time-weighted share of the window in which the SLO was met (see `definition`)."""
    from data_mesh.slo.report import slo_report

    return slo_report(product_id).to_dict()
