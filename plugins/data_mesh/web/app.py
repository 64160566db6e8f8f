"""The Data Mesh FastAPI app, mounted by the plugin at /data-mesh on Airflow's api-server.

Airflow does not authenticate plugin apps: every route here (API, UI, OpenAPI docs) depends on
`requires_access_view(AccessView.PLUGINS)`, so a request needs an Airflow JWT (bearer token or the
UI's `_token` cookie). Platform errors become JSON `{"detail": ..., "error": <kind>}` with a 4xx
status; the kind (unknown_product, version_not_found, access_denied, bad_request, invalid_contract,
invalid_request) lets clients such as the CLI tell a missing version from a missing product.

Imported only by the api-server (the plugin builds the app lazily): FastAPI and Airflow's security
module cost seconds to import and every task process loads the plugin.
"""

import logging
from typing import Any

from airflow.api_fastapi.auth.managers.models.resource_details import AccessView
from airflow.api_fastapi.core_api.security import requires_access_view
from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse

from data_mesh.exceptions import (
    AccessDenied,
    ContractError,
    NotAllowed,
    ProductRetired,
    RequestNotFound,
    UnknownProductError,
    VersionNotFound,
)

log = logging.getLogger(__name__)

TITLE = "Data Mesh"
# Swagger UI is vendored (static/vendor/swagger-ui, see its README) and served by the UI router's
# authenticated static route, so /docs works offline and needs the same login as everything else.
SWAGGER_ASSETS = "/ui/static/vendor/swagger-ui"


def _error(status: int, detail: str, kind: str) -> JSONResponse:
    return JSONResponse(status_code=status, content={"detail": detail, "error": kind})


def _install_error_handlers(app: FastAPI) -> None:
    async def unknown_product(_: Request, exc: Exception) -> JSONResponse:
        return _error(404, str(exc), "unknown_product")

    async def version_not_found(_: Request, exc: Exception) -> JSONResponse:
        return _error(404, str(exc), "version_not_found")

    async def retired(_: Request, exc: Exception) -> JSONResponse:
        return _error(410, str(exc), "product_retired")

    async def access_denied(_: Request, exc: Exception) -> JSONResponse:
        return _error(403, str(exc), "access_denied")

    async def bad_value(_: Request, exc: Exception) -> JSONResponse:
        return _error(400, str(exc), "bad_request")

    async def bad_contract(_: Request, exc: Exception) -> JSONResponse:
        # Only the product whose contract is invalid answers this; the catalog lists it with its error.
        log.error("invalid data contract: %s", exc)
        return _error(422, f"invalid contract: {exc}", "invalid_contract")

    async def invalid_request(_: Request, exc: Exception) -> JSONResponse:
        errors = exc.errors() if isinstance(exc, RequestValidationError) else []
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg', '')}" for e in errors
        )
        content = {"detail": problems or str(exc), "error": "invalid_request", "errors": _plain(list(errors))}
        return JSONResponse(status_code=422, content=content)

    app.add_exception_handler(UnknownProductError, unknown_product)
    app.add_exception_handler(VersionNotFound, version_not_found)
    app.add_exception_handler(ProductRetired, retired)
    app.add_exception_handler(AccessDenied, access_denied)
    app.add_exception_handler(NotAllowed, access_denied)
    app.add_exception_handler(RequestNotFound, unknown_product)
    app.add_exception_handler(ContractError, bad_contract)
    app.add_exception_handler(ValueError, bad_value)
    app.add_exception_handler(RequestValidationError, invalid_request)


def _plain(errors: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        {"loc": list(e.get("loc", ())), "msg": str(e.get("msg", "")), "type": e.get("type")} for e in errors
    ]


def _docs_router(app: FastAPI) -> APIRouter:
    """OpenAPI schema and Swagger UI behind the same authentication as the rest of the app."""
    docs = APIRouter(include_in_schema=False)

    @docs.get("/openapi.json")
    def openapi(request: Request) -> dict[str, Any]:
        schema = app.openapi()
        root = request.scope.get("root_path", "").rstrip("/")
        if root:  # as FastAPI's own /openapi.json does: "Try it out" calls /data-mesh/api/...
            schema = {**schema, "servers": [{"url": root}]}
        return schema

    @docs.get("/docs")
    def swagger(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "").rstrip("/")
        assets = f"{root}{SWAGGER_ASSETS}"
        return get_swagger_ui_html(
            openapi_url=f"{root}/openapi.json",
            title=f"{TITLE} API",
            swagger_js_url=f"{assets}/swagger-ui-bundle.js",
            swagger_css_url=f"{assets}/swagger-ui.css",
            swagger_favicon_url=f"{assets}/favicon-32x32.png",
            swagger_ui_parameters={"validatorUrl": None},  # never send the spec's URL to swagger.io
        )

    return docs


def _ui_router() -> APIRouter | None:
    """The UI router of `data_mesh.web.ui` when that module is installed, else None."""
    try:
        from data_mesh.web import ui
    except ModuleNotFoundError as missing:
        if missing.name != "data_mesh.web.ui":
            raise
        return None
    return ui.router


def _include_ui(app: FastAPI) -> bool:
    router = _ui_router()
    if router is None:
        return False
    paths = [router.prefix + getattr(r, "path", "") for r in router.routes]
    prefix = "" if any(p == "/ui" or p.startswith("/ui/") for p in paths) else "/ui"
    app.include_router(router, prefix=prefix)
    return True


def _ui_placeholder(app: FastAPI) -> APIRouter:
    """Serves /ui until `data_mesh.web.ui` exists; picks the UI up as soon as it can be imported."""
    placeholder = APIRouter(include_in_schema=False)

    @placeholder.get("/ui")
    @placeholder.get("/ui/{rest:path}")
    def ui_not_installed(request: Request, rest: str = "") -> Any:
        if _include_ui(app):
            routes = app.router.routes
            routes[:] = [r for r in routes if getattr(r, "endpoint", None) is not ui_not_installed]
            return HTMLResponse(status_code=307, headers={"Location": str(request.url)})
        return HTMLResponse(
            f"<!doctype html><title>{TITLE}</title><h1>{TITLE}</h1>"
            "<p>The catalog UI is not installed; the JSON API is at <a href='../docs'>docs</a>.</p>"
        )

    return placeholder


def create_app() -> FastAPI:
    """The plugin's FastAPI app: /api (JSON), /ui (pages), /docs and /openapi.json."""
    from data_mesh.web.access_api import router as access_router
    from data_mesh.web.api import router as api_router
    from data_mesh.web.corrections_api import router as corrections_router
    from data_mesh.web.erasure_api import router as erasure_router
    from data_mesh.web.slo_api import router as slo_router
    from data_mesh.web.trust_api import router as trust_router

    app = FastAPI(
        title=TITLE,
        version="1.0",
        description="Discover data products, their health, lineage, quality and access log; download "
        "versions through the governed reader.",
        dependencies=[Depends(requires_access_view(AccessView.PLUGINS))],
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    _install_error_handlers(app)
    app.include_router(api_router, prefix="/api")
    app.include_router(access_router, prefix="/api")
    app.include_router(corrections_router, prefix="/api")
    app.include_router(erasure_router, prefix="/api")
    app.include_router(slo_router, prefix="/api")
    app.include_router(trust_router, prefix="/api")
    app.include_router(_docs_router(app))
    if not _include_ui(app):
        app.include_router(_ui_placeholder(app))
    return app
