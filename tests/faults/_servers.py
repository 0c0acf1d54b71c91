"""What the hostile-input and concurrent-writer trials share: a loopback HTTP server whose routes
write raw answers (bombs, drips, silence, pages too big to hold), synthetic Arabic articles and
feeds, and marsad run as a real subprocess whose peak memory is measured by the kernel.

Nothing here sleeps to wait: every wait polls a condition with a deadline.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import resource
import signal
import socket
import subprocess
import sys
import threading
import time
import zlib
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any
from xml.sax.saxutils import escape

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from tests.webhook_sink import WebhookSink

MARSAD = [sys.executable, "-c", "from marsad.cli import main; main()"]
# The longest any route holds a connection open, so a trial that goes wrong still ends.
HOLD_MAX = 90.0
MB = 1024 * 1024

# -- waiting ------------------------------------------------------------------------------------


def wait_until(condition: Callable[[], object], timeout: float, poll: float = 0.02) -> bool:
    """Poll ``condition`` until it holds (True) or ``timeout`` seconds pass (False)."""
    deadline = time.monotonic() + timeout
    while True:
        if condition():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(poll)


# -- synthetic Arabic ---------------------------------------------------------------------------

# Written for these trials (not taken from any article): the words articles are drawn from.
_PHRASES = (
    "أعلنت الحكومة اليوم عن خطة جديدة لتطوير الموانئ والطرق في المحافظات الشمالية",
    "وقال المتحدث باسم الوزارة إن المشروع يشمل بناء جسور ومدارس ومستشفيات",
    "وأضاف أن العمل سيبدأ الشهر المقبل بمشاركة شركات محلية ودولية",
    "وشهدت الأسواق حركة نشطة مع اقتراب الموسم الزراعي وارتفاع أسعار القمح",
    "ونظم المزارعون لقاء مع ممثلي البلدية لمناقشة مياه الري والطاقة",
    "واستقبل المعرض آلاف الزوار من الطلاب والباحثين والعائلات",
)
_WORDS = tuple(word for phrase in _PHRASES for word in phrase.split())


def arabic_text(seed: int, words: int = 120) -> str:
    """Distinct generated Arabic prose for ``seed`` (no two seeds share their wording), with
    the seed written in so no two articles are copies of each other."""
    rng = random.Random(seed)
    sentences = []
    for part in range(max(1, words // 20)):
        sentences.append(" ".join(rng.choice(_WORDS) for _ in range(20)) + f" ({seed}-{part}).")
    return " ".join(sentences)


def arabic_title(seed: int, tag: str = "") -> str:
    rng = random.Random(-seed - 1)
    return f"{tag}{' '.join(rng.choice(_WORDS) for _ in range(6))} {seed}"


def article_page(title: str, text: str, extra_head: str = "", extra_body: str = "") -> str:
    paragraphs = "".join(f"<p>{escape(part)}.</p>" for part in text.split(". ") if part)
    return (
        '<!DOCTYPE html><html lang="ar" dir="rtl"><head><meta charset="utf-8">'
        f"<title>{escape(title)}</title>{extra_head}</head><body><article>"
        f"<h1>{escape(title)}</h1>{paragraphs}{extra_body}</article></body></html>"
    )


@dataclass(frozen=True)
class Item:
    """One feed entry; ``title_xml`` and ``description_xml`` go into the feed as they are, so
    a trial can put markup, entities or character references there."""

    link: str
    title_xml: str
    description_xml: str
    guid: str


def rss(items: Iterable[Item], *, doctype: str = "", title: str = "أخبار") -> bytes:
    body = "".join(
        f"<item><title>{item.title_xml}</title><link>{escape(item.link)}</link>"
        f'<guid isPermaLink="false">{escape(item.guid)}</guid>'
        f"<description>{item.description_xml}</description></item>\n"
        for item in items
    )
    return (
        f'<?xml version="1.0" encoding="utf-8"?>\n{doctype}'
        f'<rss version="2.0"><channel><title>{escape(title)}</title>'
        f"<link>http://127.0.0.1/</link>\n{body}</channel></rss>\n"
    ).encode()


# -- raw answers --------------------------------------------------------------------------------


def gzip_bomb(expanded: int) -> bytes:
    """A valid gzip stream of ``expanded`` zero bytes, made without ever holding them: deflate
    flushed after each 1 MiB gives the same compressed bytes for every MiB, so they repeat."""
    assert expanded % MB == 0
    block = bytes(MB)
    head = zlib.compressobj(9, zlib.DEFLATED, 31)  # wbits 31: a gzip header and trailer
    first = head.compress(block) + head.flush(zlib.Z_FULL_FLUSH)
    again = head.compress(block) + head.flush(zlib.Z_FULL_FLUSH)
    again_too = head.compress(block) + head.flush(zlib.Z_FULL_FLUSH)
    assert again == again_too  # the repeat is exact, so the stream is what deflate would give
    end = zlib.compressobj(9, zlib.DEFLATED, -15)
    final = end.compress(b"") + end.flush(zlib.Z_FINISH)  # an empty last block
    crc = 0
    for _ in range(expanded // MB):
        crc = zlib.crc32(block, crc)
    trailer = crc.to_bytes(4, "little") + (expanded % 2**32).to_bytes(4, "little")
    return first + again * (expanded // MB - 1) + final + trailer


class Answer:
    """What a route does with a request: ``handle(h)`` writes the raw answer."""

    def handle(self, h: _Handler) -> None:
        raise NotImplementedError


@dataclass(frozen=True)
class Fixed(Answer):
    body: bytes
    content_type: str = "text/html; charset=utf-8"
    headers: Mapping[str, str] | None = None
    status: int = 200

    def handle(self, h: _Handler) -> None:
        h.send_response(self.status)
        h.send_header("Content-Type", self.content_type)
        for name, value in (self.headers or {}).items():
            h.send_header(name, value)
        h.send_header("Content-Length", str(len(self.body)))
        h.end_headers()
        h.wfile.write(self.body)


@dataclass(frozen=True)
class Delayed(Answer):
    """``answer``, after ``seconds`` of saying nothing: a page that takes a moment to come."""

    answer: Answer
    seconds: float

    def handle(self, h: _Handler) -> None:
        if not h.owner.stopping.wait(self.seconds):
            self.answer.handle(h)


@dataclass(frozen=True)
class Endless(Answer):
    """``total`` bytes of an Arabic page, written 64 KiB at a time, so the server never holds
    them; ``declare`` says whether Content-Length tells the client how big it will be."""

    total: int
    declare: bool

    def handle(self, h: _Handler) -> None:
        chunk = ("<p>" + "زيتون وقمح " * 2900 + "</p>\n").encode()[: 64 * 1024]
        h.send_response(200)
        h.send_header("Content-Type", "text/html; charset=utf-8")
        if self.declare:
            h.send_header("Content-Length", str(self.total))
        h.end_headers()
        h.wfile.write(b"<html><body>")
        sent = 0
        while sent < self.total and not h.owner.stopping.is_set():
            h.wfile.write(chunk)
            sent += len(chunk)
            h.owner.count_bytes(len(chunk))


@dataclass(frozen=True)
class Drip(Answer):
    """An answer that never completes in time: headers, then one byte every ``every`` seconds."""

    every: float = 0.2

    def handle(self, h: _Handler) -> None:
        h.send_response(200)
        h.send_header("Content-Type", "text/html; charset=utf-8")
        h.send_header("Content-Length", "100000")
        h.end_headers()
        deadline = time.monotonic() + HOLD_MAX
        while time.monotonic() < deadline and not h.owner.stopping.wait(self.every):
            h.wfile.write(b" ")
            h.wfile.flush()
            h.owner.count_bytes(1)


@dataclass(frozen=True)
class Silent(Answer):
    """Reads the request and says nothing at all, holding the connection."""

    def handle(self, h: _Handler) -> None:
        h.owner.stopping.wait(HOLD_MAX)
        h.close_connection = True


class HostileServer:
    """``with HostileServer() as server: server.route("/feed.xml", Fixed(...))``: a real HTTP
    server on 127.0.0.1 (ephemeral port, a thread per connection) that logs every request."""

    def __init__(self) -> None:
        self.answers: dict[str, Answer] = {}
        self.stopping = threading.Event()
        self._requests: list[tuple[str, dict[str, str]]] = []
        self._bytes_sent = 0
        self._lock = threading.Lock()
        handler = type("Handler", (_Handler,), {"owner": self})
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def base(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    def url(self, path: str) -> str:
        return self.base + path

    def route(self, path: str, answer: Answer) -> str:
        self.answers[path] = answer
        return self.url(path)

    def paths(self) -> list[str]:
        with self._lock:
            return [path for path, _ in self._requests]

    def request_headers(self) -> list[dict[str, str]]:
        """The headers of every request, names lower-cased."""
        with self._lock:
            return [dict(headers) for _, headers in self._requests]

    def count_bytes(self, n: int) -> None:
        with self._lock:
            self._bytes_sent += n

    @property
    def bytes_sent(self) -> int:
        with self._lock:
            return self._bytes_sent

    def log(self, path: str, headers: dict[str, str]) -> None:
        with self._lock:
            self._requests.append((path, headers))

    def __enter__(self) -> HostileServer:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stopping.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)


class _Handler(BaseHTTPRequestHandler):
    server_version = "marsad-hostile/1"
    owner: HostileServer

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        self.owner.log(path, {k.lower(): v for k, v in self.headers.items()})
        answer = self.owner.answers.get(path)
        if answer is None:
            answer = Fixed(b"not found", "text/plain", status=404)
        # The crawler gives up on some answers (size limit, timeout): expected, not an error.
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            answer.handle(self)

    def log_message(self, format: str, *args: object) -> None:
        pass  # the request log above is what trials read


# -- an SMTP server ------------------------------------------------------------------------------


class Inbox:
    """An aiosmtpd handler that keeps every message it accepts."""

    def __init__(self) -> None:
        self.envelopes: list[Envelope] = []
        self.port = 0

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        self.envelopes.append(envelope)
        return "250 OK"

    def messages(self) -> list[EmailMessage]:
        parser = BytesParser(policy=policy.default)
        out = []
        for envelope in self.envelopes:
            message = parser.parsebytes(envelope.original_content or b"")
            assert isinstance(message, EmailMessage)
            out.append(message)
        return out


class _EphemeralController(Controller):
    """Listens on a port the OS picks; aiosmtpd connects to its own port once started, so the
    server is created on port 0 and the chosen port read back from its socket first."""

    def _create_server(self) -> Awaitable[Any]:
        async def create() -> Any:
            server = await self.loop.create_server(
                self._factory_invoker, host=self.hostname, port=0, ssl=self.ssl_context
            )
            self.port = server.sockets[0].getsockname()[1]
            return server

        return create()


@contextlib.contextmanager
def smtp_inbox() -> Iterator[Inbox]:
    inbox = Inbox()
    controller = _EphemeralController(inbox, hostname="127.0.0.1", port=0)
    controller.start()
    inbox.port = controller.port
    try:
        yield inbox
    finally:
        controller.stop()


# -- marsad as a measured subprocess ------------------------------------------------------------


class PatientSink(WebhookSink):
    """tests/webhook_sink.py's receiver, keeping an idle keep-alive connection open for a minute
    (as nginx does for 75 s) rather than 5 s.

    A sender that waits longer than the receiver's idle timeout between two sends on one pooled
    connection meets a connection the receiver just closed (ReadError, and a retry half a minute
    later). A real hazard, but not the one a writers trial is about, in which a delivery pass
    waits seconds for the write lock between two sends.
    """

    IDLE_TIMEOUT = 60.0

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        base = super()._handler_class()
        return type("PatientHandler", (base,), {"timeout": self.IDLE_TIMEOUT})


@dataclass(frozen=True)
class Finished:
    """A process that ended: its exit code, how long it ran, its peak resident memory as the
    kernel counted it (``ru_maxrss`` of exactly this child, from wait4), and its output."""

    returncode: int
    seconds: float
    peak_rss_mb: float
    output: str
    timed_out: bool


class Measured:
    """A command in a session of its own, its output in a file (a pipe nobody reads could fill
    and block it), reaped with wait4 so its own peak RSS is known (RUSAGE_CHILDREN would give
    the largest of every child this test process ever had)."""

    def __init__(
        self,
        args: Sequence[str],
        *,
        cwd: Path,
        log: Path,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.log = log
        with log.open("wb") as out:
            self.proc = subprocess.Popen(
                list(args),
                cwd=cwd,
                env={**os.environ, **(env or {})},
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.started = time.monotonic()
        self._finished: Finished | None = None

    def output(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")

    def poll(self) -> Finished | None:
        if self._finished is None:
            pid, status, usage = os.wait4(self.proc.pid, os.WNOHANG)
            if pid:
                self._reaped(status, usage, timed_out=False)
        return self._finished

    def running(self) -> bool:
        return self.poll() is None

    def finish(self, timeout: float) -> Finished:
        """Wait for the process to end by itself; SIGKILL its session after ``timeout``."""
        if not wait_until(lambda: self.poll() is not None, timeout, poll=0.02):
            self.signal(signal.SIGKILL)
            _, status, usage = os.wait4(self.proc.pid, 0)
            self._reaped(status, usage, timed_out=True)
        assert self._finished is not None
        return self._finished

    def signal(self, signum: int) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signum)

    def ensure_dead(self) -> None:
        if self.running():
            self.finish(0)

    def _reaped(self, status: int, usage: resource.struct_rusage, *, timed_out: bool) -> None:
        code = os.waitstatus_to_exitcode(status)
        self.proc.returncode = code  # reaped here: Popen must not wait for it again
        peak_kb = float(usage.ru_maxrss)  # Linux: kilobytes
        self._finished = Finished(
            returncode=code,
            seconds=time.monotonic() - self.started,
            peak_rss_mb=peak_kb / 1024,
            output=self.output(),
            timed_out=timed_out,
        )


def marsad(
    args: Sequence[str], *, cwd: Path, log: Path, env: Mapping[str, str] | None = None
) -> Measured:
    return Measured([*MARSAD, *args], cwd=cwd, log=log, env=env)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def write_jsonl(path: Path, articles: Iterable[Mapping[str, object]]) -> int:
    count = 0
    with path.open("w", encoding="utf-8") as out:
        for article in articles:
            out.write(json.dumps(article, ensure_ascii=False) + "\n")
            count += 1
    return count
