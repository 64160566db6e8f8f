"""Trust scores in the JSON API: GET /products/{id}/trust and GET /domains/{domain}/trust.

Authenticated like every route of the app (`app.py`). A product or domain is scored only as far as
the user may see it: a draft hidden from them is a 404, and is left out of its domain's ranking
(`governance.lifecycle`). No `from __future__ import annotations`: FastAPI resolves the annotations.
"""

from typing import Any

from airflow.api_fastapi.core_api.security import GetUserDep
from fastapi import APIRouter

from data_mesh.contract import registry
from data_mesh.exceptions import UnknownDomainError
from data_mesh.governance import lifecycle
from data_mesh.governance.access import Principal

router = APIRouter(tags=["data-mesh"])


@router.get("/products/{product_id}/trust", summary="Trust score, quality level and the steps that raise it")
def get_product_trust(product_id: str, user: GetUserDep) -> dict[str, Any]:
    from data_mesh.metadata.trust import product_trust

    spec = lifecycle.require_visible(registry.get_product(product_id), Principal.for_user(user))
    return product_trust(spec, registry.load_mesh().products).to_dict()


@router.get("/domains/{domain}/trust", summary="A domain's trust score and its products ranked")
def get_domain_trust(domain: str, user: GetUserDep) -> dict[str, Any]:
    from data_mesh.metadata.trust import domain_trust

    principal = Principal.for_user(user)
    mesh = {i: s for i, s in registry.load_mesh().products.items() if lifecycle.visible(s, principal)}
    if not any(s.domain == domain for s in mesh.values()):
        raise UnknownDomainError(domain)
    return domain_trust(domain, mesh).to_dict()
