"""A webhook receiver on 127.0.0.1 for tests: records every request and answers as it is told.

By default it answers 200. ``answer_next(503, count=2, headers={"Retry-After": "60"})`` makes the
next two requests fail that way; ``hold=True`` makes a request wait (bounded) before answering,
to provoke a client timeout.
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType

# The longest a held request waits, so a test that forgets to release it still ends.
HOLD_MAX = 5.0


@dataclass(frozen=True)
class Received:
    method: str
    path: str
    headers: dict[str, str]  # keys lower-cased
    body: bytes


@dataclass(frozen=True)
class _Answer:
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    hold: bool = False


class WebhookSink:
    def __init__(self) -> None:
        self.requests: list[Received] = []
        self._answers: deque[_Answer] = deque()
        self._lock = threading.Lock()
        self._release = threading.Event()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        # A short poll interval: shutdown() waits for the next poll, and every test stops a sink.
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def answer_next(
        self,
        status: int,
        *,
        count: int = 1,
        headers: dict[str, str] | None = None,
        body: bytes = b"",
        hold: bool = False,
    ) -> None:
        with self._lock:
            for _ in range(count):
                self._answers.append(_Answer(status, dict(headers or {}), body, hold))

    def __enter__(self) -> WebhookSink:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._release.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=HOLD_MAX)

    def _next_answer(self, received: Received) -> _Answer:
        with self._lock:
            self.requests.append(received)
            return self._answers.popleft() if self._answers else _Answer(200, body=b"ok")

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        sink = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            timeout = HOLD_MAX

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                if len(body) < length:
                    # The sender died mid-request: a receiver takes nothing it did not get
                    # whole, and answers nothing (the sender will try again).
                    self.close_connection = True
                    return
                headers = {k.lower(): v for k, v in self.headers.items()}
                answer = sink._next_answer(Received("POST", self.path, headers, body))
                if answer.hold:
                    sink._release.wait(HOLD_MAX)
                self.send_response(answer.status)
                for name, value in answer.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(answer.body)))
                self.end_headers()
                self.wfile.write(answer.body)

            def log_message(self, format: str, *args: object) -> None:
                """Quiet: the test asserts on ``requests`` instead."""

        return Handler
