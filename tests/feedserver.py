"""A real HTTP server on 127.0.0.1 (ephemeral port, in a thread) serving the crawl fixtures.

Routes cover what a feed crawler meets: conditional GET (304), 500, 503 with Retry-After, a
truncated feed, a page that hangs (for a bounded time), a huge page, Arabic pages in
windows-1256 and ISO-8859-6 with no charset, a robots.txt that disallows /private/, and an HTML
list of latest articles (a source of another kind than a feed). Tests add routes of their own
(:meth:`FeedServer.serve`), a feed of N numbered entries with generated Arabic pages
(:meth:`FeedServer.serve_numbered`), pauses before answering (:attr:`FeedServer.delays`) and a
gate that holds requests past the first N (:meth:`FeedServer.hold`).
Every request is logged so tests can say what was (not) fetched.
"""

from __future__ import annotations

import contextlib
import hashlib
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "crawl"
LAST_MODIFIED = "Sun, 12 May 2024 12:00:00 GMT"
ROBOTS = b"User-agent: *\nDisallow: /private/\n"
# The longest a hanging page holds its connection; far above the tests' download timeout.
HANG_SECONDS = 10.0
# The longest a held request waits for release(); far above any test's wait for a crawl.
GATE_SECONDS = 90.0
HUGE_BYTES = 3 * 1024 * 1024
# The latest-articles page: relative links (resolved against the page) and their titles.
LATEST = (
    ("/articles/container-ship.html", "وصول أول سفينة حاويات إلى الرصيف الجديد"),
    ("../articles/mountain-rain.html", "أمطار غزيرة تغلق الطرق الجبلية"),
)


@dataclass(frozen=True)
class Seen:
    path: str
    headers: dict[str, str]
    # time.monotonic() when the request came (per-site gaps between requests).
    at: float = field(default_factory=time.monotonic)


class FeedServer:
    """``with FeedServer() as server: server.url("/feeds/rss-utf8.xml")``."""

    def __init__(self) -> None:
        self.generation = 1  # 2: the Atom feed gains an entry
        self.requests: list[Seen] = []
        # Routes a test adds: path -> the answers (status, body, content type) given in turn,
        # the last one again and again; and how many requests each has had.
        self.extra: dict[str, list[tuple[int, bytes, str]]] = {}
        self._answered: dict[str, int] = {}
        # Seconds to wait before answering a path that starts with the key (bounded, as hang).
        self.delays: dict[str, float] = {}
        # hold(): requests under a prefix past the first N wait until release() (bounded).
        self._held_prefix: str | None = None
        self._held_after = 0
        self._held_seen = 0
        self._released = threading.Event()
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    @property
    def base(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    def url(self, path: str) -> str:
        return self.base + path

    def paths(self) -> list[str]:
        with self._lock:
            return [seen.path for seen in self.requests]

    def clear_log(self) -> None:
        with self._lock:
            self.requests.clear()

    def hold(self, prefix: str, after: int) -> None:
        """Answer the first ``after`` requests under ``prefix``; hold every later one until
        :meth:`release` (or GATE_SECONDS): a crawl that is surely mid-way, whatever the load."""
        with self._lock:
            self._held_prefix, self._held_after, self._held_seen = prefix, after, 0
            self._released.clear()

    def release(self) -> None:
        with self._lock:
            self._held_prefix = None
        self._released.set()

    def _wait_at_gate(self, path: str) -> None:
        with self._lock:
            if self._held_prefix is None or not path.startswith(self._held_prefix):
                return
            self._held_seen += 1
            if self._held_seen <= self._held_after:
                return
        self._released.wait(GATE_SECONDS)

    def serve(
        self, path: str, body: str | bytes, content_type: str = "text/html; charset=utf-8"
    ) -> str:
        """Answer ``path`` with ``body`` (str: UTF-8, ``{base}`` replaced); return its URL."""
        return self.serve_in_turn(path, [body], content_type)

    def serve_in_turn(
        self,
        path: str,
        bodies: list[str] | list[bytes],
        content_type: str = "text/html; charset=utf-8",
        *,
        statuses: list[int] | None = None,
    ) -> str:
        """Answer the first request for ``path`` with the first body (and status, default 200),
        the next with the next, and every one after the last with the last (a feed that changes
        between polls, a page that fails a few times)."""
        answers = [
            (b.replace("{base}", self.base).encode("utf-8") if isinstance(b, str) else b)
            for b in bodies
        ]
        codes = statuses or [200] * len(answers)
        with self._lock:
            self.extra[path] = [
                (code, data, content_type) for code, data in zip(codes, answers, strict=True)
            ]
            self._answered[path] = 0
        return self.url(path)

    def _extra_answer(self, path: str) -> tuple[int, bytes, str] | None:
        with self._lock:
            answers = self.extra.get(path)
            if not answers:
                return None
            turn = self._answered[path]
            self._answered[path] = turn + 1
            return answers[min(turn, len(answers) - 1)]

    def serve_numbered(self, count: int, prefix: str = "/many") -> str:
        """An RSS feed of ``count`` entries (``{prefix}/feed.xml``, unchanging) whose pages
        ``{prefix}/N.html`` are distinct generated Arabic articles; return the feed's URL."""
        items = "".join(
            f"<item><title>{numbered_title(n)}</title><link>{{base}}{prefix}/{n}.html</link>"
            f'<guid isPermaLink="false">{prefix.strip("/")}-{n}</guid>'
            f"<description>{numbered_title(n)}</description></item>\n"
            for n in range(1, count + 1)
        )
        for n in range(1, count + 1):
            self.serve(f"{prefix}/{n}.html", numbered_page(n))
        return self.serve(
            f"{prefix}/feed.xml",
            f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
            f"<title>أخبار مرقمة</title><link>{{base}}/</link>\n{items}</channel></rss>",
            "application/rss+xml; charset=utf-8",
        )

    def __enter__(self) -> FeedServer:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stopping.set()
        self.release()
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    # -- what each route answers ----------------------------------------------------------------

    def _log(self, path: str, headers: dict[str, str]) -> None:
        with self._lock:
            self.requests.append(Seen(path, headers))

    def _fixture(self, name: str) -> str:
        return (FIXTURES / name).read_text(encoding="utf-8").replace("{base}", self.base)

    def rss_utf8(self, h: _Handler) -> None:
        body = self._fixture("rss-utf8.xml").encode("utf-8")
        etag = '"' + hashlib.sha1(body).hexdigest()[:16] + '"'
        if h.headers.get("If-None-Match") == etag or (
            h.headers.get("If-Modified-Since") == LAST_MODIFIED
        ):
            h.reply(304, b"", extra={"ETag": etag})
            return
        h.reply(
            200,
            body,
            "application/rss+xml; charset=utf-8",
            extra={"ETag": etag, "Last-Modified": LAST_MODIFIED},
        )

    def atom_cp1256(self, h: _Handler) -> None:
        extra = self._fixture("atom-extra-entry.xml") if self.generation >= 2 else ""
        text = self._fixture("atom-cp1256.xml").replace("{extra}", extra)
        h.reply(200, text.encode("cp1256"), "application/atom+xml")

    def broken(self, h: _Handler) -> None:
        h.reply(200, self._fixture("broken-rss.xml").encode("utf-8"), "application/rss+xml")

    def hang(self, h: _Handler) -> None:
        # Bounded: the server's shutdown or HANG_SECONDS ends it, whichever comes first.
        self._stopping.wait(HANG_SECONDS)
        h.reply(200, b"<html><body>too late</body></html>", "text/html")

    def huge(self, h: _Handler) -> None:
        filler = ("<p>" + "زيتون " * 100 + "</p>\n").encode("utf-8")
        body = b"<html><body>" + filler * (HUGE_BYTES // len(filler) + 1) + b"</body></html>"
        h.reply(200, body, "text/html; charset=utf-8")

    def latest(self, h: _Handler) -> None:
        items = "".join(f'<li><a href="{href}">{title}</a></li>' for href, title in LATEST)
        body = (
            '<!DOCTYPE html><html lang="ar" dir="rtl"><head><meta charset="utf-8">'
            f'<title>أحدث الأخبار</title></head><body><ul class="latest">{items}</ul></body></html>'
        )
        h.reply(200, body.encode("utf-8"), "text/html; charset=utf-8")

    def routes(self) -> dict[str, Callable[[_Handler], None]]:
        def page(name: str, encoding: str, content_type: str) -> Callable[[_Handler], None]:
            return lambda h: h.reply(200, self._fixture(name).encode(encoding), content_type)

        def status(code: int, extra: dict[str, str] | None = None) -> Callable[[_Handler], None]:
            return lambda h: h.reply(code, b"<h1>no</h1>", "text/html", extra=extra)

        utf8_page = page("bridge.html", "utf-8", "text/html; charset=utf-8")
        return {
            "/robots.txt": lambda h: h.reply(200, ROBOTS, "text/plain"),
            "/feeds/rss-utf8.xml": self.rss_utf8,
            "/feeds/atom-cp1256.xml": self.atom_cp1256,
            "/feeds/broken.xml": self.broken,
            "/feeds/error.xml": status(500),
            "/feeds/busy.xml": status(503, {"Retry-After": "120"}),
            "/pages/latest.html": self.latest,
            "/articles/bridge.html": utf8_page,
            "/copies/bridge.html": utf8_page,
            # No charset in the header and none in the page: the decoder has to guess.
            "/articles/book-fair.html": page("book-fair.html", "cp1256", "text/html"),
            "/articles/mountain-rain.html": page("mountain-rain.html", "iso-8859-6", "text/html"),
            "/articles/container-ship.html": page(
                "container-ship.html", "utf-8", "text/html; charset=utf-8"
            ),
            "/articles/slow.html": self.hang,
            "/articles/huge.html": self.huge,
            "/private/fish-prices.html": page("bridge.html", "utf-8", "text/html"),
        }


class _Handler(BaseHTTPRequestHandler):
    server_version = "marsad-feedserver/1"
    owner: FeedServer
    table: dict[str, Callable[[_Handler], None]]

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        owner = self.owner
        owner._log(path, dict(self.headers.items()))
        owner._wait_at_gate(path)
        pause = max((s for p, s in owner.delays.items() if path.startswith(p)), default=0.0)
        if pause:
            owner._stopping.wait(min(pause, HANG_SECONDS))
        extra = owner._extra_answer(path)
        route = self.table.get(path)
        # The crawler may give up on a page (timeout, size limit): expected, not an error.
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            if extra is not None:
                self.reply(*extra)
            elif route is not None:
                route(self)
            else:
                self.reply(404, b"not found", "text/plain")

    def reply(
        self,
        status: int,
        body: bytes,
        content_type: str | None = None,
        extra: dict[str, str] | None = None,
    ) -> None:
        self.send_response(status)
        if content_type:
            self.send_header("Content-Type", content_type)
        for name, value in (extra or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if body and status != 304:
            self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass  # the request log above is what tests read


# Words the generated pages are drawn from (written for these tests, not taken from any article).
_WORDS = (
    "المدينة",
    "البلدية",
    "الميناء",
    "السوق",
    "الطريق",
    "المدرسة",
    "المستشفى",
    "الحديقة",
    "المكتبة",
    "الجسر",
    "النهر",
    "الجبل",
    "الساحل",
    "القرية",
    "الحي",
    "المجلس",
    "الوزارة",
    "المزارعون",
    "الصيادون",
    "التجار",
    "الطلاب",
    "المعلمون",
    "الأطباء",
    "افتتحت",
    "أعلنت",
    "بدأت",
    "أكملت",
    "نظمت",
    "استقبلت",
    "زارت",
    "وقعت",
    "أطلقت",
    "دعت",
    "قررت",
    "ناقشت",
    "مشروعا",
    "جديدا",
    "برنامجا",
    "واسعا",
    "اتفاقا",
    "مهما",
    "معرضا",
    "سنويا",
    "موسما",
    "وفيرا",
    "خطة",
    "شاملة",
    "صباح",
    "اليوم",
    "أمس",
    "الأسبوع",
    "المقبل",
    "الشهر",
    "الماضي",
    "بعد",
    "سنوات",
    "من",
    "العمل",
    "بمشاركة",
    "واسعة",
)


def numbered_title(n: int) -> str:
    return f"الخبر رقم {n} من أخبار المدينة"


def numbered_page(n: int) -> str:
    """A distinct article page for entry ``n`` (no two share their wording: not copies)."""
    rng = random.Random(n)
    paragraphs = "".join(
        "<p>" + " ".join(rng.choice(_WORDS) for _ in range(40)) + f" ({n}-{p}).</p>"
        for p in range(4)
    )
    return (
        '<!DOCTYPE html><html lang="ar" dir="rtl"><head><meta charset="utf-8">'
        f"<title>{numbered_title(n)}</title></head><body><article>"
        f"<h1>{numbered_title(n)}</h1>{paragraphs}</article></body></html>"
    )


def _handler_for(owner: FeedServer) -> type[_Handler]:
    return type("Handler", (_Handler,), {"owner": owner, "table": owner.routes()})
