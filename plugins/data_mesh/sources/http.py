"""The fetch step: pull one declared `HttpSource` completely and stream it to staging files.

Why it looks like this:

* A product is rebuilt from a complete pull or not at all, so every failure that survives the retries is
  one `SourceError` and nothing partial is reported as fetched.
* Memory must not grow with the source: each JSON page is written as one NDJSON file as soon as it
  arrives, and CSV exports are streamed to disk chunk by chunk.
* Transient trouble (429, 5xx, dropped connections, timeouts) is retried with capped exponential backoff
  with jitter, honouring `Retry-After`; other 4xx are a caller bug and fail at once.
* Credentials come from the Airflow Connection and never appear in messages or logs.

This module imports neither Airflow (callers pass a `ConnectionInfo`) nor pandas at module level, so DAG
parsing stays fast.
"""

from __future__ import annotations

import base64
import json
import logging
import random
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlencode, urlsplit, urlunsplit

import requests

from data_mesh import conf
from data_mesh.contract.spec import Auth, HttpSource
from data_mesh.exceptions import SourceError
from data_mesh.sources import pagination
from data_mesh.sources.staged import (
    FetchResult,
    MalformedBody,
    NdjsonWriter,
    count_csv_records,
    remove_stale_files,
)

log = logging.getLogger(__name__)

USER_AGENT = "data-mesh/0.1"
API_KEY_HEADER = "X-Api-Key"
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
MAX_PAGES = 100_000  # a source announcing more pages than this is looping, not big
_TRANSIENT = (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError)
_SECRET_NAME = re.compile(r"(?i)key|token|secret|password|passwd|signature|sig$|auth|credential")
_ERROR_TEXT_LIMIT = 300
T = TypeVar("T")


@dataclass(frozen=True)
class ConnectionInfo:
    """The parts of an Airflow Connection the fetch needs; a plain object so tests need no Airflow.

    `host` may be a bare host name (then `schema` gives http/https and `port` the port) or a full base
    URL such as ``https://api.worldbank.org`` or ``http://127.0.0.1:8900``. `password` holds the secret
    (password, bearer token or API key, depending on the source's `Auth`); it is excluded from `repr`.
    """

    host: str
    schema: str | None = None
    port: int | None = None
    login: str | None = None
    password: str | None = field(default=None, repr=False)
    extra: Mapping[str, Any] = field(default_factory=dict, repr=False)

    @classmethod
    def from_airflow(cls, conn: Any) -> ConnectionInfo:
        """Copy an Airflow `Connection` (duck-typed: host, schema, port, login, password, extra_dejson)."""
        return cls(
            host=conn.host or "",
            schema=conn.schema or None,
            port=int(conn.port) if conn.port else None,
            login=conn.login or None,
            password=conn.password or None,
            extra=dict(conn.extra_dejson or {}),
        )

    @property
    def base_url(self) -> str:
        """scheme://host[:port][/path] without a trailing slash (and without any user info)."""
        host = (self.host or "").strip()
        if not host:
            raise ValueError("the connection has no host")
        if "://" not in host:
            scheme = (self.schema or "http").lower()
            if scheme not in ("http", "https"):
                raise ValueError(f"an HTTP connection's schema must be http or https, not {scheme!r}")
            host = f"{scheme}://{host}"
        parts = urlsplit(host)
        netloc = parts.hostname or ""
        port = parts.port or self.port
        if port:
            netloc = f"{netloc}:{port}"
        return urlunsplit((parts.scheme, netloc, parts.path.rstrip("/"), "", ""))


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to try before declaring a source down.

    Waits grow exponentially from `backoff_seconds` (with jitter, so parallel tasks do not retry in
    lockstep) and never exceed `max_backoff_seconds`. A server's `Retry-After` is honoured as asked,
    up to `max_retry_after_seconds` (`DATA_MESH_MAX_RETRY_AFTER_SECONDS`, default 300 s); a server
    asking for longer fails the fetch at once with a message that says so, instead of sleeping for
    an unbounded time inside a worker slot.
    """

    max_attempts: int = 5
    backoff_seconds: float = 0.5
    max_backoff_seconds: float = 30.0
    connect_timeout: float = 5.0
    read_timeout: float = 60.0
    max_retry_after_seconds: float = field(default_factory=conf.max_retry_after_seconds)

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be >= 1")
        if self.max_retry_after_seconds < 0:
            raise ValueError("max_retry_after_seconds must be >= 0")

    @property
    def timeout(self) -> tuple[float, float]:
        return (self.connect_timeout, self.read_timeout)

    def backoff(self, attempt: int) -> float:
        """Wait after failed attempt number `attempt` (1-based): equal-jitter exponential, capped."""
        ceiling = min(self.max_backoff_seconds, self.backoff_seconds * 2 ** (attempt - 1))
        return ceiling / 2 + random.uniform(0, ceiling / 2)

    def retry_after(self, header: str | None) -> float | None:
        """Seconds a `Retry-After` header asks for (delta-seconds or HTTP date); None if absent or unreadable.

        Not capped here: `get` compares it with `max_retry_after_seconds`.
        """
        if not header:
            return None
        header = header.strip()
        try:
            seconds = float(header)
        except ValueError:
            try:
                when = parsedate_to_datetime(header)
            except (TypeError, ValueError):
                return None
            if when.tzinfo is None:
                when = when.replace(tzinfo=UTC)
            seconds = (when - datetime.now(UTC)).total_seconds()
        return max(seconds, 0.0) if seconds == seconds else None


def fetch_source(
    source: HttpSource,
    connection: ConnectionInfo,
    out_dir: Path,
    template_values: dict[str, str],
    *,
    session: requests.Session | None = None,
    policy: RetryPolicy | None = None,
) -> FetchResult:
    """Fetch every page of `source` into `out_dir` and say what was written.

    JSON pages become `<source>-00001.ndjson`, ... (one file per non-empty page); a CSV body becomes
    `<source>.csv`. Stale files of the same source in `out_dir` are removed first, so a retried task
    never mixes two pulls. Raises `SourceError` when the source cannot be fetched completely.
    """
    if source.format == "csv" and source.pagination != "none":
        raise ValueError(f"source {source.name!r}: csv sources are fetched in one request (pagination none)")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    remove_stale_files(out_dir, source.name)
    own_session = session is None
    session = session or requests.Session()
    try:
        client = _Client.create(source, connection, template_values, session, policy or RetryPolicy())
        log.info("fetching source %s from %s", source.name, client.display_url({}))
        result = _fetch_csv(client, out_dir) if source.format == "csv" else _fetch_json(client, out_dir)
    finally:
        if own_session:
            session.close()
    log.info(
        "source %s: %d records in %d pages, %d files, %d bytes",
        source.name,
        result.records,
        result.pages,
        len(result.files),
        result.bytes,
    )
    return result


def sample_page(
    source: HttpSource,
    connection: ConnectionInfo,
    template_values: dict[str, str],
    *,
    policy: RetryPolicy | None = None,
) -> list[dict[str, Any]]:
    """The rows of the source's first page only (what `data-mesh new-product` infers a schema from):
    the same URL, auth, retries and paginator as `fetch_source`; raises `SourceError` the same way."""
    with requests.Session() as session:
        client = _Client.create(source, connection, template_values, session, policy or RetryPolicy())
        return next(iter(pagination.get(source.pagination)(client)), (0, []))[1]


# --------------------------------------------------------------------------------------------- internals


def _format(template: str, values: Mapping[str, str], source: str) -> str:
    try:
        return template.format(**values)
    except (KeyError, IndexError) as exc:
        raise ValueError(f"source {source!r}: template {template!r} needs a value for {exc}") from None


@dataclass
class _Client:
    """One source's requests: URL, auth, retries, and the secrets to keep out of messages."""

    source: HttpSource
    url: str
    params: dict[str, str]
    session: requests.Session
    policy: RetryPolicy
    headers: dict[str, str]
    auth: tuple[str, str] | None
    secrets: tuple[str, ...]
    last_status: int = 0

    @classmethod
    def create(
        cls,
        source: HttpSource,
        connection: ConnectionInfo,
        values: Mapping[str, str],
        session: requests.Session,
        policy: RetryPolicy,
    ) -> _Client:
        endpoint = _format(source.endpoint, values, source.name)
        params = {key: _format(value, values, source.name) for key, value in source.params.items()}
        accept = "text/csv" if source.format == "csv" else "application/json"
        headers = {"User-Agent": USER_AGENT, "Accept": accept}
        headers.update({str(k): str(v) for k, v in dict(connection.extra.get("headers") or {}).items()})
        secret = connection.password or ""
        auth = None
        if source.auth is not Auth.NONE and not secret:
            reason = f"connection has no secret for {source.auth.value} auth"
            raise SourceError(source.name, connection.base_url, None, reason)
        if source.auth is Auth.BEARER:
            headers["Authorization"] = f"Bearer {secret}"
        elif source.auth is Auth.API_KEY:
            headers[str(connection.extra.get("api_key_header") or API_KEY_HEADER)] = secret
        elif source.auth is Auth.BASIC:
            auth = (connection.login or "", secret)
        secrets = tuple(s for s in _secret_forms(connection.login, secret) if s)
        url = f"{connection.base_url}/{endpoint.lstrip('/')}"
        return cls(source, url, params, session, policy, headers, auth, secrets)

    @property
    def page_size(self) -> int:
        return self.source.page_size

    @property
    def cursor_field(self) -> str:
        return self.source.cursor_field

    # ---------------------------------------------------------------- messages

    def redact(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, "***")
        return text

    def display_url(self, extra_params: Mapping[str, Any]) -> str:
        """The request URL with secret-looking query values masked (and the connection secret redacted)."""
        params = {**self.params, **{k: str(v) for k, v in extra_params.items()}}
        shown = {k: ("***" if _SECRET_NAME.search(k) else v) for k, v in params.items()}
        query = urlencode(shown, safe=":;,")
        return self.redact(f"{self.url}?{query}" if query else self.url)

    def error(self, status: int | None, reason: str, extra: Mapping[str, Any] | None = None) -> SourceError:
        url = self.display_url(extra or {})
        return SourceError(self.source.name, url, status, self.redact(reason))

    # ---------------------------------------------------------------- requests

    def get(self, page: int, extra_params: Mapping[str, Any], consume: Callable[[requests.Response], T]) -> T:
        """GET one page, retrying transient failures; `consume` reads the body inside the retry loop."""
        params = {**self.params, **{k: str(v) for k, v in extra_params.items()}}
        attempts = self.policy.max_attempts
        status: int | None = None
        last = ""
        for attempt in range(1, attempts + 1):
            try:
                with self._send(params) as response:
                    status = response.status_code
                    if status not in RETRY_STATUSES:
                        self._raise_for_status(response, page, extra_params)
                        self.last_status = status
                        return consume(response)
                    wait = self._wait_for(response, attempt, page, extra_params)
                    last = f"HTTP {status}"
            except _TRANSIENT as exc:
                status, wait, last = None, self.policy.backoff(attempt), type(exc).__name__
            except requests.RequestException as exc:
                raise self.error(None, f"request failed: {type(exc).__name__}", extra_params) from None
            if attempt < attempts:
                log.warning(
                    "source %s page %d: attempt %d/%d failed (%s); retrying in %.2fs",
                    self.source.name, page, attempt, attempts, last, wait,
                )  # fmt: skip
                time.sleep(wait)
        raise self.error(status, f"page {page} failed after {attempts} attempts (last: {last})", extra_params)

    def _wait_for(
        self, response: requests.Response, attempt: int, page: int, extra: Mapping[str, Any]
    ) -> float:
        """How long to wait before the next attempt: the server's Retry-After, else our backoff."""
        asked = self.policy.retry_after(response.headers.get("Retry-After"))
        if asked is None:
            return self.policy.backoff(attempt)
        limit = self.policy.max_retry_after_seconds
        if asked > limit:
            reason = (
                f"page {page}: the server asks to retry after {asked:.0f} s, more than the maximum "
                f"{limit:.0f} s (DATA_MESH_MAX_RETRY_AFTER_SECONDS)"
            )
            raise self.error(response.status_code, reason, extra)
        return asked

    def _send(self, params: dict[str, str]) -> requests.Response:
        return self.session.get(
            self.url,
            params=params,
            headers=self.headers,
            auth=self.auth,
            timeout=self.policy.timeout,
            stream=True,
            # A redirect could carry an API-key header to another host; only anonymous sources follow them.
            allow_redirects=self.source.auth is Auth.NONE,
        )

    def _raise_for_status(self, response: requests.Response, page: int, extra: Mapping[str, Any]) -> None:
        status = response.status_code
        if 200 <= status < 300:
            return
        if 300 <= status < 400:
            location = urlsplit(response.headers.get("Location", ""))
            target = urlunsplit((location.scheme, location.hostname or "", location.path, "", ""))
            raise self.error(status, f"page {page}: redirect to {target!r} not followed", extra)
        reason = f"page {page}: {response.reason or 'error'}"
        detail = _error_detail(response)
        raise self.error(status, f"{reason}: {detail}" if detail else reason, extra)

    def json_page(self, page: int, extra_params: Mapping[str, Any]) -> Any:
        def consume(response: requests.Response) -> Any:
            raw = response.content
            try:
                return json.loads(raw)
            except ValueError as exc:
                reason = f"malformed JSON on page {page}: {exc}"
                raise self.error(response.status_code, reason, extra_params) from None

        return self.get(page, extra_params, consume)

    def records(self, body: Any, page: int, extra_params: Mapping[str, Any]) -> list[dict]:
        """The rows of an envelope page (`{records_field: [...], ...}`)."""
        field_name = self.source.records_field
        if not isinstance(body, dict) or field_name not in body:
            raise self.error(200, f"page {page} has no {field_name!r} field", extra_params)
        return self.checked_rows(body[field_name], page, extra_params)

    def checked_rows(self, rows: Any, page: int, extra_params: Mapping[str, Any]) -> list[dict]:
        if rows is None:
            return []
        if not isinstance(rows, list) or not all(isinstance(row, dict) for row in rows):
            raise self.error(200, f"page {page}: records are not a list of JSON objects", extra_params)
        return rows


def _secret_forms(login: str | None, secret: str) -> list[str]:
    """Every spelling of the secret that could end up in text: raw, and inside a basic-auth header."""
    forms = [secret]
    if secret:
        forms.append(base64.b64encode(f"{login or ''}:{secret}".encode()).decode())
    return forms


def _error_detail(response: requests.Response) -> str:
    """The error message of a 4xx/5xx body (JSON `error`/`message`/`detail`, or text), truncated."""
    try:
        raw = next(response.iter_content(4096), b"")
    except requests.RequestException:
        return ""
    text = raw.decode("utf-8", errors="replace").strip()
    try:
        body = json.loads(text)
    except ValueError:
        body = None
    if isinstance(body, dict):
        for key in ("error", "message", "detail", "error_description"):
            if body.get(key):
                text = body[key] if isinstance(body[key], str) else json.dumps(body[key])
                break
    text = " ".join(text.split())
    return text if len(text) <= _ERROR_TEXT_LIMIT else text[:_ERROR_TEXT_LIMIT] + "..."


def _fetch_json(client: _Client, out_dir: Path) -> FetchResult:
    writer = NdjsonWriter(out_dir, client.source.name)
    paginate = pagination.get(client.source.pagination)
    pages = 0
    for page, rows in paginate(client):
        writer.write(page, rows)
        pages = page
        name, status = client.source.name, client.last_status
        log.info("source %s page %d: %d records (HTTP %d)", name, page, len(rows), status)
        if page >= MAX_PAGES:
            raise client.error(200, f"more than {MAX_PAGES} pages; the source is probably looping")
    return writer.result(pages)


def _fetch_csv(client: _Client, out_dir: Path) -> FetchResult:
    path = out_dir / f"{client.source.name}.csv"

    def consume(response: requests.Response) -> int:
        written = 0
        with open(path, "wb") as handle:  # "wb": a retried stream starts the file over
            for chunk in response.iter_content(chunk_size=64 * 1024):
                handle.write(chunk)
                written += len(chunk)
        return written

    written = client.get(1, {}, consume)
    try:
        records = count_csv_records(path)
    except MalformedBody as exc:
        raise client.error(200, str(exc)) from None
    name, status = client.source.name, client.last_status
    log.info("source %s page 1: %d records (HTTP %d, %d bytes)", name, records, status, written)
    return FetchResult(client.source.name, (str(path),), records, 1, written, "csv")
