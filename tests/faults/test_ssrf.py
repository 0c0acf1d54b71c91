"""Trial: a hostile feed tries to make `marsad crawl` reach the network it runs in.

A "service" listens on 127.0.0.1 (think of a database or an admin page beside the daemon). The
feed, on a host the config allows (``localhost``), links to that service and redirects to it in
every spelling a resolver accepts (decimal, hex, octal, short, IPv4-mapped, trailing dot,
user-info, upper-case scheme, scheme-relative), through other schemes (file, ftp, gopher, dict,
data) and through a redirect loop and a bad port. Before #11 the crawler fetched the local file
into the store and connected to the service. Now the service sees no connection at all, the
crawl ends normally with one reported problem per hostile link, no traceback, and the one
honest link on the allowed host is fetched.
"""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

# A port on 127.0.0.1 that counts who connects to it: the service a hostile feed aims at.
from tests.test_crawler_guard import Listener as Service

MARSAD = [sys.executable, "-c", "from marsad.cli import main; main()"]
SECRET = "كلمة-سر-الخدمة-الداخلية"
PAGE = (
    "<html lang='ar'><head><meta charset='utf-8'><title>خبر سليم</title></head><body><article>"
    "<h1>خبر سليم</h1><p>افتتحت المكتبة العامة في المدينة قاعة جديدة للمطالعة تتسع لمئة قارئ، "
    "وقالت إدارة المكتبة إن القاعة ستفتح أبوابها يوميا من الصباح حتى المساء طوال أيام الأسبوع، "
    "وإنها خصصت ركنا لكتب الأطفال وآخر للصحف والمجلات القديمة.</p></article></body></html>"
)


# Links whose canonical URL is the literal one's: the feed's entry for them is the same article.
SAME_URL_AS_LITERAL = frozenset({"trailing-dot", "upper-scheme"})


def spellings(port: int, secret: Path) -> dict[str, str]:
    """Every way the feed names the service (or something as bad), by name."""
    return {
        "literal": f"http://127.0.0.1:{port}/admin",
        "decimal": f"http://2130706433:{port}/admin",
        "hex": f"http://0x7f.1:{port}/admin",
        "octal": f"http://0177.0.0.1:{port}/admin",
        "short": f"http://127.1:{port}/admin",
        "mapped": f"http://[::ffff:127.0.0.1]:{port}/admin",
        "ipv6-loopback": f"http://[::1]:{port}/admin",
        "unspecified": f"http://0.0.0.0:{port}/admin",
        "zero": f"http://0:{port}/admin",
        "userinfo": f"http://news:pw@127.0.0.1:{port}/admin",
        "trailing-dot": f"http://127.0.0.1.:{port}/admin",
        "upper-scheme": f"HTTP://127.0.0.1:{port}/admin",
        "gopher": f"gopher://127.0.0.1:{port}/_FLUSHALL",
        "dict": f"dict://127.0.0.1:{port}/info",
        "ftp": f"ftp://127.0.0.1:{port}/",
        "file": secret.as_uri(),
        "data": "data:text/html,<p>" + "x" * 20 + "</p>",
    }


class FeedSite:
    def __init__(self, service: Service, secret: Path) -> None:
        self.paths: list[str] = []
        self.service = service
        self.secret = secret
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.httpd.daemon_threads = True
        self.port: int = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def links(self) -> list[str]:
        here = f"http://localhost:{self.port}"
        targets = spellings(self.service.port, self.secret)
        return [
            *targets.values(),
            *(f"{here}/r/{name}" for name in targets),  # the same, as redirects
            f"//127.0.0.1:{self.service.port}/relative",  # scheme-relative: the feed's scheme
            f"{here}/loop/a",
            f"{here}/r/bad-port",
            "http://[::1/broken",
            f"{here}/ok.html",
        ]

    def route(self, path: str) -> tuple[int, dict[str, str], bytes]:
        targets = spellings(self.service.port, self.secret)
        here = f"http://localhost:{self.port}"
        if path == "/robots.txt":
            return 200, {"Content-Type": "text/plain"}, b"User-agent: *\nAllow: /\n"
        if path == "/hostile.xml":
            items = "".join(
                f"<item><title>خبر {n}</title><guid>hostile-{n}</guid>"
                f"<link>{link.replace('&', '&amp;').replace('<', '&lt;')}</link>"
                f"<description>موجز الخبر {n}</description></item>"
                for n, link in enumerate(self.links())
            )
            body = '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
            body += f"<title>موجز عدائي</title>{items}</channel></rss>"
            return 200, {"Content-Type": "application/rss+xml"}, body.encode()
        if path.startswith("/r/"):
            name = path.removeprefix("/r/")
            location = targets.get(name, f"http://localhost:99999/{name}")
            return 302, {"Location": location}, b""
        if path == "/loop/a":
            return 302, {"Location": f"{here}/loop/b"}, b""
        if path == "/loop/b":
            return 302, {"Location": "/loop/a"}, b""
        if path == "/ok.html":
            return 200, {"Content-Type": "text/html; charset=utf-8"}, PAGE.encode()
        return 404, {"Content-Type": "text/plain"}, b"not found"

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        site = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                site.paths.append(self.path)
                status, headers, body = site.route(self.path)
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                pass

        return Handler

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)


@pytest.fixture
def hostile(tmp_path: Path) -> Iterator[tuple[Service, FeedSite, Path]]:
    secret = tmp_path / "secret.html"
    secret.write_text(f"<html><body><p>{SECRET}</p></body></html>", encoding="utf-8")
    service = Service()
    site = FeedSite(service, secret)
    config = tmp_path / "marsad.toml"
    config.write_text(
        f"""
[store]
path = "store.db"

[crawl]
delay = 0
download_timeout = "5s"
concurrency_per_domain = 8
# Only the feed's own host: what a deployment beside its own feed server would allow.
allow_private = ["localhost"]

[[feeds]]
name = "hostile"
url = "http://localhost:{site.port}/hostile.xml"
every = "10m"
""",
        encoding="utf-8",
    )
    yield service, site, config
    site.close()
    service.close()


def _run(tmp_path: Path, config: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*MARSAD, "crawl", "--config", str(config)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_a_hostile_feed_reaches_nothing_beside_the_daemon(
    hostile: tuple[Service, FeedSite, Path], tmp_path: Path
) -> None:
    service, site, config = hostile
    done = _run(tmp_path, config)
    # 0: all stored or skipped with a reason; 3: partial (a refused page keeps the feed's text).
    assert done.returncode in (0, 3), done.stderr[-4000:]
    assert service.connections == 0
    assert "Traceback" not in done.stderr, done.stderr[-4000:]
    assert "/ok.html" in site.paths  # the crawl went on with the honest link
    # Every redirect's first hop is on the allowed host; none of them was followed further.
    names = spellings(service.port, site.secret)
    for name in names:
        assert site.paths.count(f"/r/{name}") == 1, name
    assert site.paths.count("/loop/a") <= 6  # bounded by REDIRECT_MAX_TIMES

    # Each hostile link is reported (by the spider, and again in the crawl's summary) as not
    # fetched, with its reason: one message per link.
    messages = {line.split(": ", 1)[1] for line in done.stderr.splitlines() if ": feed " in line}
    unreported = []
    for name, target in names.items():
        links = [f"http://localhost:{site.port}/r/{name}"]
        if name not in SAME_URL_AS_LITERAL:  # the spider follows one URL once: not these
            links.append(target)
        for link in links:
            about = [m for m in messages if f" {link}:" in m or f"'{link}'" in m]
            if name == "file" and not about:  # feedparser writes file:///x as file://x
                about = [m for m in messages if site.secret.name in m and "skipped" in m]
            if len(about) != 1:
                unreported.append((link, about))
            else:
                assert "not fetched" in about[0] or "not an http(s) link" in about[0], about
    assert unreported == []

    conn = sqlite3.connect(tmp_path / "store.db")
    try:
        texts = [row[0] or "" for row in conn.execute("SELECT title || ' ' || text FROM articles")]
        extractions = dict(conn.execute("SELECT url, extraction FROM articles").fetchall())
    finally:
        conn.close()
    assert not any(SECRET in text for text in texts)
    assert extractions[f"http://localhost:{site.port}/ok.html"] == "page"
    from_pages = [url for url, how in extractions.items() if how == "page"]
    assert from_pages == [f"http://localhost:{site.port}/ok.html"]


def test_without_allow_private_the_feed_itself_is_refused(
    hostile: tuple[Service, FeedSite, Path], tmp_path: Path
) -> None:
    service, site, config = hostile
    config.write_text(
        config.read_text(encoding="utf-8").replace('allow_private = ["localhost"]', ""),
        encoding="utf-8",
    )
    done = _run(tmp_path, config)
    assert done.returncode == 1, done.stderr[-4000:]  # every feed due failed
    assert site.paths == [] and service.connections == 0
    assert "localhost resolves only to non-public addresses" in done.stderr
    assert "allow_private" in done.stderr
    assert "Traceback" not in done.stderr
