"""How hard the fetch tries: the retry policy, the timeouts, and what each transport failure is called.

Invariants:

* Every attempt is bounded in time: `connect_timeout` for the connection, `read_timeout` for any
  silence (before the headers or in the middle of the body), and `request_timeout` for the whole
  request, body included, so a source trickling one byte every few seconds cannot hold a worker slot
  for ever. The deadline is checked as bytes arrive, so one attempt ends within
  `connect_timeout + request_timeout + read_timeout` at worst.
* Every page is bounded in attempts (`max_attempts`) and in waits (capped exponential backoff, or the
  server's `Retry-After` up to `max_retry_after_seconds`), so a page costs at most
  `max_attempts` requests and a computable time (`worst_case_seconds`).
* Which failures are transient is decided here, once: connection refused/reset, closed without an
  answer, a body cut short of its announced length, timeouts. They are retried with the same budget;
  a complete answer that is wrong (4xx, malformed JSON, a looping cursor) is not retried.

Defaults come from `data_mesh.conf` (`DATA_MESH_SOURCE_*_TIMEOUT_SECONDS`,
`DATA_MESH_MAX_RETRY_AFTER_SECONDS`).
Imports no Airflow; `requests` only for its exception types.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import requests

from data_mesh import conf


class RequestDeadlineExceeded(requests.Timeout):
    """One request (body included) took longer than `RetryPolicy.request_timeout`."""


# What the fetch retries: everything the transport can do wrong before a complete answer arrives.
TRANSIENT_ERRORS = (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError)


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
    connect_timeout: float = field(default_factory=conf.source_connect_timeout_seconds)
    read_timeout: float = field(default_factory=conf.source_read_timeout_seconds)
    request_timeout: float = field(default_factory=conf.source_request_timeout_seconds)
    max_retry_after_seconds: float = field(default_factory=conf.max_retry_after_seconds)

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be >= 1")
        if self.max_retry_after_seconds < 0:
            raise ValueError("max_retry_after_seconds must be >= 0")
        for name in ("connect_timeout", "read_timeout", "request_timeout"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be > 0 seconds")

    @property
    def timeout(self) -> tuple[float, float]:
        return (self.connect_timeout, self.read_timeout)

    def backoff(self, attempt: int) -> float:
        """Wait after failed attempt number `attempt` (1-based): equal-jitter exponential, capped."""
        ceiling = min(self.max_backoff_seconds, self.backoff_seconds * 2 ** (attempt - 1))
        return ceiling / 2 + random.uniform(0, ceiling / 2)

    def worst_case_seconds(self) -> float:
        """The longest one page can take when the source only times out (no Retry-After asked)."""
        attempt = self.connect_timeout + self.request_timeout + self.read_timeout
        cap, base = self.max_backoff_seconds, self.backoff_seconds
        waits = sum(min(cap, base * 2 ** (n - 1)) for n in range(1, self.max_attempts))
        return self.max_attempts * attempt + waits

    def retry_after(self, header: str | None) -> float | None:
        """Seconds a `Retry-After` header asks for (delta-seconds or HTTP date); None if absent or unreadable.

        Not capped here: `SourceClient.get` compares it with `max_retry_after_seconds`.
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

    def describe(self, exc: BaseException) -> str:
        """A transport failure in words, for logs and the final `SourceError` (no URL, no secret)."""
        name = type(exc).__name__
        if isinstance(exc, RequestDeadlineExceeded):
            return (
                f"the request took longer than {self.request_timeout:g} s "
                f"(DATA_MESH_SOURCE_REQUEST_TIMEOUT_SECONDS) ({name})"
            )
        if isinstance(exc, requests.ConnectTimeout):
            return f"no connection within {self.connect_timeout:g} s ({name})"
        causes = _causes(exc)
        if isinstance(exc, requests.ReadTimeout) or "ReadTimeoutError" in causes:
            return f"no data for {self.read_timeout:g} s, the read timeout ({name})"
        if "IncompleteRead" in causes or isinstance(exc, requests.exceptions.ChunkedEncodingError):
            detail = next((text for text in _texts(exc) if "bytes read" in text), "")
            shown = f": {detail}" if detail else ""
            return f"the connection closed before the body was complete{shown} ({name})"
        if "ConnectionResetError" in causes:
            return f"the connection was reset by the source ({name})"
        if "RemoteDisconnected" in causes:
            return f"the source closed the connection without answering ({name})"
        if "ConnectionRefusedError" in causes or "NewConnectionError" in causes:
            return f"connection refused ({name})"
        return name


def _chain(exc: BaseException) -> list[BaseException]:
    """The exception and everything it wraps (cause, context, exception arguments), breadth first."""
    seen: list[BaseException] = []
    todo = [exc]
    while todo and len(seen) < 20:
        current = todo.pop(0)
        if any(current is s for s in seen):
            continue
        seen.append(current)
        todo += [a for a in current.args if isinstance(a, BaseException)]
        todo += [e for e in (current.__cause__, current.__context__) if e is not None]
        reason = getattr(current, "reason", None)
        if isinstance(reason, BaseException):
            todo.append(reason)
    return seen


def _causes(exc: BaseException) -> set[str]:
    return {type(e).__name__ for e in _chain(exc)}


def _texts(exc: BaseException) -> list[str]:
    """Messages of wrapped IncompleteRead errors only: they hold byte counts, never a URL."""
    return [str(e) for e in _chain(exc) if type(e).__name__ == "IncompleteRead"]
