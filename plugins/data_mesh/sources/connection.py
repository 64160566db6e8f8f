"""The parts of an Airflow Connection a source fetch needs, as a plain object (tests need no Airflow).

The secret (`password`) is kept out of `repr`, so a logged `ConnectionInfo` never shows it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit, urlunsplit


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
