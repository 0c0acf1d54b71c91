"""A webhook receiver on 127.0.0.1 that counts TCP connections, for tests of connection reuse.

Like tests/webhook_sink.py it answers every POST (200 by default, ``status`` per path), and it
also records which connection each request came on (the client's port), how many connections it
accepted and how many are open now. ``drop_reused(n)``: the next ``n`` requests that arrive on a
connection that already served one are read and then the connection is closed without an answer
(a receiver whose idle timeout closed a kept-alive connection just as the request came);
``drop_fresh(n)`` does the same to requests on new connections (a receiver that dies on them).
``restart()`` closes the listening socket and every open connection, as a process that exits
does, then listens again on the same port.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections import Counter
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType

# Longer than any test here waits on an idle connection: the receiver never closes one of its
# own accord, so a connection that ends was closed by the client (or by restart()).
IDLE_TIMEOUT = 30.0


@dataclass(frozen=True)
class Arrival:
    port: int  # the client's port: one per TCP connection
    path: str
    key: str  # the Idempotency-Key header
    answered: bool


class CountingSink:
    def __init__(self, *, status: dict[str, int] | None = None, delay: float = 0.0) -> None:
        self.status = dict(status or {})
        self.delay = delay
        self.arrivals: list[Arrival] = []
        self.ports: Counter[int] = Counter()  # requests per connection
        self.accepted = 0
        self._open: dict[int, socket.socket] = {}
        self._drops = {True: 0, False: 0}  # by "on a reused connection"
        self._lock = threading.Lock()
        self._port = 0
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._port}"

    @property
    def open_connections(self) -> int:
        with self._lock:
            return len(self._open)

    def keys(self, path: str | None = None) -> Counter[str]:
        """How often each idempotency key was answered (on ``path``, or anywhere)."""
        with self._lock:
            return Counter(a.key for a in self.arrivals if a.answered and path in (None, a.path))

    def drop_reused(self, count: int = 1) -> None:
        with self._lock:
            self._drops[True] += count

    def drop_fresh(self, count: int = 1) -> None:
        with self._lock:
            self._drops[False] += count

    def wait_closed(self, timeout: float = 5.0) -> bool:
        """Whether every connection is closed within ``timeout`` seconds (polled)."""
        deadline = time.monotonic() + timeout
        while self.open_connections and time.monotonic() < deadline:
            time.sleep(0.01)
        return self.open_connections == 0

    def start(self) -> None:
        self._server = ThreadingHTTPServer(("127.0.0.1", self._port), self._handler_class())
        self._server.daemon_threads = True
        # A client that hangs up while it is answered is expected here, not worth a trace.
        self._server.handle_error = lambda request, client_address: None  # type: ignore[method-assign]
        self._port = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        with self._lock:
            connections = list(self._open.values())
        for connection in connections:
            with contextlib.suppress(OSError):  # already closed by the client
                connection.shutdown(socket.SHUT_RDWR)
        if self._thread is not None:
            self._thread.join(timeout=5.0)
        self._server = None

    def restart(self) -> None:
        self.stop()
        self.start()

    def __enter__(self) -> CountingSink:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        sink = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            timeout = IDLE_TIMEOUT

            def setup(self) -> None:
                super().setup()
                # Headers and body go out in two writes: without this, the body waits for the
                # client's delayed ACK (40 ms a request).
                self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                with sink._lock:
                    sink.accepted += 1
                    sink._open[self.client_address[1]] = self.connection

            def finish(self) -> None:
                try:
                    super().finish()
                finally:
                    with sink._lock:
                        sink._open.pop(self.client_address[1], None)

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                self.rfile.read(length)
                port = self.client_address[1]
                key = self.headers.get("Idempotency-Key", "")
                with sink._lock:
                    reused = sink.ports[port] > 0
                    sink.ports[port] += 1
                    drop = sink._drops[reused] > 0
                    if drop:
                        sink._drops[reused] -= 1
                    sink.arrivals.append(Arrival(port, self.path, key, answered=not drop))
                if drop:
                    self.close_connection = True
                    return
                if sink.delay:
                    time.sleep(sink.delay)
                self.send_response(sink.status.get(self.path, 200))
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, format: str, *args: object) -> None:
                """Quiet: the test asserts on what was recorded instead."""

        return Handler
