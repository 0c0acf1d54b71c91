"""Small HTTP servers on 127.0.0.1 for the demo: a static site and a webhook sink.

Each runs in a daemon thread on an ephemeral port and never listens beyond loopback.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from marsad.demo.site import Page


@dataclass
class ReceivedRequest:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class _State:
    pages: Mapping[str, Page] = field(default_factory=dict)
    received: list[ReceivedRequest] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_GET(self) -> None:
        page = self.server.state.pages.get(self.path.split("?", 1)[0])
        if page is None:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Type", page.content_type)
        self.send_header("Content-Length", str(len(page.body)))
        self.end_headers()
        self.wfile.write(page.body)

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(min(length, 10 * 1024 * 1024))
        with self.server.state.lock:
            self.server.state.received.append(
                ReceivedRequest(self.path, dict(self.headers.items()), body)
            )
        self.send_response(204)
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:  # the demo prints its own story
        return


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, state: _State) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.state = state


class LoopbackServer:
    """Serves ``pages`` (GET) and records every POST, until :meth:`close`."""

    def __init__(self, pages: Mapping[str, Page] | None = None) -> None:
        self._state = _State(pages=dict(pages or {}))
        self._server = _Server(self._state)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def set_pages(self, pages: Mapping[str, Page]) -> None:
        self._state.pages = dict(pages)

    def received(self) -> list[ReceivedRequest]:
        with self._state.lock:
            return list(self._state.received)

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
