"""`data-mesh --local-admin`: the stores read directly, for operators on the platform host.

No API and no token: the metadata store and the product tables are opened with the file and
database rights of whoever runs the command (DATA_MESH_* settings), so this mode is for the people
who hold those rights anyway. Its principal is `local-admin:<OS user>` with the admin role, named as
what it is; every governed read (download, sql) goes through the governed reader like any other,
checked and recorded as an access event with path "cli". Answers have the API's JSON shape.

The governance commands act as a person who answers for them (requests, decisions, corrections:
the token's user), so they are the API's: here they say so. The exception is `erase`, an admin's
act, run with `data_mesh.governance.erasure` when this installation has it.
"""

from __future__ import annotations

import getpass
import importlib
import importlib.util
from datetime import datetime
from typing import TYPE_CHECKING, Any, NoReturn

from data_mesh.cli.backends import Decision, Downloaded, OpenSink, SqlFile
from data_mesh.contract import registry
from data_mesh.governance import lifecycle

if TYPE_CHECKING:
    from data_mesh.governance.access import Principal

PRINCIPAL_PREFIX = "local-admin:"
ERASURE_MODULE = "data_mesh.governance.erasure"


def local_admin_principal() -> Principal:
    from data_mesh.governance.access import Principal

    return Principal(name=f"{PRINCIPAL_PREFIX}{getpass.getuser()}", kind="user", roles=frozenset({"admin"}))


def warning(principal: Principal) -> str:
    return (
        f"data-mesh: warning: --local-admin bypasses the API: the platform's stores are read directly "
        f"with this account's rights, as {principal.name} (admin role); reads are audited with path cli"
    )


def _store():
    from data_mesh.metadata.store import MetadataStore

    return MetadataStore()


class LocalBackend:
    def __init__(self, principal: Principal | None = None) -> None:
        self.principal = principal or local_admin_principal()

    def products(self, search: str | None, domain: str | None) -> list[dict[str, Any]]:
        from data_mesh.metadata.catalog import product_summaries

        return product_summaries(search, domain, principal=self.principal)

    def product(self, product_id: str) -> dict[str, Any]:
        from data_mesh.metadata.catalog import product_detail

        return product_detail(product_id, principal=self.principal)

    def versions(self, product_id: str, limit: int) -> list[dict[str, Any]]:
        spec = registry.get_product(product_id)
        return [p.to_dict() for p in _store().list_publications(spec.id, limit=limit)]

    def lineage(self, product_id: str, depth: int) -> dict[str, Any]:
        spec = registry.get_product(product_id)
        return {"product_id": spec.id, "depth": depth, **_store().lineage(spec.id, depth=depth).to_dict()}

    def access_events(self, product_id: str | None, principal: str | None, limit: int) -> dict[str, Any]:
        if product_id:
            registry.get_product(product_id)
        page = _store().list_access_events(product_id=product_id, principal=principal, limit=limit)
        return {"items": [e.to_dict() for e in page.items], "total": page.total}

    def openlineage(self, product_id: str) -> list[dict[str, Any]]:
        from data_mesh.metadata.openlineage import product_events

        return product_events(registry.get_product(product_id).id, _store())

    def table(self, product_id: str) -> dict[str, Any]:
        from data_mesh.metadata.snippets import table_info

        return table_info(registry.get_product(product_id))

    def odps(self, product_id: str) -> dict[str, Any]:
        from data_mesh.metadata.odps import product_descriptor

        return product_descriptor(product_id).to_dict()

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
        from data_mesh.governance.reader import read_batches
        from data_mesh.metadata.catalog import parse_columns, write_batches

        resolved, schema, batches = read_batches(
            product_id,
            self.principal,
            purpose="download with the CLI (--local-admin)",
            path="cli",
            version=version,
            as_of=as_of,
            columns=parse_columns(columns),
        )
        with open_sink() as sink:
            rows = write_batches(schema, batches, fmt, sink)
        return Downloaded(resolved.version, rows, lifecycle.notice(registry.get_product(product_id)))

    def slo(self, product_id: str) -> dict[str, Any]:
        from data_mesh.slo.report import slo_report

        return slo_report(product_id).to_dict()

    def trust(self, target: str) -> dict[str, Any]:
        from data_mesh.exceptions import UnknownDomainError
        from data_mesh.metadata.trust import domain_trust, product_trust

        mesh = registry.load_mesh().products
        if "." in target:
            return product_trust(registry.get_product(target), mesh).to_dict()
        if not any(s.domain == target for s in mesh.values()):
            raise UnknownDomainError(target)
        return domain_trust(target, mesh).to_dict()

    def _run(self, query: str, limit: int, offset: int, timeout: float) -> Any:
        from data_mesh.governance.sql import run_sql

        return run_sql(query, self.principal, path="cli", limit=limit, offset=offset, timeout_s=timeout)

    def sql(self, query: str, *, limit: int, offset: int, timeout: float) -> dict[str, Any]:
        return self._run(query, limit, offset, timeout).to_dict()

    def sql_file(
        self, query: str, open_sink: OpenSink, *, fmt: str, limit: int, offset: int, timeout: float
    ) -> SqlFile:
        from data_mesh.metadata.catalog import write_batches

        result = self._run(query, limit, offset, timeout)
        with open_sink() as sink:
            rows = write_batches(result.table.schema, result.table.to_batches(), fmt, sink)
        products = [{"id": p.id, "version": p.version} for p in result.products]
        return SqlFile(rows, result.truncated, products, result.elapsed_ms, result.warnings)

    # ---- governance: the API's, except erasure ---------------------------------------------

    def _api_only(self, command: str) -> NoReturn:
        raise ValueError(f"{command} is not available in local admin mode: use the API (data-mesh login)")

    def access(self, product_id: str) -> dict[str, Any]:
        self._api_only("access <product>")

    def request_access(
        self, product_id: str, *, columns: list[str], purpose: str, days: float, domain: str | None
    ) -> dict[str, Any]:
        self._api_only("request-access")

    def requests(
        self, product_id: str | None, status: str | None, *, mine: bool, limit: int
    ) -> list[dict[str, Any]]:
        self._api_only("requests")

    def decide(self, request_id: int, decision: Decision, reason: str | None) -> dict[str, Any]:
        self._api_only(decision)

    def usage(self, product_id: str) -> dict[str, Any]:
        self._api_only("usage")

    def audit(self, product_id: str | None, action: str | None, limit: int) -> list[dict[str, Any]]:
        self._api_only("audit")

    def correct(
        self,
        product_id: str,
        *,
        where: dict[str, str],
        set_values: dict[str, str] | None,
        delete: bool,
        reason: str,
    ) -> dict[str, Any]:
        self._api_only("correct")

    def erase(self, column: str, value: str, *, delete_rows: bool, reason: str) -> dict[str, Any]:
        if importlib.util.find_spec(ERASURE_MODULE) is None:
            self._api_only("erase")
        erasure = importlib.import_module(ERASURE_MODULE)
        result = erasure.erase_subject(
            column, value, actor=self.principal, delete_rows=delete_rows, reason=reason
        )
        return result.to_dict()
