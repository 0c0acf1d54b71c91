"""Source-health alerts from a real daemon subprocess to a real webhook sink: a feed that starts
answering 403 raises one *failing* alert and one *recovered* alert when it comes back; a feed
that stops publishing raises one *silent* alert; never one per poll. Thresholds are small in
the test's config ([health] failures = 1, the quiet feed's expect_every = 4s)."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path

import pytest

from tests.daemonproc import stop_daemon
from tests.feedserver import FeedServer
from tests.webhook_sink import Received, WebhookSink

pytestmark = pytest.mark.slow

MARSAD = [sys.executable, "-c", "from marsad.cli import main; main()"]
RSS = "application/rss+xml; charset=utf-8"


def feed(name: str, *items: str) -> str:
    """An RSS feed whose entries have no link (stored from the feed's own text: no pages)."""
    entries = "".join(
        f'<item><title>{title}</title><guid isPermaLink="false">{name}-{n}</guid>'
        f"<description>{title}: نص الخبر كاملا في الموجز</description></item>"
        for n, title in enumerate(items)
    )
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
        f"<title>{name}</title><link>{{base}}/</link>{entries}</channel></rss>"
    )


def wait_for(condition: Callable[[], object], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def notices(sink: WebhookSink, name: str | None = None) -> list[dict[str, object]]:
    found = []
    for request in list(sink.requests):
        document = json.loads(request.body)
        if document.get("type") == "health" and (name is None or document["name"] == name):
            found.append(document)
    return found


def events(sink: WebhookSink, name: str) -> list[object]:
    return [n["event"] for n in notices(sink, name)]


def fetches(server: FeedServer, path: str) -> int:
    return server.paths().count(path)


@pytest.fixture
def server() -> Iterator[FeedServer]:
    with FeedServer() as feeds:
        yield feeds


@pytest.fixture
def sink() -> Iterator[WebhookSink]:
    with WebhookSink() as hooks:
        yield hooks


def test_failing_recovered_and_silent_alerts_reach_the_webhook_once(
    tmp_path: Path, server: FeedServer, sink: WebhookSink
) -> None:
    north = server.serve("/north.xml", feed("north", "الخبر الأول"), RSS)
    quiet = server.serve("/quiet.xml", feed("quiet", "خبر وحيد"), RSS)
    config = tmp_path / "marsad.toml"
    config.write_text(
        f"""
[store]
path = "store.db"

[crawl]
delay = 0
download_timeout = "5s"
obey_robots = false
workers = 0  # no pages to extract: no worker processes to start
allow_private = ["127.0.0.0/8"]

[delivery]
every = "1s"

[health]
channels = ["ops"]
failures = 1

[[feeds]]
name = "north"
url = "{north}"
every = "10s"

[[feeds]]
name = "quiet"
url = "{quiet}"
every = "10s"
expect_every = "4s"

[channels.ops]
type = "webhook"
url = "{sink.url}/hook"
""",
        encoding="utf-8",
    )
    daemon = subprocess.Popen(
        [*MARSAD, "run", "--config", str(config)],
        cwd=tmp_path,
        env={**os.environ},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        wait_for(lambda: fetches(server, "/north.xml") >= 1, 90, "north's first poll")
        server.serve_in_turn("/north.xml", [b"<h1>forbidden</h1>"], "text/html", statuses=[403])
        wait_for(lambda: events(sink, "north") == ["failing"], 40, "north's failing alert")
        failing = notices(sink, "north")[0]
        assert failing["subject"] == "feed" and failing["url"] == north
        assert "HTTP 403" in str(failing["detail"]) and failing["since"]
        assert "is failing since" in str(failing["summary"])

        server.serve("/north.xml", feed("north", "الخبر الأول", "الخبر الثاني"), RSS)
        wait_for(lambda: events(sink, "north") == ["failing", "recovered"], 60, "north's recovery")
        # The quiet feed published once, at its first poll: silent once 4 s passed.
        wait_for(lambda: events(sink, "quiet") == ["silent"], 40, "quiet's silent alert")
        polled = fetches(server, "/quiet.xml")
        wait_for(lambda: fetches(server, "/quiet.xml") > polled, 40, "quiet polled again")
        assert daemon.poll() is None, "the daemon exited early"
    finally:
        output = stop_daemon(daemon)
    assert daemon.returncode == 0, output
    # One alert per change, never one per poll (quiet was polled again while silent; the
    # same for a failing feed: tests/test_health_checks.py).
    assert events(sink, "north") == ["failing", "recovered"], output
    assert events(sink, "quiet") == ["silent"], output
    keys = [r.headers["idempotency-key"] for r in sink.requests if _is_notice(r)]
    assert len(set(keys)) == len(keys) == 3
    with sqlite3.connect(tmp_path / "store.db") as db:
        states = dict(db.execute("SELECT name, health FROM feeds").fetchall())
        kinds = db.execute("SELECT kind, status, count(*) FROM alerts GROUP BY 1, 2").fetchall()
        polled = dict(
            (name, (every, reason, last, upcoming))
            for name, every, reason, last, upcoming in db.execute(
                "SELECT name, poll_every, poll_reason, last_fetch_at, next_poll_at FROM feeds"
            )
        )
    assert states == {"north": "ok", "quiet": "silent"}
    assert kinds == [("health", "sent", 3)]
    # Polls that found nothing new stretched quiet's interval; its job was moved to it, and
    # next_poll_at says when it runs (within the interval's 10% jitter).
    every, reason, last, upcoming = polled["quiet"]
    assert every > 10 and "nothing new lately" in reason, reason
    gap = (datetime.fromisoformat(upcoming) - datetime.fromisoformat(last)).total_seconds()
    assert 0.85 * every - 1 <= gap <= 1.15 * every + 3, (gap, every)


def _is_notice(request: Received) -> bool:
    return json.loads(request.body).get("type") == "health"


def test_marsad_alerts_health_lists_what_each_health_alert_told(tmp_path: Path) -> None:
    """The health alerts a store holds, through the real CLI: what, about whom, since when,
    delivery state; article alerts are not among them and --health refuses --rule."""
    from marsad.storage.db import open_store
    from marsad.storage.health import insert_health_event
    from marsad.storage.outbox import enqueue_notice
    from marsad.storage.transactions import write_transaction

    store = tmp_path / "store.db"
    db = open_store(store)
    with write_transaction(db):
        event = insert_health_event(
            db,
            subject="feed",
            name="north",
            event="failing",
            since="2026-12-01T10:00:00Z",
            detail="3 failed fetches in a row; last: HTTP 403",
            facts={},
            created_at="2026-12-01T10:05:00Z",
        )
        enqueue_notice(
            db,
            health_event_id=event,
            rule="health",
            channel="ops",
            idempotency_key="marsad-test-north-failing",
            payload={"type": "health"},
            created_at="2026-12-01T10:05:00Z",
        )
    db.close()
    listed = subprocess.run(
        [*MARSAD, "alerts", "--health", "--json", "--db", str(store)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    (row,) = json.loads(listed.stdout)
    assert (row["subject"], row["name"], row["event"], row["channel"], row["status"]) == (
        "feed",
        "north",
        "failing",
        "ops",
        "pending",
    )
    assert "HTTP 403" in row["detail"] and row["since"] == "2026-12-01T10:00:00Z"
    table = subprocess.run(
        [*MARSAD, "alerts", "--health", "--db", str(store)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert "north" in table.stdout and "failing" in table.stdout
    refused = subprocess.run(
        [*MARSAD, "alerts", "--health", "--rule", "x", "--db", str(store)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert refused.returncode == 2 and "--health" in refused.stderr
