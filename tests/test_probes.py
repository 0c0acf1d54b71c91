"""The daemon's probes against a real daemon subprocess, over loopback HTTP.

/healthz and /readyz answer; /readyz turns 503 naming the store when the store is made
read-only (root ignores file modes: then the file is made immutable, which stops root too) and
200 again after; /healthz fails while the event loop is blocked for real: the daemon's write
waits, on the loop's thread, for a write lock another process holds. Also a bad ``[http]
listen`` value and a port already taken.

The helpers here (a gated loopback site, a daemon with its runtime file) serve the other
probe-side tests (test_metrics, test_status, test_systemd) too.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

MARSAD = [sys.executable, "-c", "from marsad.cli import main; main()"]
# The longest a gated answer waits for its release (a test that forgets still ends).
GATE_SECONDS = 20.0

ARTICLE_TITLE = "افتتاح الجسر الجديد فوق النهر"
ARTICLE_TEXT = (
    "افتتحت البلدية صباح اليوم الجسر الجديد فوق النهر بعد عامين من الأعمال. "
    "وقال رئيس البلدية إن الجسر سيخفف الازدحام في وسط المدينة."
)


def rss(base: str, *slugs: str) -> bytes:
    items = "".join(
        f"<item><title>{ARTICLE_TITLE} {slug}</title><link>{base}/articles/{slug}.html</link>"
        f"<guid>{slug}</guid><description>{ARTICLE_TEXT}</description></item>"
        for slug in slugs
    )
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>أخبار</title>'
        f"<link>{base}/</link>{items}</channel></rss>"
    ).encode()


def article_page(slug: str) -> bytes:
    return (
        f"<html><head><title>{ARTICLE_TITLE}</title></head><body><article><h1>{ARTICLE_TITLE} "
        f"{slug}</h1><p>{ARTICLE_TEXT}</p><p>{ARTICLE_TEXT}</p></article></body></html>"
    ).encode()


class GatedSite:
    """A loopback site: ``routes`` path -> (status, body, content type); a path in ``gated``
    is answered only once :attr:`release` is set (at most :data:`GATE_SECONDS`)."""

    def __init__(self) -> None:
        self.routes: dict[str, tuple[int, bytes, str]] = {
            "/robots.txt": (200, b"User-agent: *\nDisallow: /private/\n", "text/plain"),
        }
        self.gated: set[str] = set()
        self.release = threading.Event()
        self.requested: list[str] = []
        site = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                path = self.path.split("?", 1)[0]
                site.requested.append(path)
                if path in site.gated:
                    site.release.wait(GATE_SECONDS)
                status, body, kind = site.routes.get(path, (404, b"not here", "text/plain"))
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.thread.start()

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def feed(self, path: str, *slugs: str, gated: bool = False) -> str:
        """An RSS feed at ``path`` listing ``slugs``' pages (served too); returns its URL."""
        self.routes[path] = (200, rss(self.base, *slugs), "application/rss+xml; charset=utf-8")
        for slug in slugs:
            self.routes[f"/articles/{slug}.html"] = (200, article_page(slug), "text/html")
        if gated:
            self.gated.add(path)
        return self.base + path

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def site() -> Iterator[GatedSite]:
    served = GatedSite()
    yield served
    served.close()


def wait_for(condition: Callable[[], Any], timeout: float, what: str) -> Any:
    """Poll ``condition`` until it returns something true (returned), or fail after
    ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.05)


def config_text(
    feeds: dict[str, str], *, http: str = 'listen = "127.0.0.1:0"', extra: str = ""
) -> str:
    """A daemon config over loopback: ``feeds`` name -> URL, every 10 s (the shortest)."""
    listed = "".join(
        f'[[feeds]]\nname = "{name}"\nurl = "{url}"\nevery = "10s"\n\n'
        for name, url in feeds.items()
    )
    return f"""
[store]
path = "store.db"

[crawl]
delay = 0
download_timeout = "5s"
workers = 0
allow_private = ["127.0.0.0/8"]  # the test servers are on loopback

[alerts]
window = "off"

[delivery]
every = "1s"

[http]
{http}

{extra}

{listed}"""


class Daemon:
    """``marsad run`` as a subprocess on ``workdir``'s store."""

    def __init__(self, workdir: Path, config: str, *, env: dict[str, str] | None = None) -> None:
        self.workdir = workdir
        self.config = workdir / "marsad.toml"
        self.config.write_text(config, encoding="utf-8")
        self.store = workdir / "store.db"
        self.runtime_file = workdir / "store.db-daemon.json"
        self.process = subprocess.Popen(
            [*MARSAD, "run", "--config", str(self.config)],
            cwd=workdir,
            env={**os.environ, **(env or {})},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.output = ""

    def runtime(self, timeout: float = 30.0) -> dict[str, Any]:
        """The daemon's runtime file, once it has written it."""

        def written() -> dict[str, Any] | None:
            if self.process.poll() is not None:
                raise AssertionError(f"the daemon exited: {self.process.communicate()[0]}")
            try:
                info = json.loads(self.runtime_file.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                return None
            return info if isinstance(info, dict) else None

        info: dict[str, Any] = wait_for(written, timeout, "the daemon's runtime file")
        return info

    def get(self, path: str, timeout: float = 10.0) -> tuple[int, str]:
        url = self.runtime()["probe_url"]
        try:
            with urllib.request.urlopen(f"{url}{path}", timeout=timeout) as answer:
                return answer.status, answer.read().decode("utf-8")
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode("utf-8")

    def probe(self, path: str, timeout: float = 10.0) -> tuple[int, dict[str, Any]]:
        status, body = self.get(path, timeout)
        return status, json.loads(body)

    def stop(self, timeout: float = 60.0) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            self.output, _ = self.process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.output, _ = self.process.communicate()
            raise
        return self.process.returncode


@pytest.fixture
def daemons() -> Iterator[list[Daemon]]:
    """Every daemon a test starts is stopped at its end, whatever happened."""
    started: list[Daemon] = []
    yield started
    for daemon in started:
        if daemon.process.poll() is None:
            daemon.process.kill()
            daemon.process.communicate()


class ReadOnly:
    """Makes a file unwritable for the daemon, even when the daemon runs as root."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.as_root = os.geteuid() == 0
        if self.as_root and shutil.which("chattr") is None:
            pytest.skip("running as root, which file modes do not stop, and no chattr")

    def __enter__(self) -> ReadOnly:
        if self.as_root:
            # Root ignores the mode; an immutable file refuses root as well.
            done = subprocess.run(["chattr", "+i", str(self.path)], capture_output=True, text=True)
            if done.returncode != 0:
                pytest.skip(f"running as root and chattr +i failed: {done.stderr.strip()}")
        else:
            self.path.chmod(0o444)
        return self

    def __exit__(self, *exc: object) -> None:
        if self.as_root:
            subprocess.run(["chattr", "-i", str(self.path)], check=True)
        else:
            self.path.chmod(0o644)


@pytest.mark.slow
def test_readyz_turns_503_while_the_store_is_read_only(
    tmp_path: Path, site: GatedSite, daemons: list[Daemon]
) -> None:
    daemon = Daemon(tmp_path, config_text({"news": site.feed("/news.xml", "one")}))
    daemons.append(daemon)
    info = daemon.runtime()
    assert info["pid"] == daemon.process.pid
    assert info["probe_url"].startswith("http://127.0.0.1:")

    status, health = daemon.probe("/healthz")
    assert status == 200 and health["status"] == "ok"
    status, ready = wait_for(lambda: (r := daemon.probe("/readyz"))[0] == 200 and r, 10, "ready")
    assert ready["failed"] == []
    assert set(ready["checks"]) == {"store", "scheduler", "outbox"}

    with ReadOnly(daemon.store):
        status, ready = daemon.probe("/readyz")
        assert status == 503
        assert ready["failed"] == ["store"]
        assert "not writable" in ready["checks"]["store"]["detail"]
        # Still alive: only readiness fails.
        assert daemon.probe("/healthz")[0] == 200
    status, ready = daemon.probe("/readyz")
    assert status == 200, ready

    assert daemon.stop() == 0, daemon.output
    assert not daemon.runtime_file.exists()


@pytest.mark.slow
def test_healthz_fails_while_the_event_loop_is_blocked(
    tmp_path: Path, site: GatedSite, daemons: list[Daemon]
) -> None:
    # The feed's answer is held until the test holds the store's write lock: recording the
    # fetch then waits for the lock on the loop's thread (SQLite's busy wait is synchronous),
    # which is what a long write by another process (an import, a VACUUM) does to the daemon.
    feed = site.feed("/held.xml", "one", gated=True)
    http = 'listen = "127.0.0.1:0"\nloop_timeout = "0.5s"\nscheduler_stale = "1s"'
    daemon = Daemon(tmp_path, config_text({"held": feed}, http=http))
    daemons.append(daemon)
    daemon.runtime()
    assert daemon.probe("/healthz")[0] == 200
    wait_for(lambda: "/held.xml" in site.requested, 10, "the feed to be requested")

    locker = sqlite3.connect(daemon.store, timeout=5, isolation_level=None)
    try:
        locker.execute("BEGIN IMMEDIATE")
        site.release.set()
        status, health = wait_for(
            lambda: (h := daemon.probe("/healthz"))[0] == 503 and h, 15, "/healthz to fail"
        )
        assert health["failed"] == ["loop"]
        assert "did not answer within 0.5s" in health["checks"]["loop"]["detail"]
        status, ready = daemon.probe("/readyz")
        # Not ready: the scheduler cannot tick. The store is not blamed for a write in progress.
        assert status == 503
        assert ready["failed"] == ["scheduler"]
        assert ready["checks"]["store"]["busy"] is True
    finally:
        locker.execute("ROLLBACK")
        locker.close()
    wait_for(lambda: daemon.probe("/healthz")[0] == 200, 10, "/healthz to pass again")
    wait_for(lambda: daemon.probe("/readyz")[0] == 200, 10, "/readyz to pass again")
    assert daemon.stop() == 0, daemon.output


@pytest.mark.slow
def test_the_default_port_taken_falls_back_to_a_free_one(
    tmp_path: Path, site: GatedSite, daemons: list[Daemon]
) -> None:
    with socket.socket() as taken:
        try:  # held here, or by something else already: taken either way
            taken.bind(("127.0.0.1", 9464))
            taken.listen()
        except OSError:
            pass
        daemon = Daemon(tmp_path, config_text({"news": site.feed("/news.xml")}, http=""))
        daemons.append(daemon)
        url = daemon.runtime()["probe_url"]
        assert url.startswith("http://127.0.0.1:") and not url.endswith(":9464")
        assert daemon.probe("/healthz")[0] == 200
        assert daemon.get("/nothing")[0] == 404
        request = urllib.request.Request(f"{url}/readyz", method="POST")
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(request, timeout=10)
        assert refused.value.code == 405
    assert daemon.stop() == 0
    assert "the default 127.0.0.1:9464 is taken" in daemon.output
    assert f"serving on {url} instead" in daemon.output


def test_a_bad_listen_value_is_one_line_naming_the_file_and_key(tmp_path: Path) -> None:
    config = tmp_path / "marsad.toml"
    config.write_text(
        config_text({"news": "http://127.0.0.1:9/feed.xml"}, http='listen = "everywhere:80"'),
        encoding="utf-8",
    )
    result = subprocess.run(
        [*MARSAD, "run", "--config", str(config)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2
    assert f"{config}: http.listen: 'everywhere' is not an IP address" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


@pytest.mark.slow
def test_a_port_already_taken_stops_the_daemon_saying_so(tmp_path: Path, site: GatedSite) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        config = tmp_path / "marsad.toml"
        http = f'listen = "127.0.0.1:{port}"'
        config.write_text(config_text({"news": site.feed("/news.xml")}, http=http))
        result = subprocess.run(
            [*MARSAD, "run", "--config", str(config)], capture_output=True, text=True, timeout=60
        )
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert f"http.listen = '127.0.0.1:{port}': cannot listen there" in result.stderr


@pytest.mark.parametrize(
    ("listen", "expected"),
    [
        ("127.0.0.1:9464", ("127.0.0.1", 9464)),
        ("[::1]:0", ("::1", 0)),
        ("localhost:8080", ("localhost", 8080)),
        ("0.0.0.0:9464", ("0.0.0.0", 9464)),  # written, so explicit
        ("off", None),
    ],
)
def test_listen_values(listen: str, expected: tuple[str, int] | None) -> None:
    from marsad.config import config_from_document

    assert config_from_document({"http": {"listen": listen}}).http.listen == expected


def test_the_default_is_loopback() -> None:
    from marsad.config import config_from_document

    http = config_from_document({}).http
    assert http.listen == ("127.0.0.1", 9464)
    assert (http.loop_timeout, http.scheduler_stale, http.alert_age) == (5.0, 60.0, 900.0)


@pytest.mark.parametrize("listen", ["127.0.0.1", "127.0.0.1:65536", ":9464", "host:80", 9464])
def test_bad_listen_values_say_what_is_wrong(listen: object) -> None:
    from marsad.config import ConfigError, config_from_document

    with pytest.raises(ConfigError, match=r"^http\.listen: "):
        config_from_document({"http": {"listen": listen}})


class _Clock:
    def __init__(self, start: float) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now


def _queued_alert(path: Path, due: str) -> None:
    from marsad.storage.db import open_store

    db = open_store(path)
    db.conn.executescript(
        f"""
        INSERT INTO stories (id, first_seen, last_seen) VALUES (1, 'x', 'x');
        INSERT INTO articles
            (id, canonical_url, url, source, fetched_at, story_id, extraction, body_hash)
            VALUES (1, 'http://a/1', 'http://a/1', 'a', 'x', 1, 'feed', 'h');
        INSERT INTO alerts (article_id, story_id, rule, channel, idempotency_key, payload,
            next_attempt_at, created_at) VALUES (1, 1, 'r', 'hook', 'k', '{{}}', '{due}', '{due}');
        """
    )
    db.close()


def test_readiness_checks_with_their_clocks(tmp_path: Path) -> None:
    import asyncio
    from datetime import UTC, datetime, timedelta

    from marsad.config import HttpConfig
    from marsad.scheduler.probes import Probes
    from marsad.times import to_iso

    store = tmp_path / "store.db"
    wall = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
    _queued_alert(store, to_iso(wall - timedelta(minutes=20)))
    tick = _Clock(100.0)
    http = HttpConfig(scheduler_stale=60.0, alert_age=900.0)
    loop = asyncio.new_event_loop()
    try:
        started_late = Probes(loop, store, http, clock=tick, wall_clock=lambda: wall)
        # Due for 20 minutes, but the daemon started just now: its backlog is given alert_age.
        assert started_late.ready().ok
        earlier = {"value": wall - timedelta(hours=1)}
        running = Probes(loop, store, http, clock=tick, wall_clock=lambda: earlier["value"])
        earlier["value"] = wall
        result = running.ready()
        assert not result.ok and list(result.checks) == ["store", "scheduler", "outbox"]
        assert result.checks["outbox"]["detail"] == "an alert has been due for 1200s (limit 900s)"

        tick.now = 161.0
        result = started_late.ready()
        assert [n for n, c in result.checks.items() if not c["ok"]] == ["scheduler"]
        started_late.ticked()
        assert started_late.ready().ok
        started_late.stopping = True
        assert started_late.ready().checks["daemon"] == {"ok": False, "detail": "stopping"}
    finally:
        loop.close()


def test_alive_fails_while_the_loop_is_busy_and_passes_after() -> None:
    import asyncio

    from marsad.config import HttpConfig
    from marsad.scheduler.probes import Probes

    loop = asyncio.new_event_loop()
    runner = threading.Thread(target=loop.run_forever, daemon=True)
    runner.start()
    try:
        probes = Probes(loop, Path("unused.db"), HttpConfig(loop_timeout=0.2))
        assert probes.alive().ok
        release = threading.Event()
        loop.call_soon_threadsafe(release.wait, 5)  # a synchronous wait on the loop's thread
        result = probes.alive()
        assert not result.ok
        assert result.checks["loop"]["detail"] == (
            "the event loop did not answer within 0.2s (blocked)"
        )
        release.set()
        assert wait_for(lambda: probes.alive().ok, 5, "the loop to answer again")
    finally:
        loop.call_soon_threadsafe(loop.stop)
        runner.join(5)
        loop.close()


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "::1"])
def test_the_probe_server_listens_where_it_is_told(host: str) -> None:
    from marsad.scheduler.probes import ProbeServer

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [environ["PATH_INFO"].encode()]

    try:
        server = ProbeServer(host, 0, app)
    except OSError as exc:  # no IPv6 on this machine
        pytest.skip(f"cannot listen on {host}: {exc}")
    server.start()
    try:
        with urllib.request.urlopen(f"{server.url}/path", timeout=10) as answer:
            assert answer.read() == b"/path"
    finally:
        server.stop()
    assert server.url.startswith("http://[::1]:" if host == "::1" else "http://127.0.0.1:")


def test_the_crawler_serves_no_console_and_no_remote_control() -> None:
    from marsad.crawler.config import CrawlConfig
    from marsad.crawler.runner import crawler_settings

    settings = crawler_settings(CrawlConfig())
    assert settings.getbool("TELNETCONSOLE_ENABLED") is False
    assert settings.getbool("REMOTE_CONTROL_ENABLED") is False
    assert "marsad.crawler.telemetry.CrawlTelemetry" in settings.getdict("EXTENSIONS")
