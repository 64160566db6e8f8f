"""The HTTP client of the Data Mesh API (the `data-mesh` CLI's way in), and the user's stored logins.

The API is the plugin app on Airflow's api-server (`<url>/data-mesh/api/...`); every call carries
the user's Airflow token (`Authorization: Bearer`), so the api-server, not the caller, says who is
reading. Where things come from:

* the URL: `--url`, else `DATA_MESH_API_URL`, else `http://localhost:8080`;
* the token: `DATA_MESH_API_TOKEN` if set, else the one `data-mesh login` stored for that URL in
  the credentials file (`DATA_MESH_CREDENTIALS_FILE`, else `$XDG_CONFIG_HOME/data-mesh/credentials.json`,
  else `~/.config/data-mesh/credentials.json`; mode 0600, a JSON object keyed by API URL).

Every call also sends `X-Data-Mesh-Client: cli`, which only labels the access path of the reads it
makes ("cli" instead of "api"); it never names a user. The token is never printed, logged or put
in a URL; errors carry the server's `detail` only.
"""

from __future__ import annotations

import base64
import json
import os
import re
import sys
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import requests

DEFAULT_URL = "http://localhost:8080"
CLIENT_HEADER = "X-Data-Mesh-Client"
TOKEN_ENV = "DATA_MESH_API_TOKEN"
URL_ENV = "DATA_MESH_API_URL"
CREDENTIALS_ENV = "DATA_MESH_CREDENTIALS_FILE"
CHUNK = 1 << 20
TIMEOUT = (10.0, 120.0)  # (connect, read) seconds
DOWNLOAD_TIMEOUT = (10.0, 600.0)  # the api-server spools a whole version before it answers
NO_ROUTE = ("Not Found", "Method Not Allowed")  # FastAPI's details when no route matches


class ApiError(Exception):
    """The api-server refused a request: its HTTP status, `detail` and error `kind` (when it has one)."""

    def __init__(self, status: int, detail: str, kind: str | None = None) -> None:
        self.status, self.detail, self.kind = status, detail, kind
        super().__init__(detail)


class NotLoggedIn(Exception):
    """No token, or one the api-server does not accept (401, or 403 "Invalid JWT token")."""

    def __init__(self, url: str, detail: str, token_source: str | None) -> None:
        self.url, self.detail, self.token_source = url, detail, token_source
        super().__init__(detail)


class LoginFailed(NotLoggedIn):
    """`POST /auth/token` refused the user name and password."""


class Unreachable(Exception):
    """The api-server did not answer (refused connection, unknown host, timeout)."""

    def __init__(self, url: str, reason: str) -> None:
        self.url, self.reason = url, reason
        super().__init__(f"the api-server at {url} is not reachable: {reason}")


def api_url(explicit: str | None = None) -> str:
    url = (explicit or os.environ.get(URL_ENV) or DEFAULT_URL).strip()
    if not re.match(r"^https?://[^/\s]+", url):
        raise ValueError(f"the API URL must start with http:// or https://, not {url!r}")
    return url.rstrip("/")


# ---- the credentials file -------------------------------------------------------------------


def credentials_path() -> Path:
    if explicit := os.environ.get(CREDENTIALS_ENV):
        return Path(explicit).expanduser()
    config = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(config) / "data-mesh" / "credentials.json"


def load_credentials(path: Path | None = None) -> dict[str, dict[str, Any]]:
    path = path or credentials_path()
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    if path.stat().st_mode & 0o077:
        print(f"data-mesh: warning: other users may read {path}; run: chmod 600 {path}", file=sys.stderr)
    try:
        found = json.loads(text)
    except json.JSONDecodeError:
        raise ValueError(f"{path} is not a data-mesh credentials file (invalid JSON)") from None
    return found if isinstance(found, dict) else {}


def _write_private(path: Path, data: dict[str, Any]) -> None:
    """Replace `path` atomically by a file only its owner can read (0600, in a 0700 folder if new)."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(descriptor, 0o600)  # also when the temporary file was left by a crash
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            json.dump(data, handle, indent=2, sort_keys=True)
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def save_token(url: str, token: str, username: str, path: Path | None = None) -> Path:
    path = path or credentials_path()
    stored = load_credentials(path)
    saved_at = datetime.now(UTC).isoformat(timespec="seconds")
    stored[url] = {"access_token": token, "username": username, "saved_at": saved_at}
    _write_private(path, stored)
    return path


def remove_token(url: str, path: Path | None = None) -> bool:
    """Forget the token stored for `url`; False when there was none. An empty file is deleted."""
    path = path or credentials_path()
    stored = load_credentials(path)
    if stored.pop(url, None) is None:
        return False
    if stored:
        _write_private(path, stored)
    else:
        path.unlink(missing_ok=True)
    return True


def resolve_token(url: str) -> tuple[str | None, str | None]:
    """(token, where it came from): DATA_MESH_API_TOKEN wins over the file; (None, None) if neither."""
    if token := os.environ.get(TOKEN_ENV, "").strip():
        return token, TOKEN_ENV
    path = credentials_path()
    entry = load_credentials(path).get(url) or {}
    stored = entry.get("access_token") if isinstance(entry, dict) else None
    return (stored, str(path)) if isinstance(stored, str) and stored else (None, None)


def token_claims(token: str) -> dict[str, Any]:
    """The claims of a JWT, decoded WITHOUT verifying it: for display only; the api-server verifies."""
    try:
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (IndexError, ValueError):
        return {}
    return claims if isinstance(claims, dict) else {}


# ---- HTTP -----------------------------------------------------------------------------------


class _Bearer(requests.auth.AuthBase):
    """The token as `Authorization: Bearer` (an auth object: ~/.netrc never replaces it)."""

    def __init__(self, token: str) -> None:
        self._token = token

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = f"Bearer {self._token}"
        return request

    def __repr__(self) -> str:
        return "_Bearer(<hidden>)"


def _reason(error: requests.RequestException) -> str:
    if isinstance(error, requests.Timeout):
        return "no answer in time"
    found = re.search(r"\[Errno -?\d+\] ([^'\")\]]+)", str(error))
    return found.group(1).strip() if found else type(error).__name__


def _detail(response: requests.Response) -> tuple[str, str | None]:
    try:
        body = response.json()
    except ValueError:
        return (response.text.strip()[:300] or response.reason or f"HTTP {response.status_code}"), None
    if not isinstance(body, dict):
        return str(body)[:300], None
    detail = body.get("detail")
    return (detail if isinstance(detail, str) else json.dumps(detail)), body.get("error")


def request_token(url: str, username: str, password: str) -> str:
    """Log in with Airflow's `POST /auth/token`; the user's JWT."""
    try:
        answer = requests.post(
            f"{url}/auth/token", json={"username": username, "password": password}, timeout=TIMEOUT
        )
    except requests.RequestException as error:
        raise Unreachable(url, _reason(error)) from None
    if answer.status_code in (400, 401, 403):
        raise LoginFailed(url, _detail(answer)[0], None)
    if not answer.ok:
        raise ApiError(answer.status_code, f"POST /auth/token: {_detail(answer)[0]}")
    token = answer.json().get("access_token") if "json" in answer.headers.get("content-type", "") else None
    if not token:
        raise ApiError(answer.status_code, "POST /auth/token answered without an access_token")
    return token


@dataclass(frozen=True)
class Streamed:
    """A download written to its sink, with the api-server's `X-Data-Mesh-*` headers."""

    headers: dict[str, str]
    bytes: int


class ApiClient:
    """Calls `<url>/data-mesh/api/...` with the user's token; refusals raise the errors above."""

    def __init__(self, url: str, token: str | None, token_source: str | None = None) -> None:
        self.url, self.token_source = url, token_source
        self.session = requests.Session()
        self.session.auth = _Bearer(token) if token else None
        self.session.headers.update({CLIENT_HEADER: "cli", "User-Agent": "data-mesh-cli"})

    @classmethod
    def from_environment(cls, url: str | None = None) -> ApiClient:
        base = api_url(url)
        token, source = resolve_token(base)
        return cls(base, token, source)

    def _send(self, method: str, path: str, product: str | None, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("timeout", TIMEOUT)
        try:
            answer = self.session.request(method, f"{self.url}/data-mesh/api{path}", **kwargs)
        except requests.RequestException as error:
            raise Unreachable(self.url, _reason(error)) from None
        if answer.ok:
            return answer
        with answer:
            detail, kind = _detail(answer)
        if answer.status_code == 401 or (answer.status_code == 403 and detail == "Invalid JWT token"):
            raise NotLoggedIn(self.url, detail, self.token_source)
        if answer.status_code == 404 and kind is None and product is not None:
            # no route matched (e.g. a product id with a slash): the product does not exist
            raise ApiError(404, f"unknown data product {product!r}", "unknown_product")
        if answer.status_code in (404, 405) and kind is None and detail in NO_ROUTE:
            # FastAPI's own answer: this api-server's plugin has no such endpoint (yet)
            what = f"the api-server has no {method} /data-mesh/api{path.split('?')[0]}"
            raise ApiError(
                answer.status_code, f"{what}: its data-mesh plugin is older than this CLI", "no_route"
            )
        raise ApiError(answer.status_code, detail, kind)

    def _json(self, answer: requests.Response) -> Any:
        try:
            return answer.json()
        except ValueError:
            what = "is it an Airflow api-server with the data-mesh plugin?"
            raise ApiError(answer.status_code, f"{self.url} did not answer JSON: {what}") from None

    def get(self, path: str, product: str | None = None, **params: Any) -> Any:
        query = {k: v for k, v in params.items() if v is not None}
        return self._json(self._send("GET", path, product, params=query))

    def post(self, path: str, body: dict[str, Any], *, product: str | None = None, **params: Any) -> Any:
        return self._json(self._send("POST", path, product, json=body, params=params))

    def stream(
        self,
        method: str,
        path: str,
        open_sink: Callable[[], AbstractContextManager[IO[bytes]]],
        product: str | None = None,
        **kwargs: Any,
    ) -> Streamed:
        """Write the answer's body to the sink `open_sink()` opens, once the api-server said yes."""
        answer = self._send(method, path, product, stream=True, timeout=DOWNLOAD_TIMEOUT, **kwargs)
        written = 0
        with answer, open_sink() as sink:
            for block in _blocks(answer, self.url):
                sink.write(block)
                written += len(block)
        headers = {k: v for k, v in answer.headers.items() if k.lower().startswith("x-data-mesh-")}
        return Streamed({k.lower(): v for k, v in headers.items()}, written)


def _blocks(answer: requests.Response, url: str) -> Iterator[bytes]:
    try:
        yield from answer.iter_content(CHUNK)
    except requests.RequestException as error:
        raise Unreachable(url, f"the download broke off: {_reason(error)}") from None


def product_path(product_id: str) -> str:
    """A product id as one path segment (a slash in it can never reach another route)."""
    from urllib.parse import quote

    return quote(product_id, safe="")
