"""Where the CLI's data comes from: the `Backend` interface and its API implementation.

Both backends answer in the shape of the API's JSON (`/data-mesh/api/...`), so every command
formats one shape: `ApiBackend` (the default) is that JSON, read with the user's Airflow token;
`LocalBackend` (`data_mesh.cli.local`, `--local-admin`) builds the same dicts from the stores.
Downloads are written to the sink `open_sink()` opens, only once the read has been allowed.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import IO, Any, Protocol

from data_mesh.web.client import ApiClient, product_path

OpenSink = Callable[[], AbstractContextManager[IO[bytes]]]
MAX_PAGE = 500  # the API's largest page of access events


@dataclass(frozen=True)
class Downloaded:
    version: int
    rows: int


@dataclass(frozen=True)
class SqlFile:
    """What a query written as CSV or Parquet read: the summary line the CLI prints."""

    rows: int
    truncated: bool
    products: list[dict[str, Any]]  # [{"id", "version"}]
    elapsed_ms: float | None


class Backend(Protocol):
    def products(self, search: str | None, domain: str | None) -> list[dict[str, Any]]: ...

    def product(self, product_id: str) -> dict[str, Any]: ...

    def versions(self, product_id: str, limit: int) -> list[dict[str, Any]]: ...

    def lineage(self, product_id: str, depth: int) -> dict[str, Any]: ...

    def access_events(self, product_id: str | None, principal: str | None, limit: int) -> dict[str, Any]: ...

    def openlineage(self, product_id: str) -> list[dict[str, Any]]: ...

    def table(self, product_id: str) -> dict[str, Any]: ...

    def download(
        self,
        product_id: str,
        open_sink: OpenSink,
        *,
        version: int | None,
        as_of: datetime | None,
        columns: str | None,
        fmt: str,
    ) -> Downloaded: ...

    def sql(self, query: str, *, limit: int, offset: int, timeout: float) -> dict[str, Any]: ...

    def sql_file(
        self, query: str, open_sink: OpenSink, *, fmt: str, limit: int, offset: int, timeout: float
    ) -> SqlFile: ...


class ApiBackend:
    """The plugin's API on the api-server, as the user the token names."""

    def __init__(self, client: ApiClient) -> None:
        self.client = client

    def products(self, search: str | None, domain: str | None) -> list[dict[str, Any]]:
        return self.client.get("/products", search=search, domain=domain)["products"]

    def product(self, product_id: str) -> dict[str, Any]:
        return self.client.get(f"/products/{product_path(product_id)}", product_id)

    def versions(self, product_id: str, limit: int) -> list[dict[str, Any]]:
        path = f"/products/{product_path(product_id)}/versions"
        return self.client.get(path, product_id, limit=limit)["items"]

    def lineage(self, product_id: str, depth: int) -> dict[str, Any]:
        return self.client.get(f"/products/{product_path(product_id)}/lineage", product_id, depth=depth)

    def access_events(self, product_id: str | None, principal: str | None, limit: int) -> dict[str, Any]:
        if not 1 <= limit <= MAX_PAGE:
            raise ValueError(f"--limit must be between 1 and {MAX_PAGE} through the API, not {limit}")
        if product_id:
            self.product(product_id)  # an unknown product is an error, not an empty log
        return self.client.get("/access-events", product_id=product_id, principal=principal, page_size=limit)

    def openlineage(self, product_id: str) -> list[dict[str, Any]]:
        return self.client.get(f"/products/{product_path(product_id)}/openlineage", product_id)["events"]

    def table(self, product_id: str) -> dict[str, Any]:
        return self.client.get(f"/products/{product_path(product_id)}/table", product_id)

    def download(
        self,
        product_id: str,
        open_sink: OpenSink,
        *,
        version: int | None,
        as_of: datetime | None,
        columns: str | None,
        fmt: str,
    ) -> Downloaded:
        params = {"version": version, "as_of": as_of.isoformat() if as_of else None, "columns": columns}
        params = {k: v for k, v in params.items() if v is not None}
        path = f"/products/{product_path(product_id)}/download"
        got = self.client.stream("GET", path, open_sink, product_id, params={**params, "format": fmt})
        return Downloaded(int(got.headers["x-data-mesh-version"]), int(got.headers["x-data-mesh-rows"]))

    def _query(self, query: str, limit: int, offset: int, timeout: float) -> dict[str, Any]:
        return {"sql": query, "limit": limit, "offset": offset, "timeout_s": timeout}

    def sql(self, query: str, *, limit: int, offset: int, timeout: float) -> dict[str, Any]:
        return self.client.post("/sql", self._query(query, limit, offset, timeout))

    def sql_file(
        self, query: str, open_sink: OpenSink, *, fmt: str, limit: int, offset: int, timeout: float
    ) -> SqlFile:
        body = self._query(query, limit, offset, timeout)
        got = self.client.stream("POST", "/sql", open_sink, json=body, params={"format": fmt})
        products = []
        for read in filter(None, got.headers.get("x-data-mesh-products", "").split(",")):
            name, _, version = read.rpartition("@v")
            products.append({"id": name, "version": int(version) if version.isdigit() else None})
        elapsed = got.headers.get("x-data-mesh-elapsed-ms")
        return SqlFile(
            rows=int(got.headers.get("x-data-mesh-rows", "0")),
            truncated=got.headers.get("x-data-mesh-truncated") == "true",
            products=products,
            elapsed_ms=float(elapsed) if elapsed else None,
        )
