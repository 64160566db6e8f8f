"""The demo sources' HTTP side: one request handler for the four business systems, the fault
injection and the control endpoints, over the state every handler thread shares.

`demo.source_server` builds a server around it (`start_server`, the CLI). Every answer is a pure
function of (seed, scale, request): the data is `demo.datasets`, the query strings are checked by
`demo.query`, the faults are `demo.faults`. Credentials are the demo's fixed values below; the
request log masks secret-looking query values and never writes headers.
"""

from __future__ import annotations

import base64
import csv
import hmac
import io
import json
import math
import re
import socket
import struct
import sys
import threading
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import urlsplit

from demo.datasets import LEDGER_HEADER, REGION_AT, WB_ERROR_BODY, WB_LAST_UPDATED, DemoWorld, iso_z
from demo.faults import (
    BODY_FAULTS,
    CURSOR_FAULTS,
    DATA_FAULTS,
    HANG_PIECES,
    SOURCES,
    TRANSPORT_FAULTS,
    Fault,
    FaultBook,
    ads_fault,
    customers_fault,
    fault_spec,
    ledger_fault,
    orders_fault,
    worldbank_fault,
)
from demo.query import BadRequest, Query, decode_cursor, encode_cursor, worldbank_request

ADS_API_KEY = "demo-ads-key"
CRM_TOKEN = "demo-crm-token"
ERP_USER, ERP_PASSWORD = "finance", "demo-erp-password"


# ------------------------------------------------------------------------------------------- faults


class SourceState:
    """What the request handlers share: the world, the pending faults and the request counters."""

    def __init__(self, seed: int, scale: float, quiet: bool) -> None:
        self.world = DemoWorld(seed, scale)
        self.quiet = quiet
        self.lock = threading.Lock()
        self.faults = FaultBook(seed)
        self.requests: dict[str, int] = dict.fromkeys(SOURCES, 0)
        self.webhooks: list[dict[str, Any]] = []  # what POST /_control/webhook received

    def count(self, source: str) -> None:
        with self.lock:
            self.requests[source] += 1

    def add_fault(self, fault: Fault) -> None:
        self.faults.add(fault)

    def clear_faults(self) -> None:
        self.faults.clear()

    def take(self, source: str, kinds: frozenset[str]) -> Fault | None:
        """The pending fault of one of `kinds` this request of `source` suffers (see demo.faults)."""
        return self.faults.take(source, kinds)


# ------------------------------------------------------------------------------------------ handler


_ROUTES = {
    "/ads/v1/campaign-performance": ("ads", "_ads"),
    "/crm/v1/orders": ("crm", "_crm_orders"),
    "/crm/v1/customers": ("crm", "_crm_customers"),
    "/erp/v1/ledger.csv": ("erp", "_erp_ledger"),
}
_WORLDBANK_PATH = re.compile(r"^/v2/country/(?P<codes>[^/]+)/indicator/(?P<indicator>[^/]+)/?$")
_SECRET_PARAM = re.compile(r"(?i)([?&][^=&]*(?:key|token|password|secret|signature)[^=&]*=)[^&]*")


class SourceHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, so a requests.Session reuses its connection
    timeout = 30  # idle keep-alive connections are dropped, their threads end
    server_version = "DemoSource/1.0"
    state: SourceState  # set on the subclass start_server creates

    # ---------------------------------------------------------------- plumbing

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        # One line per request: method, path (secret-looking query values masked), status. Never headers.
        if not self.state.quiet:
            path = _SECRET_PARAM.sub(r"\1***", self.path)
            sys.stderr.write(f"[demo-source] {self.command} {path} {code}\n")

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        if not self.state.quiet:
            sys.stderr.write("[demo-source] " + (format % args) + "\n")

    def _send_bytes(self, status: int, body: bytes, content_type: str, headers: dict | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _send_json(
        self, status: int, obj: Any, *, truncate: bool = False, headers: dict | None = None
    ) -> None:
        body = json.dumps(obj, separators=(",", ":")).encode()
        if truncate:  # a body cut in the middle: what a crashing upstream or a broken proxy produces
            body = body[: max(1, len(body) // 2)]
        self._send_bytes(status, body, "application/json; charset=utf-8", headers)

    def _send_data(self, source: str, obj: Any, *, malformed: bool) -> None:
        """A data endpoint's 200 answer, unless a body fault (truncated, hang) breaks its delivery."""
        fault = self.state.take(source, BODY_FAULTS)
        if fault is None:
            return self._send_json(200, obj, truncate=malformed)
        body = json.dumps(obj, separators=(",", ":")).encode()
        if malformed:
            body = body[: max(1, len(body) // 2)]
        half = max(1, len(body) // 2)
        try:
            self.send_response(200)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))  # the full length: the client can tell
            self.end_headers()
            self.wfile.write(body[:half])
            if fault.kind == "truncated":
                return self._drop_connection()
            rest = body[half:]
            step = max(1, -(-len(rest) // HANG_PIECES))
            for start in range(0, len(rest), step):
                if not self.state.faults.wait(float(fault.delay or 0)):
                    return self._drop_connection()
                self.wfile.write(rest[start : start + step])
        except OSError:  # the client gave up waiting
            return self._drop_connection()
        return None

    def _drop_connection(self, reset: bool = False) -> None:
        """End this connection now, with no (further) answer; `reset` sends a TCP RST instead of a FIN."""
        self.close_connection = True
        try:
            if reset:
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            else:
                self.connection.shutdown(socket.SHUT_RDWR)
            self.connection.close()
        except OSError:
            pass

    def _error(self, status: int, message: str, headers: dict | None = None) -> None:
        self._send_json(status, {"error": message}, headers=headers)

    def do_GET(self) -> None:  # noqa: N802 - stdlib naming
        self._dispatch()

    def do_POST(self) -> None:  # noqa: N802
        self._dispatch()

    def do_DELETE(self) -> None:  # noqa: N802
        self._dispatch()

    def _dispatch(self) -> None:
        url = urlsplit(self.path)
        if url.path.startswith("/_control/"):
            return self._control(url.path)
        body = self.headers.get("Content-Length")
        if body and body.isdigit():
            self.rfile.read(int(body))  # drain, so the keep-alive connection stays in sync
        match = _WORLDBANK_PATH.match(url.path)
        if match:
            source, action = "worldbank", "_worldbank"
        elif url.path in _ROUTES:
            source, action = _ROUTES[url.path]
        else:
            return self._error(404, f"no such endpoint {url.path[:100]!r}")
        self.state.count(source)
        if self.command != "GET":
            return self._error(405, f"{self.command} not allowed; use GET")
        if not self._transport_fault(source):
            return None
        if not self._authorized(source):
            return self._unauthorized(source)
        try:
            getattr(self, action)(url.query, **(match.groupdict() if match else {}))
        except BadRequest as exc:
            self._error(400, str(exc))
        return None

    def _transport_fault(self, source: str) -> bool:
        """Apply a pending transport fault (demo.faults); False when the request was answered or dropped."""
        fault = self.state.take(source, TRANSPORT_FAULTS)
        if fault is None:
            return True
        if fault.kind == "connection_reset":
            self._drop_connection(reset=True)
            return False
        if fault.kind == "rate_limit":
            retry_after = {"Retry-After": str(fault.retry_after)}
            body = {"error": "rate limit exceeded, retry later", "retry_after": fault.retry_after}
            self._send_json(429, body, headers=retry_after)
            return False
        if fault.kind == "server_error":
            self._error(503, "service temporarily unavailable")
            return False
        self.state.faults.wait(float(fault.delay or 0))  # slow
        return True

    def _authorized(self, source: str) -> bool:
        if source == "ads":
            return hmac.compare_digest(self.headers.get("X-Api-Key", "").encode(), ADS_API_KEY.encode())
        if source == "crm":
            expected = f"Bearer {CRM_TOKEN}".encode()
            return hmac.compare_digest(self.headers.get("Authorization", "").encode(), expected)
        if source == "erp":
            expected = "Basic " + base64.b64encode(f"{ERP_USER}:{ERP_PASSWORD}".encode()).decode()
            return hmac.compare_digest(self.headers.get("Authorization", "").encode(), expected.encode())
        return True

    def _unauthorized(self, source: str) -> None:
        if source == "erp":
            self._error(401, "authentication required", headers={"WWW-Authenticate": 'Basic realm="erp"'})
        elif source == "ads":
            self._error(401, "missing or invalid API key (X-Api-Key header)")
        else:
            self._error(401, "missing or invalid bearer token", headers={"WWW-Authenticate": "Bearer"})

    # ---------------------------------------------------------------- sources

    def _ads(self, raw_query: str) -> None:
        query = Query(raw_query, {"date", "page", "page_size"})
        day = query.day("date")
        page = query.integer("page", 1, 1)
        page_size = query.integer("page_size", 100, 1, 1000)
        rows = self.state.world.ads(day)
        data = list(rows[(page - 1) * page_size : page * page_size])
        fault = self.state.take("ads", DATA_FAULTS)
        kind = fault.kind if fault else None
        if kind:
            data = ads_fault(data, kind)
        body = {
            "data": data,
            "page": page,
            "page_size": page_size,
            "total_pages": math.ceil(len(rows) / page_size),
            "total": len(rows),
        }
        self._send_data("ads", body, malformed=kind == "malformed")

    def _cursor_page(self, query: Query, scope: str, rows: tuple[dict, ...], mutate: Any) -> None:
        limit = query.integer("limit", 100, 1, 1000)
        raw_cursor = query.values.get("cursor")
        offset = decode_cursor(raw_cursor, scope) if raw_cursor else 0
        data = list(rows[offset : offset + limit])
        following = offset + limit
        fault = self.state.take("crm", DATA_FAULTS)
        kind = fault.kind if fault else None
        if kind:
            data = mutate(data, kind)
        next_cursor = encode_cursor(scope, following) if following < len(rows) else None
        if raw_cursor and self.state.take("crm", CURSOR_FAULTS):
            next_cursor = raw_cursor  # the same page again, forever
        body = {"data": data, "next_cursor": next_cursor}
        self._send_data("crm", body, malformed=kind == "malformed")

    def _crm_orders(self, raw_query: str) -> None:
        query = Query(raw_query, {"date", "limit", "cursor"})
        day = query.day("date")
        self._cursor_page(query, f"orders:{day}", self.state.world.orders(day), orders_fault)

    def _crm_customers(self, raw_query: str) -> None:
        query = Query(raw_query, {"limit", "cursor"})
        self._cursor_page(query, "customers", self.state.world.customers(), customers_fault)

    def _erp_ledger(self, raw_query: str) -> None:
        month = Query(raw_query, {"month"}).month("month")
        fault = self.state.take("erp", DATA_FAULTS)
        kind = fault.kind if fault else None
        header = list(LEDGER_HEADER)
        if kind == "schema_drift":
            header.remove("region")
        self.send_response(200)
        self.send_header("Content-Type", "text/csv; charset=utf-8")
        self.send_header("Content-Disposition", f'attachment; filename="ledger-{month}.csv"')
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(header)
        delivery = self.state.take("erp", BODY_FAULTS)  # truncated: one chunk; hang: `delay` s per chunk
        chunks = 0
        try:
            for i, row in enumerate(ledger_fault(self.state.world.ledger(month), kind, REGION_AT)):
                if kind == "malformed" and i == 500:  # the export dies half-way through a line
                    buffer.write(",".join(row)[:30])
                    break
                writer.writerow(row)
                if buffer.tell() >= 64 * 1024:
                    if delivery and chunks and not self._chunk_fault(delivery):
                        return None
                    self._write_chunk(buffer)
                    chunks += 1
            if delivery and chunks and not self._chunk_fault(delivery):
                return None
            self._write_chunk(buffer)
            self.wfile.write(b"0\r\n\r\n")
        except OSError:  # the client hung up mid-export
            self._drop_connection()
        return None

    def _chunk_fault(self, fault: Fault) -> bool:
        """Before a further CSV chunk: False (connection dropped) when truncated or the wait failed."""
        if fault.kind == "truncated" or not self.state.faults.wait(float(fault.delay or 0)):
            self._drop_connection()
            return False
        return True

    def _write_chunk(self, buffer: io.StringIO) -> None:
        data = buffer.getvalue().encode()
        buffer.seek(0)
        buffer.truncate()
        if data:
            self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")

    def _worldbank(self, raw_query: str, codes: str, indicator: str) -> None:
        request = worldbank_request(raw_query, codes, indicator)
        if request is None:  # the real API answers 200 with an error message for a request it rejects
            return self._send_json(200, WB_ERROR_BODY)
        iso3_codes, first, last, page, per_page = request
        rows = self.state.world.worldbank_rows(indicator, iso3_codes, first, last)
        data = rows[(page - 1) * per_page : page * per_page]
        fault = self.state.take("worldbank", DATA_FAULTS)
        kind = fault.kind if fault else None
        if kind:
            data = worldbank_fault(data, kind)
        meta = {
            "page": page,
            "pages": math.ceil(len(rows) / per_page),
            "per_page": per_page,
            "total": len(rows),
            "sourceid": "2",
            "lastupdated": WB_LAST_UPDATED,
        }
        return self._send_data("worldbank", [meta, data or None], malformed=kind == "malformed")

    # ---------------------------------------------------------------- control

    def _control(self, path: str) -> None:
        if path == "/_control/health" and self.command == "GET":
            return self._send_json(200, {"status": "ok"})
        if path in ("/_control/webhook", "/_control/webhooks"):
            return self._webhooks(path)
        if path == "/_control/requests" and self.command == "GET":
            with self.state.lock:
                return self._send_json(200, dict(self.state.requests))
        if path != "/_control/faults":
            return self._error(404, f"no such control endpoint {path!r}")
        if self.command == "DELETE":
            self.state.clear_faults()
            return self._send_json(200, {"faults": []})
        if self.command != "POST":
            return self._error(405, f"{self.command} not allowed on {path}")
        try:
            length = int(self.headers.get("Content-Length") or 0)
            fault = fault_spec(json.loads(self.rfile.read(length) or b"{}"))
        except (ValueError, TypeError) as exc:
            return self._error(400, str(exc))
        self.state.add_fault(fault)
        return self._send_json(201, {"source": fault.source, "kind": fault.kind, "count": fault.count})

    def _webhooks(self, path: str) -> None:
        """The alert receiver: POST /_control/webhook keeps the body (and whether a bearer token came)."""
        if path == "/_control/webhooks" and self.command in ("GET", "DELETE"):
            with self.state.lock:
                received = list(self.state.webhooks)
                if self.command == "DELETE":
                    self.state.webhooks.clear()
            return self._send_json(200, {"webhooks": received, "total": len(received)})
        if path != "/_control/webhook" or self.command != "POST":
            return self._error(405, f"{self.command} not allowed on {path}")
        try:
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"null")
        except ValueError:
            return self._error(400, "the body must be JSON")
        entry = {
            "received_at": iso_z(datetime.now(UTC)),
            "authorization": self.headers.get("Authorization"),
            "body": body,
        }
        with self.state.lock:
            self.state.webhooks.append(entry)
        return self._send_json(201, {"received": len(self.state.webhooks)})
