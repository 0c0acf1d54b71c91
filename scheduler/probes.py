"""The daemon's HTTP probes: ``/healthz``, ``/readyz`` and ``/metrics``, served from a thread.

Not on the event loop: a server on the loop cannot answer while the loop is blocked, which is
exactly when /healthz must say so. The server thread asks the loop to run a callback and waits
a bounded time for it (``[http] loop_timeout``): no answer is a 503 that says how long it waited.
The loop is blocked in earnest when a synchronous call waits on it (a SQLite write waiting for
another process's lock holds it for up to the lock timeout; see tests/test_probes.py).

/readyz (:meth:`Probes.ready`) reads the store on connections of its own
(:mod:`marsad.storage.status`), never the daemon's: that one belongs to the loop.
"""

from __future__ import annotations

import json
import logging
import socket
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from socketserver import ThreadingMixIn
from typing import TYPE_CHECKING, Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import make_wsgi_app

from marsad.storage.status import check_writable, oldest_due_alert_at, open_reader
from marsad.times import from_iso, to_iso

if TYPE_CHECKING:
    import asyncio
    from pathlib import Path
    from wsgiref.types import StartResponse, WSGIApplication, WSGIEnvironment

    from prometheus_client import CollectorRegistry

    from marsad.config import HttpConfig

log = logging.getLogger("marsad.probes")


@dataclass(frozen=True)
class ProbeResult:
    ok: bool
    checks: dict[str, dict[str, Any]] = field(default_factory=dict)

    def body(self) -> bytes:
        status = "ok" if self.ok else "failing"
        failed = [name for name, check in self.checks.items() if not check["ok"]]
        return json.dumps(
            {"status": status, "failed": failed, "checks": self.checks}, ensure_ascii=False
        ).encode("utf-8")


class Probes:
    """The daemon's liveness and readiness, asked from any thread.

    The loop side is two calls: :meth:`ticked` from the scheduler's heartbeat job, and
    :attr:`stopping` set when the daemon begins to stop.
    """

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        store_path: Path,
        http: HttpConfig,
        *,
        store_inode: tuple[int, int] | None = None,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.loop = loop
        self.store_path = store_path
        self.http = http
        self.store_inode = store_inode
        self.clock = clock
        self.wall_clock = wall_clock
        self.last_tick = clock()  # the start counts as a tick: the first is a moment away
        # Alerts due before the daemon started are counted from its start: a backlog it finds
        # is given alert_age to drain before it is "not ready" (and the watchdog restarts it).
        self.started = wall_clock()
        self.stopping = False

    def ticked(self) -> None:
        self.last_tick = self.clock()

    def alive(self) -> ProbeResult:
        """Whether the event loop runs a callback within ``loop_timeout``."""
        answered = threading.Event()
        asked = self.clock()
        try:
            self.loop.call_soon_threadsafe(answered.set)
        except RuntimeError:  # the loop is closed
            return ProbeResult(False, {"loop": {"ok": False, "detail": "the event loop is closed"}})
        timeout = self.http.loop_timeout
        if answered.wait(timeout):
            seconds = round(self.clock() - asked, 4)
            return ProbeResult(True, {"loop": {"ok": True, "answered_in_seconds": seconds}})
        detail = f"the event loop did not answer within {timeout:g}s (blocked)"
        return ProbeResult(False, {"loop": {"ok": False, "detail": detail}})

    def ready(self) -> ProbeResult:
        """Store writable, scheduler ticked recently, no alert due for too long; not while
        stopping."""
        checks = {
            "store": self._store(),
            "scheduler": self._scheduler(),
            "outbox": self._outbox(),
        }
        if self.stopping:
            checks["daemon"] = {"ok": False, "detail": "stopping"}
        return ProbeResult(all(check["ok"] for check in checks.values()), checks)

    def _store(self) -> dict[str, Any]:
        check = check_writable(self.store_path, inode=self.store_inode)
        return {"ok": check.ok, "detail": check.detail, "busy": check.busy}

    def _scheduler(self) -> dict[str, Any]:
        age = self.clock() - self.last_tick
        limit = self.http.scheduler_stale
        if age > limit:
            detail = f"the scheduler has not ticked for {age:.1f}s (limit {limit:g}s)"
            return {"ok": False, "detail": detail, "tick_age_seconds": round(age, 3)}
        return {"ok": True, "tick_age_seconds": round(age, 3)}

    def _outbox(self) -> dict[str, Any]:
        now = self.wall_clock()
        try:
            db = open_reader(self.store_path)
            try:
                due_at = oldest_due_alert_at(db, to_iso(now))
            finally:
                db.close()
        except Exception as exc:  # a store that cannot be read is not ready either
            return {"ok": False, "detail": f"cannot read the outbox: {exc}"}
        if due_at is None:
            return {"ok": True, "oldest_due_age_seconds": 0}
        age = max(0.0, (now - max(from_iso(due_at), self.started)).total_seconds())
        limit = self.http.alert_age
        if age > limit:
            detail = f"an alert has been due for {age:.0f}s (limit {limit:g}s)"
            return {"ok": False, "detail": detail, "oldest_due_age_seconds": age}
        return {"ok": True, "oldest_due_age_seconds": age}


def probe_app(probes: Probes, registry: CollectorRegistry) -> WSGIApplication:
    """/healthz, /readyz (JSON; 200 or 503) and /metrics (Prometheus' own exposition)."""
    metrics = make_wsgi_app(registry)

    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if environ.get("REQUEST_METHOD") not in ("GET", "HEAD"):
            return _answer(start_response, "405 Method Not Allowed", b'{"error": "GET only"}')
        if path == "/metrics":
            answer: Iterable[bytes] = metrics(environ, start_response)
            return answer
        if path == "/healthz":
            result = probes.alive()
        elif path == "/readyz":
            result = probes.ready()
        else:
            body = b'{"error": "not found", "paths": ["/healthz", "/readyz", "/metrics"]}'
            return _answer(start_response, "404 Not Found", body)
        status = "200 OK" if result.ok else "503 Service Unavailable"
        return _answer(start_response, status, result.body())

    return app


def _answer(start_response: StartResponse, status: str, body: bytes) -> list[bytes]:
    start_response(
        status,
        [
            ("Content-Type", "application/json"),
            ("Content-Length", str(len(body))),
            ("Cache-Control", "no-store"),
        ],
    )
    return [body]


class _QuietHandler(WSGIRequestHandler):
    """No line on stderr per request (a scraper every 15 s would fill the log)."""

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s %s", self.address_string(), format % args)


class _ThreadingServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True  # a probe hanging on a blocked loop never holds up the exit


class _ThreadingServer6(_ThreadingServer):
    address_family = socket.AF_INET6


class ProbeServer:
    """The probes' HTTP server on its own thread: ``start()``, ``url``, ``stop()``."""

    def __init__(self, host: str, port: int, app: WSGIApplication) -> None:
        server_class = _ThreadingServer6 if ":" in host else _ThreadingServer
        self._server = make_server(
            host, port, app, server_class=server_class, handler_class=_QuietHandler
        )
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.5},
            name="marsad-probes",
            daemon=True,
        )

    @property
    def address(self) -> tuple[str, int]:
        host, port = self._server.server_address[:2]
        return str(host), int(port)

    @property
    def url(self) -> str:
        host, port = self.address
        return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Stop serving (blocks for at most the poll interval) and close the socket."""
        if self._thread.is_alive():
            self._server.shutdown()
            self._thread.join(timeout=5)
        self._server.server_close()
