"""The daemon as a real subprocess: polls a loopback site, delivers to a loopback webhook,
picks up a new item on its next poll, and stops cleanly on SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from marsad.demo.content import DemoArticle, DemoOutlet
from marsad.demo.loopback import LoopbackServer
from marsad.demo.site import feed_path, render_site
from tests.daemonproc import stop_daemon
from tests.test_delivery_claims import SlowSink, queued_store

pytestmark = pytest.mark.slow

MARSAD = [sys.executable, "-c", "from marsad.cli import main; main()"]
SECRET = "daemon-test-secret"

FIRST = DemoArticle(
    slug="first",
    title="القوات تبدأ الانسحاب من القاعدة الشمالية",
    paragraphs=(
        "بدأت القوات صباح اليوم الانسحاب من القاعدة الشمالية بعد اتفاق مع السلطات المحلية.",
        "وقال مسؤول إن العملية ستستغرق أسبوعين على الأقل.",
    ),
    published="2020-03-29T09:00:00+00:00",
    author="مراسل",
)
SECOND = DemoArticle(
    slug="second",
    title="افتتاح معرض الكتاب في دورته الجديدة",
    paragraphs=("افتتح معرض الكتاب أبوابه أمام الزوار بمشاركة مئات دور النشر.",),
    published="2020-03-29T12:00:00+00:00",
    author="محرر الثقافة",
)
OUTLET = DemoOutlet(
    name="north",
    title="أخبار الشمال",
    kind="rss",
    encoding="utf-8",
    declare_charset=True,
    articles=(FIRST,),
)


def wait_for(condition: Callable[[], object], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def rows(db: Path, sql: str) -> list[tuple[object, ...]]:
    if not db.exists():
        return []
    with sqlite3.connect(db, timeout=10) as conn:
        try:
            return conn.execute(sql).fetchall()
        except sqlite3.OperationalError:  # schema not created yet
            return []


@pytest.fixture
def site() -> Iterator[LoopbackServer]:
    server = LoopbackServer()
    server.set_pages(render_site((OUTLET,), server.base_url))
    yield server
    server.close()


@pytest.fixture
def sink() -> Iterator[LoopbackServer]:
    server = LoopbackServer()
    yield server
    server.close()


def write_config(
    tmp_path: Path,
    site: LoopbackServer,
    sink: LoopbackServer,
    *,
    secret_env: str,
    hook_url: str | None = None,
) -> Path:
    """The daemon's config: ``site``'s one feed, alerts to ``sink`` (or to ``hook_url``)."""
    hook_url = hook_url or f"{sink.base_url}/hook"
    config = tmp_path / "marsad.toml"
    config.write_text(
        f"""
[store]
path = "store.db"

[crawl]
delay = 0
download_timeout = "5s"
allow_private = ["127.0.0.0/8"]  # the test servers are on loopback

[alerts]
window = "off"  # the sample articles carry fixed dates in the past

[delivery]
every = "10s"

[[feeds]]
name = "north"
url = "{site.base_url}{feed_path(OUTLET)}"
every = "10s"

[[rules]]
name = "withdrawal"
keywords = ["انسحاب"]
channels = ["hook"]

[channels.hook]
type = "webhook"
url = "{hook_url}"
secret_env = "{secret_env}"
""",
        encoding="utf-8",
    )
    return config


def start_daemon(
    tmp_path: Path, site: LoopbackServer, sink: LoopbackServer
) -> subprocess.Popen[str]:
    config = write_config(tmp_path, site, sink, secret_env="TEST_WEBHOOK_SECRET")
    env = {**os.environ, "TEST_WEBHOOK_SECRET": SECRET}
    return subprocess.Popen(
        [*MARSAD, "run", "--config", str(config)],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def test_daemon_polls_delivers_and_stops_on_sigterm(
    tmp_path: Path, site: LoopbackServer, sink: LoopbackServer
) -> None:
    db = tmp_path / "store.db"
    daemon = start_daemon(tmp_path, site, sink)
    try:
        wait_for(lambda: rows(db, "SELECT 1 FROM articles"), 30, "the first article")
        wait_for(lambda: sink.received(), 30, "the first alert at the webhook")
        payload = json.loads(sink.received()[0].body)
        assert payload["rule"] == "withdrawal"
        assert payload["article"]["title"] == FIRST.title

        # A new item appears; the next poll (every 10 s, jittered by 1 s) must pick it up.
        grown = replace(OUTLET, articles=(FIRST, SECOND))
        site.set_pages(render_site((grown,), site.base_url))
        wait_for(lambda: len(rows(db, "SELECT 1 FROM articles")) == 2, 40, "the new item's article")
        assert daemon.poll() is None, "the daemon exited early"
    finally:
        output = stop_daemon(daemon)
    assert daemon.returncode == 0, output
    assert "SIGTERM: stopping" in output
    assert "marsad stopped" in output
    statuses = rows(db, "SELECT status FROM alerts")
    assert statuses and all(status in {("sent",), ("pending",)} for status in statuses)
    assert len(sink.received()) == 1  # the book fair matched nothing


def test_daemon_refuses_a_config_without_feeds(tmp_path: Path) -> None:
    config = tmp_path / "marsad.toml"
    config.write_text('[[rules]]\nname = "r"\nkeywords = ["x"]\n', encoding="utf-8")
    result = subprocess.run(
        [*MARSAD, "run", "--config", str(config)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2
    assert "no [[feeds]]" in result.stderr


def test_daemon_reports_an_invalid_config(tmp_path: Path) -> None:
    config = tmp_path / "marsad.toml"
    config.write_text('[[feeds]]\nname = "a"\nurl = "gopher://x"\n', encoding="utf-8")
    result = subprocess.run(
        [*MARSAD, "run", "--config", str(config)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2
    assert f"{config}: feeds[0] 'a'.url" in result.stderr
    assert "Traceback" not in result.stderr


class _HangingSite:
    """A feed whose one article page hangs (at most 30 s), to catch the daemon mid-crawl."""

    def __init__(self) -> None:
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        self.page_requested = threading.Event()
        self.release = threading.Event()
        site = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path == "/robots.txt":
                    body, kind = b"User-agent: *\n", "text/plain"
                elif self.path == "/feed.xml":
                    body, kind = site.feed().encode(), "application/rss+xml; charset=utf-8"
                else:
                    site.page_requested.set()
                    site.release.wait(30)
                    body, kind = "<html><body><p>نص</p></body></html>".encode(), "text/html"
                self.send_response(200)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def feed(self) -> str:
        return (
            '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>بطيء</title>'
            f"<item><title>خبر بطيء</title><link>{self.base_url}/slow.html</link>"
            "<guid>slow-1</guid><description>ملخص الخبر البطيء</description></item>"
            "</channel></rss>"
        )

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


def test_second_signal_forces_exit_during_a_hanging_crawl(tmp_path: Path) -> None:
    site = _HangingSite()
    config = tmp_path / "marsad.toml"
    config.write_text(
        f"""
[store]
path = "store.db"
[crawl]
delay = 0
download_timeout = "25s"
allow_private = ["127.0.0.0/8"]
[[feeds]]
name = "slow"
url = "{site.base_url}/feed.xml"
every = "10m"
""",
        encoding="utf-8",
    )
    daemon = subprocess.Popen(
        [*MARSAD, "run", "--config", str(config)],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        wait_for(site.page_requested.is_set, 30, "the crawl to reach the hanging page")
        daemon.send_signal(signal.SIGTERM)
        time.sleep(1.0)
        assert daemon.poll() is None, "the first signal must wait for the in-flight crawl"
        daemon.send_signal(signal.SIGTERM)
        output, _ = daemon.communicate(timeout=15)
    finally:
        if daemon.poll() is None:
            daemon.kill()
            daemon.communicate()
        site.close()
    assert daemon.returncode == 130, output
    assert "waiting for 1 in-flight jobs" in output
    assert "forcing exit" in output


def start_logged(args: list[str], tmp_path: Path, log: Path) -> subprocess.Popen[str]:
    """A marsad subprocess writing its output to ``log``, to be read while it runs."""
    with log.open("w", encoding="utf-8") as out:
        return subprocess.Popen(
            [*MARSAD, *args],
            cwd=tmp_path,
            env={**os.environ, "TEST_WEBHOOK_SECRET": SECRET},
            stdout=out,
            stderr=subprocess.STDOUT,
            text=True,
        )


def test_a_second_daemon_on_one_store_refuses_to_start_and_a_killed_one_leaves_no_lock(
    tmp_path: Path, site: LoopbackServer, sink: LoopbackServer
) -> None:
    config = write_config(tmp_path, site, sink, secret_env="TEST_WEBHOOK_SECRET")
    store = tmp_path / "store.db"
    first = start_logged(["run", "--config", str(config)], tmp_path, tmp_path / "first.log")
    third: subprocess.Popen[str] | None = None
    try:
        wait_for(lambda: "marsad running" in (tmp_path / "first.log").read_text(), 30, "the daemon")
        second = _marsad_once("run", config, tmp_path, timeout=30)
        assert second.returncode == 2, second.stderr
        [line] = second.stderr.splitlines()
        assert str(store) in line
        assert f"pid {first.pid}" in line

        # Beside a daemon, a delivery pass is allowed: claims keep the two apart.
        deliver = _marsad_once("deliver", config, tmp_path, timeout=60)
        assert deliver.returncode == 0, deliver.stderr

        # Killed outright, the daemon leaves nothing to clean up: the OS dropped its lock.
        first.kill()
        first.wait(timeout=10)
        third = start_logged(["run", "--config", str(config)], tmp_path, tmp_path / "third.log")
        wait_for(
            lambda: "marsad running" in (tmp_path / "third.log").read_text(),
            30,
            "a new daemon after the first was killed",
        )
        assert third.poll() is None
    finally:
        for process in (first, third):
            if process is not None and process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(timeout=60)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
    assert third is not None and third.returncode == 0, (tmp_path / "third.log").read_text()


def test_the_daemon_and_marsad_deliver_on_one_store_send_each_alert_once(
    tmp_path: Path, site: LoopbackServer, sink: LoopbackServer
) -> None:
    store = tmp_path / "store.db"
    queued_store(store, 150)
    with SlowSink(delay=0.1) as hook:
        config = write_config(
            tmp_path, site, sink, secret_env="TEST_WEBHOOK_SECRET", hook_url=hook.url
        )
        daemon = start_logged(["run", "--config", str(config)], tmp_path, tmp_path / "run.log")
        try:
            wait_for(hook.requests.__len__, 30, "the daemon's first delivery")
            # The daemon is mid-pass (it claims a few alerts at a time): deliver beside it.
            deliver = subprocess.run(
                [*MARSAD, "deliver", "--config", str(config)],
                cwd=tmp_path,
                env={**os.environ, "TEST_WEBHOOK_SECRET": SECRET},
                capture_output=True,
                text=True,
                timeout=60,
            )
            wait_for(
                lambda: (
                    rows(store, "SELECT count(*) FROM alerts WHERE status = 'pending'") == [(0,)]
                ),
                60,
                "every alert sent",
            )
        finally:
            stop_daemon(daemon)
        keys = hook.keys()
    assert deliver.returncode == 0, deliver.stderr
    assert daemon.returncode == 0, (tmp_path / "run.log").read_text()
    by_deliver = int(deliver.stdout.split(" sent")[0])
    expected = {key for (key,) in rows(store, "SELECT idempotency_key FROM alerts")}
    assert len(expected) >= 150
    assert set(keys) == expected
    assert {key: n for key, n in keys.items() if n > 1} == {}
    # Both sent a share: the claims kept them apart, not luck of timing.
    assert 0 < by_deliver < len(expected)


def _marsad_once(
    command: str, config: Path, cwd: Path, *, timeout: float
) -> subprocess.CompletedProcess[str]:
    """Run one marsad command to its end with the test's secret set."""
    return subprocess.run(
        [*MARSAD, command, "--config", str(config)],
        cwd=cwd,
        env={**os.environ, "TEST_WEBHOOK_SECRET": SECRET},
        capture_output=True,
        text=True,
        timeout=timeout,
    )
