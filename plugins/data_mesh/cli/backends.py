"""Where the CLI's data comes from: the `Backend` interface and its API implementation.

Both backends answer in the shape of the API's JSON (`/data-mesh/api/...`), so every command
formats one shape: `ApiBackend` (the default) is that JSON, read with the user's Airflow token;
`LocalBackend` (`data_mesh.cli.local`, `--local-admin`) builds the same dicts from the stores.
Downloads are written to the sink `open_sink()` opens, only once the read has been allowed.
The governance calls (access, requests and decisions, usage, audit, erasure, corrections) act as
the token's user; `LocalBackend` answers them "not available" (erasure excepted, where it can).
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import IO, Any, Literal, Protocol

from data_mesh.web.client import ApiClient, ApiError, product_path

OpenSink = Callable[[], AbstractContextManager[IO[bytes]]]
MAX_PAGE = 500  # the API's largest page of access events, access requests and audit events
Decision = Literal["approve", "deny", "revoke"]


@dataclass(frozen=True)
class Downloaded:
    version: int
    rows: int
    warning: str | None = None  # a deprecated product's notice (the CLI prints it on stderr)


@dataclass(frozen=True)
class SqlFile:
    """What a query written as CSV or Parquet read: the summary line the CLI prints."""

    rows: int
    truncated: bool
    products: list[dict[str, Any]]  # [{"id", "version"}]
    elapsed_ms: float | None
    warnings: tuple[str, ...] = ()


class Backend(Protocol):
    def products(self, search: str | None, domain: str | None) -> list[dict[str, Any]]: ...

    def product(self, product_id: str) -> dict[str, Any]: ...

    def versions(self, product_id: str, limit: int) -> list[dict[str, Any]]: ...

    def lineage(self, product_id: str, depth: int) -> dict[str, Any]: ...

    def access_events(self, product_id: str | None, principal: str | None, limit: int) -> dict[str, Any]: ...

    def openlineage(self, product_id: str) -> list[dict[str, Any]]: ...

    def table(self, product_id: str) -> dict[str, Any]: ...

    def odps(self, product_id: str) -> dict[str, Any]: ...

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

    def slo(self, product_id: str) -> dict[str, Any]: ...

    def trust(self, target: str) -> dict[str, Any]: ...

    def sql_file(
        self, query: str, open_sink: OpenSink, *, fmt: str, limit: int, offset: int, timeout: float
    ) -> SqlFile: ...

    # governance: the answers of /data-mesh/api (access_api, erasures, corrections)
    def access(self, product_id: str) -> dict[str, Any]: ...

    def request_access(
        self, product_id: str, *, columns: list[str], purpose: str, days: float, domain: str | None
    ) -> dict[str, Any]: ...

    def requests(
        self, product_id: str | None, status: str | None, *, mine: bool, limit: int
    ) -> list[dict[str, Any]]: ...

    def decide(self, request_id: int, decision: Decision, reason: str | None) -> dict[str, Any]: ...

    def usage(self, product_id: str) -> dict[str, Any]: ...

    def audit(self, product_id: str | None, action: str | None, limit: int) -> list[dict[str, Any]]: ...

    def erase(self, column: str, value: str, *, delete_rows: bool, reason: str) -> dict[str, Any]: ...

    def correct(
        self,
        product_id: str,
        *,
        where: dict[str, str],
        set_values: dict[str, str] | None,
        delete: bool,
        reason: str,
    ) -> dict[str, Any]: ...


def _page(limit: int) -> int:
    if not 1 <= limit <= MAX_PAGE:
        raise ValueError(f"--limit must be between 1 and {MAX_PAGE} through the API, not {limit}")
    return limit


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
        _page(limit)
        if product_id:
            self.product(product_id)  # an unknown product is an error, not an empty log
        return self.client.get("/access-events", product_id=product_id, principal=principal, page_size=limit)

    def openlineage(self, product_id: str) -> list[dict[str, Any]]:
        return self.client.get(f"/products/{product_path(product_id)}/openlineage", product_id)["events"]

    def table(self, product_id: str) -> dict[str, Any]:
        return self.client.get(f"/products/{product_path(product_id)}/table", product_id)

    def odps(self, product_id: str) -> dict[str, Any]:
        return self.client.get(f"/products/{product_path(product_id)}/odps", product_id)

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
        return Downloaded(
            int(got.headers["x-data-mesh-version"]),
            int(got.headers["x-data-mesh-rows"]),
            got.headers.get("x-data-mesh-warning"),
        )

    def slo(self, product_id: str) -> dict[str, Any]:
        return self.client.get(f"/products/{product_path(product_id)}/slo", product_id)

    def trust(self, target: str) -> dict[str, Any]:
        if "." in target:
            return self.client.get(f"/products/{product_path(target)}/trust", target)
        return self.client.get(f"/domains/{product_path(target)}/trust")

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
            warnings=tuple(w for w in got.headers.get("x-data-mesh-warning", "").split(" | ") if w),
        )

    # ---- governance ------------------------------------------------------------------------

    def access(self, product_id: str) -> dict[str, Any]:
        return self.client.get(f"/products/{product_path(product_id)}/access", product_id)

    def request_access(
        self, product_id: str, *, columns: list[str], purpose: str, days: float, domain: str | None
    ) -> dict[str, Any]:
        body = {"columns": columns, "purpose": purpose, "duration_days": days, "domain": domain}
        path = f"/products/{product_path(product_id)}/access-requests"
        return self.client.post(path, {k: v for k, v in body.items() if v is not None}, product=product_id)

    def me(self, product_id: str | None = None) -> str:
        """Your user name as the api-server knows it (a product's access overview says)."""
        candidates = [product_id] if product_id else [p["id"] for p in self.products(None, None)]
        for candidate in candidates:
            try:
                return self.access(candidate)["me"]["name"]
            except ApiError as error:
                if error.status != 422:  # an invalid contract: ask another product
                    raise
        raise ValueError("the api-server lists no product whose access overview would name you")

    def requests(
        self, product_id: str | None, status: str | None, *, mine: bool, limit: int
    ) -> list[dict[str, Any]]:
        query: dict[str, Any] = {"product_id": product_id, "status": status, "limit": _page(limit)}
        if not mine:
            return self.client.get("/access-requests", product_id, **query)["items"]
        me = self.me(product_id)
        own = self.client.get("/access-requests", product_id, **query, requester=me)["items"]
        # those you filed for a domain's DAGs (the requester is the domain): filtered here
        listed = self.client.get("/access-requests", product_id, **{**query, "limit": MAX_PAGE})["items"]
        filed = [r for r in listed if r["requester_kind"] == "domain" and r["requested_by"] == me]
        return sorted(own + filed, key=lambda r: -r["id"])[:limit]

    def decide(self, request_id: int, decision: Decision, reason: str | None) -> dict[str, Any]:
        return self.client.post(f"/access-requests/{request_id}/{decision}", {"reason": reason})

    def usage(self, product_id: str) -> dict[str, Any]:
        return self.client.get(f"/products/{product_path(product_id)}/usage", product_id)

    def audit(self, product_id: str | None, action: str | None, limit: int) -> list[dict[str, Any]]:
        if product_id:
            self.product(product_id)
        query: dict[str, Any] = {"product_id": product_id, "action": action, "limit": _page(limit)}
        return self.client.get("/audit-events", **query)["items"]

    def erase(self, column: str, value: str, *, delete_rows: bool, reason: str) -> dict[str, Any]:
        body = {"column": column, "value": value, "delete_rows": delete_rows, "reason": reason}
        return self.client.post("/erasures", body)

    def correct(
        self,
        product_id: str,
        *,
        where: dict[str, str],
        set_values: dict[str, str] | None,
        delete: bool,
        reason: str,
    ) -> dict[str, Any]:
        spec = self.product(product_id)  # an unknown product is named as such, not as a missing route
        body = {"where": where, "set": set_values, "delete": delete, "reason": reason}
        return self.client.post(f"/products/{product_path(spec['id'])}/corrections", body)
