"""A TCP forwarding proxy for fault tests: a real network hop that can refuse, cut or slow connections.

The fault tests put one in front of a shared service (the machine's PostgreSQL, the S3 endpoint)
for the platform's URL only, so that "the database refuses connections for 30 s" or "the S3
endpoint goes away" happens to the platform and to nothing else on the machine.

Modes (switched from any thread; the proxy runs its own asyncio loop on a daemon thread):

- forwarding (the default): bytes are copied both ways, as they come;
- `refuse()`: the listening socket is closed, so new connections get ECONNREFUSED (what a stopped
  server gives), and every open connection is cut (what its clients see when it stops);
- `restore()`: listening again, on the same port;
- `delay(seconds)`: each chunk from the service is held that long before it is passed on (a slow
  link: the client's calls take longer, nothing is lost).

Counters (`accepted`, `cut`) say what the fault did. Standard library only.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
from collections.abc import Coroutine
from typing import Any

CHUNK = 65536


class TcpProxy:
    def __init__(self, target_host: str, target_port: int, listen_host: str = "127.0.0.1") -> None:
        self.target = (target_host, target_port)
        self.listen_host = listen_host
        with socket.socket() as sock:
            sock.bind((listen_host, 0))
            self.port = int(sock.getsockname()[1])
        self.accepted = 0
        self.cut = 0
        self.refusing = False
        self._delay = 0.0
        self._server: asyncio.base_events.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name=f"proxy-{self.port}", daemon=True)

    # ---- control (any thread) --------------------------------------------------------------
    def start(self) -> TcpProxy:
        self._thread.start()
        self._call(self._listen())
        return self

    def refuse(self) -> None:
        """Stop listening (ECONNREFUSED) and cut every open connection."""
        self.refusing = True
        self._call(self._close(cut=True))

    def restore(self) -> None:
        self.refusing = False
        self._call(self._listen())

    def delay(self, seconds: float) -> None:
        self._delay = seconds

    def stop(self) -> None:
        with contextlib.suppress(Exception):
            self._call(self._close(cut=True))
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)

    def _call(self, coro: Coroutine[Any, Any, Any]) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(10)

    # ---- the loop's side ---------------------------------------------------------------------
    async def _listen(self) -> None:
        if self._server is None:
            self._server = await asyncio.start_server(
                self._serve, self.listen_host, self.port, reuse_address=True
            )

    async def _close(self, cut: bool) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
        if cut:
            for writer in list(self._writers):
                self.cut += 1
                writer.transport.abort()  # a reset, not a polite close: the service is gone
            self._writers.clear()

    async def _serve(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        self.accepted += 1
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection(*self.target)
        except OSError:
            client_writer.transport.abort()
            return
        pair = (client_writer, upstream_writer)
        self._writers.update(pair)
        try:
            await asyncio.gather(
                self._pump(client_reader, upstream_writer, slow=False),
                self._pump(upstream_reader, client_writer, slow=True),
            )
        finally:
            for writer in pair:
                self._writers.discard(writer)
                writer.transport.abort()

    async def _pump(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, slow: bool) -> None:
        try:
            while chunk := await reader.read(CHUNK):
                if slow and self._delay:
                    await asyncio.sleep(self._delay)
                writer.write(chunk)
                await writer.drain()
        except (ConnectionError, OSError, asyncio.CancelledError):
            pass
        finally:
            if writer.can_write_eof() and not writer.transport.is_closing():
                with contextlib.suppress(OSError):
                    writer.write_eof()
