"""A deterministic HTTP server standing in for the four business systems the demo domains fetch from.

Sources (the key in brackets is what fault injection and request counters use):

* [ads] ads platform  ``GET /ads/v1/campaign-performance?date=&page=&page_size=`` (header ``X-Api-Key``)
* [crm] CRM           ``GET /crm/v1/orders?date=&limit=&cursor=`` and ``GET /crm/v1/customers?limit=&cursor=``
                      (header ``Authorization: Bearer ...``)
* [erp] ERP ledger    ``GET /erp/v1/ledger.csv?month=YYYY-MM`` (HTTP basic auth), streamed CSV
* [worldbank]         ``GET /v2/country/{codes}/indicator/{id}?format=json&page=&per_page=&date=`` (no auth),
                      the real World Bank API v2 body shape, including its 200-with-error-message answers.
* control (tests)     ``POST/DELETE /_control/faults`` (body: source, kind, count, retry_after, delay, skip,
                      probability; the kinds are in demo/faults.py), ``GET /_control/health``,
                      ``GET /_control/requests``
* alert receiver      ``POST /_control/webhook`` keeps the JSON body it gets (the platform's SLO alerts),
                      ``GET /_control/webhooks`` lists them oldest first, ``DELETE /_control/webhooks`` clears

Every answer is a pure function of (seed, scale, request): the data is `demo.datasets`, the query
strings are checked by `demo.query`, the faults are `demo.faults`.
Only the standard library is used, so the server runs anywhere the platform does. The request
handler is `demo.source_handler`; this module runs it (a thread in tests, or the command line).

Run it: ``python -m demo.source_server --host 127.0.0.1 --port 8900 --seed 42 --scale 1``.
In tests: ``server = start_server(port=0)`` then ``server.url``, ``server.set_fault(...)``, ``server.stop()``.
"""

from __future__ import annotations

import argparse
import copy
import sys
import threading
from http.server import ThreadingHTTPServer
from typing import Any

from demo.datasets import DemoWorld
from demo.faults import FAULT_KINDS, SOURCES, Fault
from demo.source_handler import SourceHandler, SourceState

__all__ = ["FAULT_KINDS", "SOURCES", "DemoSourceServer", "DemoWorld", "Fault", "start_server"]

# ---------------------------------------------------------------------------------------- server API


class DemoSourceServer:
    """A running demo server: its base `url`, fault injection and per-source request counters."""

    def __init__(
        self, httpd: ThreadingHTTPServer, state: SourceState, thread: threading.Thread | None
    ) -> None:
        self._httpd, self._state, self._thread = httpd, state, thread
        host, port = httpd.server_address[:2]
        self.host, self.port = str(host), int(port)
        self.url = f"http://{self.host}:{self.port}"

    @property
    def world(self) -> DemoWorld:
        """The data this server serves; tests compare what they fetched against it."""
        return self._state.world

    @property
    def requests(self) -> dict[str, int]:
        """How many requests each source received so far (a snapshot), faulted and rejected ones included."""
        with self._state.lock:
            return dict(self._state.requests)

    def reset_requests(self) -> None:
        with self._state.lock:
            self._state.requests.update(dict.fromkeys(SOURCES, 0))

    def set_fault(
        self,
        source: str,
        kind: str,
        count: int = 1,
        *,
        retry_after: int = 1,
        delay: float | None = None,
        skip: int = 0,
        probability: float = 1.0,
    ) -> None:
        """Make the next `count` requests of `source` ("*" = all) misbehave; -1 = until `clear_faults()`.

        The first `skip` matching requests pass untouched; each later one is hit with `probability`
        (deterministic draws). `kind` is one of FAULT_KINDS (see demo.faults).
        """
        self._state.add_fault(Fault(source, kind, count, retry_after, delay, skip, probability))

    def clear_faults(self) -> None:
        self._state.clear_faults()

    def webhooks(self) -> list[dict[str, Any]]:
        """What `POST /_control/webhook` received, oldest first: {received_at, authorization, body}."""
        with self._state.lock:
            return copy.deepcopy(self._state.webhooks)

    def clear_webhooks(self) -> None:
        with self._state.lock:
            self._state.webhooks.clear()

    def serve_forever(self) -> None:
        self._httpd.serve_forever()

    def stop(self) -> None:
        self._state.faults.stopping.set()  # hanging answers end now
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> DemoSourceServer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def _build(
    host: str, port: int, seed: int, scale: float, quiet: bool
) -> tuple[ThreadingHTTPServer, SourceState]:
    if not scale > 0:
        raise ValueError("scale must be > 0")
    state = SourceState(seed, scale, quiet)
    handler = type("DemoSourceHandler", (SourceHandler,), {"state": state})
    httpd = ThreadingHTTPServer((host, port), handler)
    httpd.daemon_threads = True
    return httpd, state


def start_server(
    host: str = "127.0.0.1", port: int = 0, seed: int = 42, scale: float = 1, *, quiet: bool = False
) -> DemoSourceServer:
    """Start the server on a background thread (port 0 = any free port); it accepts requests on return."""
    httpd, state = _build(host, port, seed, scale, quiet)
    thread = threading.Thread(target=httpd.serve_forever, name="demo-source-server", daemon=True)
    thread.start()
    return DemoSourceServer(httpd, state, thread)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8900)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--scale", type=float, default=1)
    parser.add_argument("--quiet", action="store_true", help="do not log one line per request")
    args = parser.parse_args(argv)
    httpd, state = _build(args.host, args.port, args.seed, args.scale, args.quiet)
    server = DemoSourceServer(httpd, state, None)
    sys.stderr.write(f"[demo-source] serving on {server.url} (seed={args.seed}, scale={args.scale})\n")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        httpd.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
