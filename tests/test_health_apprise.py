"""Health alerts over an Apprise channel: a feed failing, judged on a real store with an
injected clock, is told by one notification through Apprise's ``json://`` to a listener on
127.0.0.1, from a config whose ``[health] channels = ["chat"]`` names the Apprise channel."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlite_utils import Database

from marsad.alerts.delivery import deliver_due
from marsad.alerts.health import notice_title_and_body
from marsad.config import config_from_document
from marsad.scheduler.health import check_feeds
from marsad.storage.feeds import record_feed_failed, upsert_feed
from marsad.storage.transactions import write_transaction
from marsad.times import to_iso
from tests.webhook_sink import WebhookSink

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
URL_ENV = "MARSAD_TEST_HEALTH_APPRISE_URL"


@pytest.fixture
def sink() -> Iterator[WebhookSink]:
    with WebhookSink() as running:
        yield running


def at(minutes: float) -> str:
    return to_iso(T0 + timedelta(minutes=minutes))


def test_notice_title_and_body_on_a_literal_payload() -> None:
    payload = {
        "kind": "health",
        "subject": "feed",
        "name": "الشمال",
        "url": "http://north.example/rss",
        "event": "failing",
        "since": "2025-03-01T12:00:00Z",
        "detail": "3 failed fetches in a row; last: HTTP 403",
        "facts": {"consecutive_failures": 3},
        "noticed_at": "2025-03-01T12:20:00Z",
    }
    assert notice_title_and_body(payload) == (
        "[marsad] feed الشمال is failing since 2025-03-01T12:00:00Z",
        "URL: http://north.example/rss\n"
        "Since: 2025-03-01T12:00:00Z\n"
        "What happened: 3 failed fetches in a row; last: HTTP 403\n"
        "Noticed at: 2025-03-01T12:20:00Z\n"
        "\n"
        "consecutive_failures: 3\n",
    )


def test_a_failing_feed_is_told_over_apprise_to_a_loopback_listener(
    store: Database, sink: WebhookSink
) -> None:
    config = config_from_document(
        {
            "feeds": [{"name": "north", "url": "http://north.example/rss"}],
            "channels": {"chat": {"type": "apprise", "url_env": URL_ENV, "timeout": "5s"}},
            "health": {"channels": ["chat"], "failures": 2},
        },
        environ={URL_ENV: sink.url.replace("http://", "json://") + "/health"},
    )
    with write_transaction(store):
        feed_id = upsert_feed(store, "north", "http://north.example/rss", at(-60))
    for minute in (0, 10):
        with write_transaction(store):
            record_feed_failed(
                store, feed_id, now=at(minute), status=403, error="HTTP 403", backoff_until=at(99)
            )
    told = check_feeds(store, config, config.feeds, T0 + timedelta(minutes=10))
    assert [(e.subject, e.event) for e in told] == [("feed", "failing")]

    report = asyncio.run(
        deliver_due(store, config.channels, config.delivery, now=lambda: T0 + timedelta(minutes=11))
    )
    assert (report.sent, report.dead, report.errors) == (1, 0, [])
    [request] = sink.requests
    assert request.path == "/health"
    body = json.loads(request.body)
    assert body["title"] == f"[marsad] feed north is failing since {at(0)}"
    lines = body["message"].splitlines()
    assert lines[0] == "URL: http://north.example/rss"
    assert lines[1] == f"Since: {at(0)}"
    assert lines[2].startswith("What happened: ") and "HTTP 403" in lines[2]
    row = next(store.query("SELECT status, rule, attempts FROM alerts"))
    assert row == {"status": "sent", "rule": "health/feed/failing", "attempts": 1}
