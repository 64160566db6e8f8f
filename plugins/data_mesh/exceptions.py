"""The platform's errors. Each carries the data that names the problem (product, field, rule)."""

from __future__ import annotations


class DataMeshError(Exception):
    """Base class of every error the platform raises on purpose."""


class ContractError(DataMeshError):
    """A data contract (or a global policy applied to it) is invalid."""

    def __init__(self, path: str, field: str, reason: str) -> None:
        self.path, self.field, self.reason = path, field, reason
        super().__init__(f"{path}: {field}: {reason}")


class UnknownProductError(DataMeshError, KeyError):
    def __init__(self, product_id: str) -> None:
        self.product_id = product_id
        super().__init__(product_id)

    def __str__(self) -> str:
        return f"unknown data product {self.product_id!r}"


class AccessDenied(DataMeshError, PermissionError):
    """A governed read was refused by an access policy; the refusal is recorded too."""

    def __init__(self, product_id: str, principal: str, reason: str) -> None:
        self.product_id, self.principal, self.reason = product_id, principal, reason
        super().__init__(f"{principal} may not read {product_id}: {reason}")


class ProductRetired(DataMeshError, LookupError):
    """A read of a retired product (HTTP 410): it names the successor to read instead, if any."""

    def __init__(self, product_id: str, successor: str | None, since: str | None = None) -> None:
        self.product_id, self.successor, self.since = product_id, successor, since
        when = f" since {since}" if since else ""
        instead = f": read its successor {successor}" if successor else ": it has no successor"
        super().__init__(f"{product_id} is retired{when}{instead}")


class RequestNotFound(DataMeshError, LookupError):
    """No access request with that id (HTTP 404)."""


class VersionNotFound(DataMeshError, LookupError):
    def __init__(self, product_id: str, detail: str) -> None:
        self.product_id, self.detail = product_id, detail
        super().__init__(f"{product_id}: {detail}")


class ContractViolation(DataMeshError):
    """Data does not conform to its contract's schema; `problems` lists every problem found."""

    def __init__(self, product_id: str, problems: list[str]) -> None:
        self.product_id, self.problems = product_id, list(problems)
        lines = "\n".join(f"  - {p}" for p in self.problems)
        count = len(self.problems)
        super().__init__(f"{product_id}: data violates its contract ({count} problems):\n{lines}")


class SuiteError(DataMeshError):
    """An expectation suite file is invalid; `index` is the offending expectation (None: the file)."""

    def __init__(self, path: str, reason: str, *, index: int | None = None) -> None:
        self.path, self.reason, self.index = str(path), reason, index
        where = f"{self.path}: expectation #{index}" if index is not None else self.path
        super().__init__(f"{where}: {reason}")


class ValidationFailed(DataMeshError):
    """A product's data failed a critical expectation; `report` is the `ValidationReport`."""

    def __init__(self, report) -> None:  # noqa: ANN001 - a data_mesh.quality.expectations.ValidationReport
        self.report = report
        super().__init__(report.summary_text())

    def __str__(self) -> str:
        return self.report.summary_text()


class SourceError(DataMeshError):
    """An HTTP source could not be fetched completely; the run must fail rather than publish a partial pull.

    `url` never carries credentials (secret-looking query values are masked by the caller), so the
    message is safe for task logs and alerts.
    """

    def __init__(self, source_name: str, url: str, status: int | None, reason: str) -> None:
        self.source_name, self.url, self.status, self.reason = source_name, url, status, reason
        shown = f"HTTP {status}" if status is not None else "no HTTP status"
        super().__init__(f"source {source_name!r}: {reason} ({shown}, {url})")

    def __reduce__(self):  # keep the exception picklable (Airflow ships errors between processes)
        return (type(self), (self.source_name, self.url, self.status, self.reason))


class NotAllowed(DataMeshError, PermissionError):
    """An action the principal's roles do not allow (not a read: those are `AccessDenied`)."""

    def __init__(self, principal: str, action: str, reason: str) -> None:
        self.principal, self.action, self.reason = principal, action, reason
        super().__init__(f"{principal} may not {action}: {reason}")


class ErasureError(DataMeshError, ValueError):
    """An erasure that cannot be done; the message never holds the subject's value."""


class AlreadyErased(ErasureError):
    """The subject's vault entry was erased before; `receipt_id` and `erased_at` name that erasure."""

    def __init__(self, column: str, receipt_id: int, erased_at: str) -> None:
        self.column, self.receipt_id, self.erased_at = column, receipt_id, erased_at
        super().__init__(
            f"this {column} value was already erased on {erased_at} (receipt #{receipt_id}): "
            "its token is unreadable everywhere, nothing is left to erase"
        )


class NothingToErase(ErasureError):
    """No published product holds the value (the vault never tokenized it)."""

    def __init__(self, column: str) -> None:
        self.column = column
        super().__init__(
            f"no published product holds this {column} value: the vault has no entry for it, so there "
            "is nothing to erase (values are matched exactly, case and spaces included)"
        )


class BreakingChange(ContractError):
    """A contract change that breaks the consumers of the published product (`contract.compat`)."""

    def __init__(self, path: str, changes: list[str], consumers: list[str], published: str) -> None:
        self.changes, self.consumers, self.published = changes, consumers, published
        broken = "; ".join(consumers) if consumers else "no consumer known yet"
        reason = (
            f"breaking change to the published contract {published}: {'; '.join(changes)}. "
            f"It breaks: {broken}. Publish a new major side by side instead: a new product "
            "<name>_v<N> with version <N>.0.0, and this one deprecated with an endOfLife and a successor"
        )
        super().__init__(path, "schema", reason)


class UnknownDomainError(UnknownProductError):
    """No product of this domain exists, or none the principal may see (HTTP 404)."""

    def __str__(self) -> str:
        return f"unknown domain {self.product_id!r}: it has no data product you may see"
