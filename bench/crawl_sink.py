"""The crawl benchmark's webhook receiver on 127.0.0.1: answers 200 and notes, for every alert,
when it arrived (monotonic, comparable with the web farm's log) and which article it names."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType


@dataclass(frozen=True)
class Received:
    t: float  # time.monotonic() when the body had been read
    url: str  # the alert's article URL
    rule: str
    key: str  # the idempotency key: a repeat of one alert has the same


class Sink:
    def __init__(self) -> None:
        self.received: list[Received] = []
        self.unreadable = 0
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}/hook"

    def since(self, start: float) -> list[Received]:
        with self._lock:
            return [r for r in self.received if r.t >= start]

    def __enter__(self) -> Sink:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def _note(self, t: float, body: bytes) -> None:
        try:
            document = json.loads(body)
            received = Received(
                t,
                str(document["article"]["url"]),
                str(document["rule"]),
                str(document["idempotency_key"]),
            )
        except (ValueError, KeyError, TypeError):
            with self._lock:
                self.unreadable += 1
            return
        with self._lock:
            self.received.append(received)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        sink = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            timeout = 10

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                sink._note(time.monotonic(), body)
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, format: str, *args: object) -> None:
                """Quiet: the figures are what it is for."""

        return Handler
