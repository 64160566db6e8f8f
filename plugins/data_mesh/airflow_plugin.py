"""The Airflow plugin of the data mesh: a listener, the Data Mesh web app and its menu entry.

Every Airflow process imports this (each task process too), so it stays cheap: the FastAPI app
(FastAPI + Airflow's security module, seconds of imports) is built on first access to
`fastapi_apps`, which only the api-server (and `airflow plugins`) make.
"""

from __future__ import annotations

from functools import cached_property
from typing import Any

from airflow.plugins_manager import AirflowPlugin

from data_mesh.metadata.listener import listener

URL_PREFIX = "/data-mesh"


class DataMeshPlugin(AirflowPlugin):
    name = "data_mesh"
    listeners = [listener]
    external_views = [
        {
            "name": "Data Products",
            "href": f"{URL_PREFIX}/ui/",
            "destination": "nav",
            "category": "browse",
            "url_route": "data-products",
        }
    ]

    @cached_property
    def fastapi_apps(self) -> list[dict[str, Any]]:  # type: ignore[override]
        from data_mesh.web.app import create_app

        return [{"app": create_app(), "url_prefix": URL_PREFIX, "name": "Data Mesh"}]
