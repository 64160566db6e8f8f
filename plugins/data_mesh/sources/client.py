"""One source's HTTP client: URL, auth, bounded retries and timeouts, and messages without secrets.

Invariants:

* Every request goes through `SourceClient.get`, which enforces the bounds: at most `max_pages`
  pages (the contract's `maxPages`, else `DATA_MESH_SOURCE_MAX_PAGES`) are ever requested, each page
  at most `RetryPolicy.max_attempts` times, each attempt within the policy's timeouts (the
  `request_timeout` deadline is checked while the body streams in; see `sources.retry`).
* A body is read inside the retry loop (`consume`), so a connection that drops mid-body is retried
  like one that drops before the headers, and nothing of a failed attempt is kept.
* The body is read with `read1` in pieces of up to `CHUNK_BYTES` (whatever has arrived), the deadline
  checked after each. Measured (`bench.fetch`, cProfile, 1,000-order pages of about 170 KB): 4 reads
  per page, against about 22 for `requests`' own `.json()`; the read path is not where a fetch spends
  its time (JSON decoding and the staging files' encoding are, see `sources.staged`).
* Every `SourceError` names the source, the page and the URL with secret-looking query values masked
  and the connection's secret redacted.
"""

from __future__ import annotations

import base64
import json
import logging
import re
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from itertools import repeat
from typing import Any, TypeVar
from urllib.parse import urlencode, urlsplit, urlunsplit

import requests
import urllib3

from data_mesh import conf
from data_mesh.contract.spec import Auth, HttpSource
from data_mesh.exceptions import SourceError
from data_mesh.sources.connection import ConnectionInfo
from data_mesh.sources.retry import TRANSIENT_ERRORS, RequestDeadlineExceeded, RetryPolicy

log = logging.getLogger(__name__)

USER_AGENT = "data-mesh/0.1"
API_KEY_HEADER = "X-Api-Key"
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
CHUNK_BYTES = 64 * 1024
_SECRET_NAME = re.compile(r"(?i)key|token|secret|password|passwd|signature|sig$|auth|credential")
_ERROR_TEXT_LIMIT = 300
T = TypeVar("T")


def _format(template: str, values: Mapping[str, str], source: str) -> str:
    try:
        return template.format(**values)
    except (KeyError, IndexError) as exc:
        raise ValueError(f"source {source!r}: template {template!r} needs a value for {exc}") from None


@dataclass
class SourceClient:
    """One source's requests: URL, auth, retries, and the secrets to keep out of messages."""

    source: HttpSource
    url: str
    params: dict[str, str]
    session: requests.Session
    policy: RetryPolicy
    headers: dict[str, str]
    auth: tuple[str, str] | None
    secrets: tuple[str, ...]
    max_pages: int
    last_status: int = 0
    _deadline: float = 0.0

    @classmethod
    def create(
        cls,
        source: HttpSource,
        connection: ConnectionInfo,
        values: Mapping[str, str],
        session: requests.Session,
        policy: RetryPolicy,
    ) -> SourceClient:
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
        max_pages = source.max_pages or conf.source_max_pages()
        return cls(source, url, params, session, policy, headers, auth, secrets, max_pages)

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
        if page > self.max_pages:
            reason = (
                f"page {page}: more than {self.max_pages} pages (the contract's maxPages or "
                "DATA_MESH_SOURCE_MAX_PAGES); the source is probably looping"
            )
            raise self.error(None, reason, extra_params)
        params = {**self.params, **{k: str(v) for k, v in extra_params.items()}}
        attempts = self.policy.max_attempts
        status: int | None = None
        last = ""
        for attempt in range(1, attempts + 1):
            self._deadline = time.monotonic() + self.policy.request_timeout
            try:
                with self._send(params) as response:
                    status = response.status_code
                    if status not in RETRY_STATUSES:
                        self._raise_for_status(response, page, extra_params)
                        self.last_status = status
                        return consume(response)
                    wait = self._wait_for(response, attempt, page, extra_params)
                    last = f"HTTP {status}"
            except TRANSIENT_ERRORS as exc:
                status, wait, last = None, self.policy.backoff(attempt), self.policy.describe(exc)
            except requests.RequestException as exc:
                raise self.error(None, f"request failed: {type(exc).__name__}", extra_params) from None
            if attempt < attempts:
                log.warning(
                    "source %s page %d: attempt %d/%d failed (%s); retrying in %.2fs",
                    self.source.name, page, attempt, attempts, last, wait,
                )  # fmt: skip
                time.sleep(wait)
        raise self.error(status, f"page {page} failed after {attempts} attempts (last: {last})", extra_params)

    def chunks(self, response: requests.Response) -> Iterator[bytes]:
        """The body as it arrives; `RequestDeadlineExceeded` (transient) past the attempt's deadline.

        `read1` returns whatever bytes are there (`iter_content` would wait for a full chunk, so a
        trickling source would never meet the deadline check); urllib3's errors become the `requests`
        ones `iter_content` raises, so retries and messages see one vocabulary.
        """
        while True:
            try:
                chunk = response.raw.read1(CHUNK_BYTES, decode_content=True)
            except urllib3.exceptions.ProtocolError as exc:
                raise requests.exceptions.ChunkedEncodingError(exc) from exc
            except urllib3.exceptions.ReadTimeoutError as exc:
                raise requests.ConnectionError(exc) from exc
            except urllib3.exceptions.DecodeError as exc:
                raise requests.exceptions.ContentDecodingError(exc) from exc
            if not chunk:
                return
            if time.monotonic() > self._deadline:
                raise RequestDeadlineExceeded(f"longer than {self.policy.request_timeout:g} s")
            yield chunk

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
        """One page's JSON body. A body cut short in transit is retried (transient, see `sources.retry`);
        a complete body that is not JSON is the source's bug and fails at once."""

        def consume(response: requests.Response) -> Any:
            raw = b"".join(self.chunks(response))
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
        if not isinstance(rows, list) or not all(map(isinstance, rows, repeat(dict))):
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
