"""The crawler fetches only the public web, end to end over loopback.

A real feed server on 127.0.0.1 (a second one on 127.0.0.2, a TCP listener posing as an FTP
server) serves a feed whose links and redirects point at a local file, ``ftp:``, ``data:``,
loopback hosts written every way a resolver accepts, and ``0.0.0.0``. Crawls run in a subprocess
as the daemon runs them (tests/crawlrun.py), with logging on, so their log can be read too.
What was fetched is read from the servers' request logs, never from the crawler's word.

The first tests build the guard's pieces in this process (real Scrapy Crawler and stats, a
resolver passed in, a reactor stand-in that records where it is asked to connect) to pin what the
crawls below cannot show without the internet: a public address is connected to, and only it.
"""

from __future__ import annotations

import datetime
import json
import os
import re
import socket
import ssl
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from scrapy import Request
from scrapy.crawler import Crawler
from scrapy.http import Response
from scrapy.http.request import NO_CALLBACK
from scrapy.statscollectors import MemoryStatsCollector
from twisted.internet.address import IPv4Address
from twisted.internet.defer import Deferred
from twisted.internet.error import ConnectionRefusedError as TxConnectionRefusedError
from twisted.python.failure import Failure

from marsad.crawler.address_policy import AddressPolicy
from marsad.crawler.config import CrawlConfig
from marsad.crawler.guard import (
    ALLOW_PRIVATE_SETTING,
    FetchGuardMiddleware,
    GuardedHTTPDownloadHandler,
    RequestRefused,
    ScreenedEndpoint,
)
from marsad.crawler.middlewares import RobotsTxtFailureMiddleware, RobotsTxtUnavailable
from marsad.crawler.runner import crawler_settings
from marsad.crawler.spiders.feeds import FeedSpider
from marsad.storage.db import open_store

REPO = Path(__file__).resolve().parents[1]
SECRET_FILE_TEXT = "سر-الملف-المحلي: كلمة المرور لخادم الأرشيف"
SECRET_DATA_TEXT = "سر-رابط-البيانات"
PAGE_TEXT = (
    "أعلنت وزارة الزراعة اليوم عن خطة جديدة لدعم صغار المزارعين في القرى الجبلية، "
    "وتشمل الخطة توزيع بذور محسنة وإنشاء خزانات لجمع مياه الأمطار وتدريب الشباب على "
    "أساليب الري الحديثة التي توفر المياه. وقال المتحدث باسم الوزارة إن التنفيذ يبدأ "
    "الشهر المقبل في ثلاث محافظات قبل أن يعمم على باقي المناطق خلال العام."
)
FEED_TEXT = "موجز الخبر كما ورد في الموجز"
# No download in these crawls waits for long; a hang would show as a failed assertion, not a
# slow test.
CRAWL = {"download_timeout": 3.0, "delay": 0.0, "concurrency_per_domain": 8}


# -- the pieces, in this process ------------------------------------------------------------


def _crawler(allow_private: tuple[str, ...] = ()) -> Crawler:
    built = Crawler(FeedSpider, crawler_settings(CrawlConfig(allow_private=allow_private)))
    built.stats = MemoryStatsCollector(built)
    return built


def test_settings_enable_only_http_and_https_through_the_guarded_handler() -> None:
    settings = crawler_settings(CrawlConfig(allow_private=("10.0.0.0/8", "intranet")))
    handlers = settings.getwithbase("DOWNLOAD_HANDLERS")
    enabled = {scheme: path for scheme, path in handlers.items() if path}
    guarded = "marsad.crawler.guard.GuardedHTTPDownloadHandler"
    assert enabled == {"http": guarded, "https": guarded}
    assert settings.getbool("HTTPPROXY_ENABLED") is False
    assert settings.getlist(ALLOW_PRIVATE_SETTING) == ["10.0.0.0/8", "intranet"]
    middlewares = settings.getwithbase("DOWNLOADER_MIDDLEWARES")
    assert middlewares["scrapy.downloadermiddlewares.robotstxt.RobotsTxtMiddleware"] is None
    robots = middlewares["marsad.crawler.middlewares.ExpiringRobotsTxtMiddleware"]
    # Refused before robots.txt is asked for; robots.txt failures caught before they reach it.
    assert middlewares["marsad.crawler.guard.FetchGuardMiddleware"] < robots
    assert "marsad.crawler.middlewares.RobotsTxtFailureMiddleware" in middlewares
    assert crawler_settings(CrawlConfig()).getlist(ALLOW_PRIVATE_SETTING) == []
    # A redirect to a URL requested before must reach its errback (refused, reported), not
    # vanish in Scrapy's dupefilter (tests/faults/test_ssrf.py shows it end to end).
    assert settings.get("DUPEFILTER_CLASS") == "scrapy.dupefilters.BaseDupeFilter"


def test_the_middleware_refuses_and_counts() -> None:
    crawler = _crawler(allow_private=("localhost",))
    guard = FetchGuardMiddleware.from_crawler(crawler)
    for url in ("file:///etc/passwd", "ftp://127.0.0.1/", "data:,x", "http://127.1:6379/"):
        with pytest.raises(RequestRefused):
            guard.process_request(Request(url))
    assert guard.process_request(Request("http://localhost:8080/feed.xml")) is None
    assert guard.process_request(Request("https://news.example/feed.xml")) is None
    with pytest.raises(RequestRefused, match="proxy"):
        guard.process_request(Request("http://news.example/", meta={"proxy": "http://p:3128"}))
    stats = crawler.stats.get_stats()  # type: ignore[union-attr]
    assert stats["marsad/refused"] == 5
    assert stats["marsad/refused/scheme"] == 3
    assert stats["marsad/refused/loopback"] == 1
    assert stats["marsad/refused/proxy"] == 1


def test_a_redirect_to_another_scheme_is_refused() -> None:
    guard = FetchGuardMiddleware.from_crawler(_crawler())
    request = Request("http://news.example/a")
    to_file = Response(request.url, status=302, headers={"Location": "file:///etc/passwd"})
    with pytest.raises(RequestRefused, match="redirect to file: URL"):
        guard.process_response(request, to_file)
    to_http = Response(request.url, status=302, headers={"Location": "/b"})
    assert guard.process_response(request, to_http) is to_http
    ok = Response(request.url, status=200, headers={"Location": "ftp://x/"})
    assert guard.process_response(request, ok) is ok


def test_a_failed_robots_txt_becomes_one_counted_ignore() -> None:
    crawler = _crawler()
    quiet = RobotsTxtFailureMiddleware.from_crawler(crawler)
    robots = Request(
        "http://news.example/robots.txt", meta={"dont_obey_robotstxt": True}, callback=NO_CALLBACK
    )
    quiet.process_request(robots)
    assert robots.meta["dont_retry"] is True  # the site's own requests are retried instead
    with pytest.raises(RobotsTxtUnavailable, match=r"robots\.txt not fetched"):
        quiet.process_exception(robots, TxConnectionRefusedError())
    assert crawler.stats.get_value("marsad/robots_txt_failed") == 1  # type: ignore[union-attr]
    # Its own refusals stay as they are (already counted); other requests are not its business.
    assert quiet.process_exception(robots, RequestRefused(_refusal())) is None
    page = Request("http://news.example/robots.txt")
    quiet.process_request(page)
    assert "dont_retry" not in page.meta
    assert quiet.process_exception(page, TxConnectionRefusedError()) is None


def _refusal() -> Any:
    refusal = AddressPolicy().url_refusal("file:///x")
    assert refusal is not None
    return refusal


class _Resolver:
    """Answers from a dict, at once: what a feed author's DNS might say."""

    def __init__(self, answers: dict[str, list[str]]) -> None:
        self.answers = answers

    def resolveHostName(self, receiver: Any, host: str, portNumber: int = 0) -> None:
        receiver.resolutionBegan(None)
        for address in self.answers.get(host, []):
            receiver.addressResolved(IPv4Address("TCP", address, portNumber))
        receiver.resolutionComplete()


class _Reactor:
    """Records the addresses it is asked to connect to and connects nothing."""

    def __init__(self, answers: dict[str, list[str]]) -> None:
        self.nameResolver = _Resolver(answers)
        self.connects: list[tuple[str, int]] = []

    def connectTCP(self, host: str, port: int, *args: Any, **kwargs: Any) -> object:
        self.connects.append((host, port))
        return object()


def _connect(policy: AddressPolicy, host: str, answers: dict[str, list[str]]) -> Any:
    reactor = _Reactor(answers)
    refused: list[Any] = []

    def count(refusal: Any) -> RequestRefused:
        refused.append(refusal)
        return RequestRefused(refusal)

    endpoint = ScreenedEndpoint(reactor, host, 80, policy, timeout=5, bind=None, refused=count)
    outcome: list[Any] = []
    connecting: Deferred[Any] = endpoint.connect(object())  # type: ignore[arg-type]
    connecting.addBoth(outcome.append)
    return reactor.connects, refused, outcome


def test_the_endpoint_connects_only_to_the_public_address_of_a_mixed_answer() -> None:
    answers = {"mixed.example": ["10.0.0.7", "127.0.0.1", "93.184.216.34"]}
    connects, refused, outcome = _connect(AddressPolicy(), "mixed.example", answers)
    assert connects == [("93.184.216.34", 80)]
    assert refused == [] and outcome == []  # connecting, not refused


def test_the_endpoint_refuses_a_name_that_resolves_to_loopback() -> None:
    answers = {"rebound.example": ["127.0.0.1"]}
    connects, refused, outcome = _connect(AddressPolicy(), "rebound.example", answers)
    assert connects == []
    assert [r.reason for r in refused] == ["loopback"]
    [failure] = outcome
    assert isinstance(failure, Failure) and failure.check(RequestRefused)
    allowed = AddressPolicy.allowing(["127.0.0.0/8"])
    connects, refused, outcome = _connect(allowed, "rebound.example", answers)
    assert connects == [("127.0.0.1", 80)] and refused == []


def test_the_endpoint_reports_an_unknown_name_as_a_dns_failure() -> None:
    connects, refused, outcome = _connect(AddressPolicy(), "gone.example", {})
    assert connects == [] and refused == []
    [failure] = outcome
    assert "no results for hostname lookup: gone.example" in str(failure.value)


def test_the_handler_is_scrapys_http11_handler() -> None:
    # It replaces Scrapy's private agent class; an upgrade that changes it must fail here.
    from scrapy.core.downloader.handlers.http11 import HTTP11DownloadHandler, _ScrapyAgent

    assert issubclass(GuardedHTTPDownloadHandler, HTTP11DownloadHandler)
    assert callable(getattr(_ScrapyAgent, "_get_agent", None))


# -- crawls over loopback -------------------------------------------------------------------


@dataclass
class Seen:
    target: str  # the request target as sent: a path, or an absolute URL when sent to a proxy
    host: str


@dataclass
class Site:
    """A loopback HTTP server on ``address`` that logs every request it gets."""

    address: str
    routes: dict[str, Callable[[_Handler], None]] = field(default_factory=dict)
    seen: list[Seen] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    tls: ssl.SSLContext | None = None  # serve https

    def __post_init__(self) -> None:
        self.httpd = ThreadingHTTPServer((self.address, 0), _handler_for(self))
        if self.tls is not None:
            self.httpd.socket = self.tls.wrap_socket(self.httpd.socket, server_side=True)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    @property
    def port(self) -> int:
        port: int = self.httpd.server_address[1]
        return port

    def targets(self) -> list[str]:
        with self.lock:
            return [s.target for s in self.seen]

    def clear(self) -> None:
        with self.lock:
            self.seen.clear()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)


class _Handler(BaseHTTPRequestHandler):
    site: Site

    def do_GET(self) -> None:
        with self.site.lock:
            self.site.seen.append(Seen(self.path, self.headers.get("Host", "")))
        route = self.site.routes.get(self.path.split("?", 1)[0])
        if route is None:
            self.reply(404, b"not found", "text/plain")
        else:
            route(self)

    def reply(
        self, status: int, body: bytes, content_type: str, extra: dict[str, str] | None = None
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        for name, value in (extra or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


def _handler_for(site: Site) -> type[_Handler]:
    return type("Handler", (_Handler,), {"site": site})


class Listener:
    """A TCP port that only counts the connections made to it (the "FTP server")."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen()
        self.sock.settimeout(0.2)
        self.port: int = self.sock.getsockname()[1]
        self.connections = 0
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            self.connections += 1
            conn.close()

    def close(self) -> None:
        self._stop.set()
        self.thread.join(timeout=5)
        self.sock.close()


def _page(title: str) -> bytes:
    return (
        f'<!DOCTYPE html><html lang="ar"><head><meta charset="utf-8"><title>{title}</title>'
        f"</head><body><article><h1>{title}</h1><p>{PAGE_TEXT}</p><p>{title}: {PAGE_TEXT}</p>"
        "</article></body></html>"
    ).encode()


def _rss(links: list[str]) -> bytes:
    items = "".join(
        f"<item><title>خبر رقم {n}</title><guid>guard-{n}</guid>"
        f"<link>{_xml(link)}</link><description>{FEED_TEXT} {n}</description></item>"
        for n, link in enumerate(links)
    )
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
        f"<title>موجز الحارس</title><link>http://example.org/</link>{items}</channel></rss>"
    ).encode()


def _xml(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


@dataclass
class Network:
    main: Site  # 127.0.0.1: the feed, its pages, its redirects
    other: Site  # 127.0.0.2: another loopback host
    ftp: Listener
    secret: Path

    def links(self, here: str) -> dict[str, str]:
        """The feed's links by name; ``here`` is the host:port the feed was fetched as."""
        main, other = self.main.port, self.other.port
        data = "<p>" + SECRET_DATA_TEXT + "</p>"
        return {
            "file": self.secret.as_uri(),
            "ftp": f"ftp://127.0.0.1:{self.ftp.port}/secret.txt",
            "data": "data:text/html;charset=utf-8," + quote(data),
            "by-name": f"http://localhost:{main}/pages/by-name.html",
            "by-address": f"http://127.0.0.1:{main}/pages/by-address.html",
            "other-loopback": f"http://127.0.0.2:{other}/pages/other-loopback.html",
            "decimal": f"http://2130706433:{main}/pages/decimal.html",
            "unspecified": f"http://0.0.0.0:{main}/pages/unspecified.html",
            "redirect-file": f"http://{here}/redirect/file",
            "redirect-ftp": f"http://{here}/redirect/ftp",
            "redirect-name": f"http://{here}/redirect/name",
            "redirect-other": f"http://{here}/redirect/other",
            "redirect-hex": f"http://{here}/redirect/hex",
            "redirect-relative": f"http://{here}/redirect/relative",
        }

    def redirects(self) -> dict[str, str]:
        main, other = self.main.port, self.other.port
        return {
            "/redirect/file": self.secret.as_uri(),
            "/redirect/ftp": f"ftp://127.0.0.1:{self.ftp.port}/",
            "/redirect/name": f"http://localhost:{main}/pages/after-name.html",
            "/redirect/other": f"http://127.0.0.2:{other}/pages/after-other.html",
            "/redirect/hex": f"http://0x7f000001:{main}/pages/after-hex.html",
            "/redirect/relative": f"//127.0.0.2:{other}/pages/after-relative.html",
        }


ROBOTS = b"User-agent: *\nAllow: /\n"


@pytest.fixture(scope="module")
def network(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Network]:
    secret = tmp_path_factory.mktemp("local") / "secret.html"
    secret.write_text(f"<html><body><p>{SECRET_FILE_TEXT}</p></body></html>", encoding="utf-8")
    main = Site("127.0.0.1")
    try:
        other = Site("127.0.0.2")
    except OSError as exc:  # Linux routes all of 127/8 to loopback; not every system does
        main.close()
        pytest.skip(f"cannot listen on 127.0.0.2: {exc}")
    ftp = Listener()
    net = Network(main, other, ftp, secret)

    def feed(h: _Handler) -> None:
        h.reply(200, _rss(list(net.links(h.headers["Host"]).values())), "application/rss+xml")

    def redirect(location: str) -> Callable[[_Handler], None]:
        return lambda h: h.reply(302, b"", "text/html", extra={"Location": location})

    def page(h: _Handler) -> None:
        h.reply(200, _page(h.path), "text/html; charset=utf-8")

    main.routes["/feed.xml"] = feed
    main.routes["/plain.xml"] = lambda h: h.reply(200, _rss([]), "application/rss+xml")
    for site in (main, other):
        site.routes["/robots.txt"] = lambda h: h.reply(200, ROBOTS, "text/plain")
        for name in ("by-name", "by-address", "other-loopback", "decimal", "unspecified"):
            site.routes[f"/pages/{name}.html"] = page
        for name in ("after-name", "after-other", "after-hex", "after-relative"):
            site.routes[f"/pages/{name}.html"] = page
    for path, location in net.redirects().items():
        main.routes[path] = redirect(location)
    yield net
    for closable in (main, other, ftp):
        closable.close()


@dataclass
class Run:
    report: dict[str, Any]
    log: str
    store: Path
    # What the servers got during the crawl.
    main: list[str]
    other: list[str]
    ftp_connections: int

    def stat(self, name: str) -> int:
        """A count from the stats Scrapy logs when the crawl closes (summed over spiders)."""
        return sum(int(n) for n in re.findall(rf"'{re.escape(name)}': (\d+)", self.log))

    def articles(self) -> dict[str, dict[str, Any]]:
        db = open_store(self.store)
        try:
            return {row["url"]: row for row in db.query("SELECT * FROM articles")}
        finally:
            db.close()

    def errors_about(self, url: str) -> list[str]:
        """The problems reported for the feed or the article at ``url`` (feedparser writes
        ``file:///x`` as ``file://x``: the part after the scheme's slashes identifies it)."""
        tail = re.escape(url.split(":", 1)[1].lstrip("/"))
        return [e for e in self.report["errors"] if re.search(rf"{tail}(?=[:)';]|$)", e)]


# Runs tests/crawlrun.py's run() with logging to stderr, which the daemon configures and
# crawlrun.py does not.
_DRIVER = (
    "import json, logging, sys\n"
    "logging.basicConfig(level=logging.INFO, stream=sys.stderr)\n"
    "from tests.crawlrun import run\n"
    "print(json.dumps(run(json.loads(open(sys.argv[1], encoding='utf-8').read()))))\n"
)


def crawl(
    network: Network,
    tmp: Path,
    feeds: dict[str, str],
    allow_private: list[str],
    env: dict[str, str] | None = None,
) -> Run:
    network.main.clear()
    network.other.clear()
    ftp_before = network.ftp.connections
    store = tmp / "marsad.db"
    spec = {
        "store": str(store),
        "crawls": 1,
        "feeds": [{"name": n, "url": u, "every": 600.0, "source": n} for n, u in feeds.items()],
        "crawl": {**CRAWL, "allow_private": allow_private},
        "rules": [],
    }
    spec_path = tmp / "spec.json"
    spec_path.write_text(json.dumps(spec, ensure_ascii=False), encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-c", _DRIVER, str(spec_path)],
        cwd=REPO,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    [report] = json.loads(done.stdout)
    return Run(
        report,
        done.stderr,
        store,
        network.main.targets(),
        network.other.targets(),
        network.ftp.connections - ftp_before,
    )


def test_by_default_nothing_on_loopback_is_fetched(network: Network, tmp_path: Path) -> None:
    port = network.main.port
    run = crawl(
        network,
        tmp_path,
        {
            "by-name": f"http://localhost:{port}/feed.xml",
            "by-address": f"http://127.0.0.1:{port}/feed.xml",
        },
        allow_private=[],
    )
    assert run.main == [] and run.other == [] and run.ftp_connections == 0
    assert run.report["feeds_failed"] == 2 and run.report["feeds_ok"] == 0
    [by_name] = run.errors_about(f"http://localhost:{port}/feed.xml")
    assert "localhost resolves only to non-public addresses (127.0.0.1: loopback)" in by_name
    [by_address] = run.errors_about(f"http://127.0.0.1:{port}/feed.xml")
    assert "127.0.0.1 is a loopback address" in by_address
    assert "allow_private" in by_name and "allow_private" in by_address
    # The name's robots.txt request is refused when connecting too, silently but counted.
    assert run.stat("marsad/refused") == 3
    assert run.stat("marsad/refused/loopback") == 3
    assert "Traceback" not in run.log
    assert run.articles() == {}


def test_only_the_allowed_host_is_fetched(network: Network, tmp_path: Path) -> None:
    """The feed's host is allowed by name; every link to anything else on loopback is not."""
    port = network.main.port
    run = crawl(
        network,
        tmp_path,
        {"guard": f"http://localhost:{port}/feed.xml"},
        allow_private=["localhost"],
    )
    links = network.links(f"localhost:{port}")
    assert sorted(run.main) == sorted(
        [
            "/robots.txt",
            "/feed.xml",
            "/pages/by-name.html",
            "/pages/after-name.html",  # redirected to the allowed host
            *network.redirects(),  # each redirect's first hop is on the allowed host
        ]
    )
    assert run.other == [] and run.ftp_connections == 0
    refused = {
        **SCHEMES_IN_THE_FEED,
        "by-address": "127.0.0.1 is a loopback address",
        "other-loopback": "127.0.0.2 is a loopback address",
        "decimal": "2130706433 (= 127.0.0.1) is a loopback address",
        "unspecified": "0.0.0.0 is an unspecified address",
        "redirect-file": "redirect to file: URL",
        "redirect-ftp": "redirect to ftp: URL",
        "redirect-other": "127.0.0.2 is a loopback address",
        "redirect-hex": "0x7f000001 (= 127.0.0.1) is a loopback address",
        "redirect-relative": "127.0.0.2 is a loopback address",
    }
    _each_refused_once(run, links, refused)
    assert len(run.report["errors"]) == len(refused)
    _nothing_secret_stored(run)
    articles = run.articles()
    assert articles[links["by-name"]]["extraction"] == "page"
    assert articles[links["redirect-name"]]["extraction"] == "page"
    assert "Traceback" not in run.log


@dataclass
class AllowedRun:
    run: Run
    links: dict[str, str]
    proxy: list[str]  # what the proxy named in the environment got
    gone: str  # the URL of a feed on a port nobody listens on
    secure: list[str]  # what the https site got


def _tls_context(directory: Path) -> ssl.SSLContext:
    """A server context with a fresh self-signed certificate for localhost (Scrapy does not
    verify certificates by default, as browsers of old did not for feeds)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_path, key_path)
    return context


@pytest.fixture(scope="module")
def allowed(network: Network, tmp_path_factory: pytest.TempPathFactory) -> Iterator[AllowedRun]:
    """One crawl with loopback allowed, a proxy in the environment and a feed whose host
    refuses connections (one crawl for three tests: each costs seconds of start-up)."""
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    gone = f"http://127.0.0.1:{closed.getsockname()[1]}/feed.xml"
    closed.close()  # nothing listens there now: connections are refused
    tmp = tmp_path_factory.mktemp("allowed")
    proxy = Site("127.0.0.1")
    secure = Site("127.0.0.1", tls=_tls_context(tmp))
    secure.routes["/robots.txt"] = lambda h: h.reply(200, ROBOTS, "text/plain")
    page_url = f"https://localhost:{secure.port}/pages/secure.html"
    secure.routes["/secure.xml"] = lambda h: h.reply(200, _rss([page_url]), "application/rss+xml")
    secure.routes["/pages/secure.html"] = lambda h: h.reply(200, _page("آمن"), "text/html")
    try:
        port = network.main.port
        proxy_url = f"http://127.0.0.1:{proxy.port}"
        run = crawl(
            network,
            tmp,
            {
                "guard": f"http://127.0.0.1:{port}/feed.xml",
                "gone": gone,
                "secure": f"https://localhost:{secure.port}/secure.xml",
            },
            allow_private=["127.0.0.0/8", "localhost"],
            env={"http_proxy": proxy_url, "https_proxy": proxy_url, "no_proxy": ""},
        )
        yield AllowedRun(
            run, network.links(f"127.0.0.1:{port}"), proxy.targets(), gone, secure.targets()
        )
    finally:
        proxy.close()
        secure.close()


def test_https_goes_through_the_same_screened_connection(allowed: AllowedRun) -> None:
    assert sorted(allowed.secure) == ["/pages/secure.html", "/robots.txt", "/secure.xml"]
    [article] = [a for url, a in allowed.run.articles().items() if url.startswith("https:")]
    assert article["extraction"] == "page" and PAGE_TEXT in article["text"]


def test_allow_private_opens_loopback_but_never_other_schemes(allowed: AllowedRun) -> None:
    run, links = allowed.run, allowed.links
    for path in (
        "/feed.xml",
        "/pages/by-name.html",
        "/pages/by-address.html",
        "/pages/decimal.html",
        "/pages/after-name.html",
        "/pages/after-hex.html",
    ):
        assert run.main.count(path) == 1, (path, run.main)
    assert "/pages/unspecified.html" not in run.main  # 0.0.0.0 is not in 127.0.0.0/8
    assert sorted(run.other) == [
        "/pages/after-other.html",
        "/pages/after-relative.html",
        "/pages/other-loopback.html",
        "/robots.txt",
    ]
    assert run.ftp_connections == 0
    still_refused = {
        **SCHEMES_IN_THE_FEED,
        "unspecified": "0.0.0.0 is an unspecified address",
        "redirect-file": "redirect to file: URL",
        "redirect-ftp": "redirect to ftp: URL",
    }
    _each_refused_once(run, links, still_refused)
    assert len([e for e in run.report["errors"] if "'guard'" in e]) == len(still_refused)
    _nothing_secret_stored(run)
    articles = run.articles()
    for name in ("by-name", "by-address", "other-loopback", "decimal", "redirect-relative"):
        assert articles[links[name]]["extraction"] == "page", name
    assert "Traceback" not in run.log


def test_a_proxy_in_the_environment_is_not_used(allowed: AllowedRun) -> None:
    """A proxy would resolve and connect on the crawler's behalf, past every check."""
    assert allowed.proxy == []
    assert "/feed.xml" in allowed.run.main  # fetched directly instead


def test_an_unreachable_robots_txt_is_one_line_not_a_traceback(allowed: AllowedRun) -> None:
    run = allowed.run
    robots_lines = [line for line in run.log.splitlines() if "robots.txt" in line]
    assert len(robots_lines) == 1, robots_lines
    [line] = robots_lines
    assert f"robots.txt not fetched: {allowed.gone.removesuffix('feed.xml')}robots.txt" in line
    assert "Connection refused" in line
    assert "Traceback" not in run.log
    assert run.stat("marsad/robots_txt_failed") == 1
    [error] = run.errors_about(allowed.gone)
    assert "'gone'" in error and "Connection refused" in error


# An entry whose link has another scheme is skipped by the spider (marsad.crawler.feeds
# link_problem) or, if it gets that far, refused by the guard: either way never fetched.
SCHEMES_IN_THE_FEED = {
    "file": r"(not an http\(s\) link|file: URL; marsad fetches only http and https)",
    "ftp": r"(not an http\(s\) link|ftp: URL)",
    "data": r"(not an http\(s\) link|data: URL)",
}


def _each_refused_once(run: Run, links: dict[str, str], reasons: dict[str, str]) -> None:
    """Each link named in ``reasons`` has one problem reported, saying that reason; the guard
    counted each request it refused."""
    not_fetched = 0
    for name, reason in reasons.items():
        errors = run.errors_about(links[name])
        assert len(errors) == 1, (name, run.report["errors"])
        pattern = reason if name in SCHEMES_IN_THE_FEED else re.escape(reason)
        assert re.search(pattern, errors[0]), (name, errors[0])
        if "not fetched" in errors[0]:
            not_fetched += 1
    assert not_fetched >= len(set(reasons) - set(SCHEMES_IN_THE_FEED))
    assert run.stat("marsad/refused") == not_fetched


def _nothing_secret_stored(run: Run) -> None:
    for row in run.articles().values():
        for column in ("title", "text"):
            value = row[column] or ""
            assert SECRET_FILE_TEXT not in value and SECRET_DATA_TEXT not in value, row["url"]
            assert "سر-" not in value, row["url"]
    for url in run.articles():
        if not url.startswith("http"):
            assert run.articles()[url]["extraction"] == "feed", url
