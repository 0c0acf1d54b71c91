"""Source and delivery health: the pure decisions (marsad.crawler.health, marsad.alerts.health)
on literals, and the checks the daemon runs after each poll and delivery
(marsad.scheduler.health) on a real store with injected time: one alert per change of state,
never one per poll."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from email import message_from_bytes
from email import policy as email_policy
from pathlib import Path

from sqlite_utils import Database

from marsad.alerts.channels.email import EmailChannel
from marsad.alerts.channels.webhook import WebhookChannel
from marsad.alerts.health import (
    ChannelFacts,
    HealthConfig,
    judge_channel,
    notice_document,
    notice_message,
)
from marsad.config import Config
from marsad.crawler.config import FeedConfig
from marsad.crawler.health import FeedFacts, judge_feed, usual_gap
from marsad.scheduler.health import check_delivery, check_feeds
from marsad.storage.feeds import (
    feed_state_counts,
    record_feed_failed,
    record_feed_fetched,
    upsert_feed,
)
from marsad.storage.health import note_channel_attempt
from marsad.storage.models import DueAlert
from marsad.storage.outbox import claim_due_alerts, mark_dead
from marsad.storage.transactions import write_transaction
from marsad.times import to_iso

T0 = datetime(2024, 5, 12, 12, 0, tzinfo=UTC)
HEALTH = HealthConfig(channels=("ops", "desk"), failures=3, failing_after=3600.0)


def at(minutes: float) -> str:
    return to_iso(T0 + timedelta(minutes=minutes))


def facts(**kw: object) -> FeedFacts:
    base = FeedFacts(
        name="north",
        told="ok",
        told_since=None,
        consecutive_failures=0,
        failures_since=None,
        last_fetch_at=at(0),
        last_error=None,
        watched_since=at(-60 * 24 * 30),
        last_arrival=at(-10),
    )
    return FeedFacts(**{**base.__dict__, **kw})  # type: ignore[arg-type]


def test_failing_after_n_failures_or_a_span_whichever_first() -> None:
    two = facts(consecutive_failures=2, failures_since=at(-20), last_error="HTTP 403")
    assert judge_feed(two, HEALTH, T0).state == "ok"
    three = facts(consecutive_failures=3, failures_since=at(-20), last_error="HTTP 403")
    decision = judge_feed(three, HEALTH, T0)
    assert (decision.state, decision.change, decision.since) == ("failing", "failing", at(-20))
    assert "HTTP 403" in decision.detail
    # Two failures an hour apart (a feed polled rarely) are failing too.
    spanning = facts(consecutive_failures=2, failures_since=at(-61), last_error="timed out")
    assert judge_feed(spanning, HEALTH, T0).state == "failing"
    # Told already: nothing to tell; recovered: told once, with since when it was failing.
    told = facts(told="failing", told_since=at(-20), consecutive_failures=4, failures_since=at(-20))
    assert judge_feed(told, HEALTH, T0).change is None
    back = judge_feed(facts(told="failing", told_since=at(-20)), HEALTH, T0)
    assert (back.state, back.change, back.since) == ("ok", "recovered", at(-20))


def test_silent_after_k_times_its_usual_gap_or_expect_every() -> None:
    hourly = tuple(at(-60 * n) for n in range(1, 30))
    assert usual_gap(hourly) == 3600.0
    # A burst (one poll's articles, seconds apart) is one arrival.
    assert usual_gap((at(0), at(0.5), at(1), at(60), at(120))) is None
    config = HealthConfig(silent_factor=4.0, silent_floor=3600.0)
    quiet = facts(arrivals=hourly, last_arrival=at(-60 * 3))
    assert judge_feed(quiet, config, T0).state == "ok"  # 3 h < 4 x 1 h
    gone = facts(arrivals=hourly, last_arrival=at(-60 * 5))
    decision = judge_feed(gone, config, T0)
    assert (decision.state, decision.change, decision.since) == ("silent", "silent", at(-300))
    assert "4 x usual gap 1h" in decision.detail
    # The floor holds for a feed that publishes every minute.
    busy = facts(arrivals=tuple(at(-5 * n) for n in range(1, 40)), last_arrival=at(-30))
    assert judge_feed(busy, config, T0).state == "ok"
    # expect_every wins; a failing feed is failing, not silent.
    assert judge_feed(facts(expect_every=300.0), config, T0).state == "silent"
    failing = facts(expect_every=300.0, consecutive_failures=9, failures_since=at(-60))
    assert judge_feed(failing, config, T0).state == "failing"


def _feed(store: Database, name: str = "north") -> int:
    with write_transaction(store):
        return upsert_feed(store, name, f"http://{name}.example/rss", at(-60 * 24))


def _config() -> Config:
    channels = {
        "ops": WebhookChannel(name="ops", url="http://hooks.example/"),
        "desk": WebhookChannel(name="desk", url="http://desk.example/"),
    }
    return Config(store_path=":memory:", channels=channels, health=HEALTH)  # type: ignore[arg-type]


NORTH = FeedConfig(name="north", url="http://north.example/rss", every=600.0, source="north")


def test_a_feed_failing_for_many_polls_is_told_once_and_its_recovery_once(
    store: Database,
) -> None:
    feed_id = _feed(store)
    config = _config()
    told = []
    for minute in range(0, 60, 10):  # six failed polls
        with write_transaction(store):
            record_feed_failed(
                store, feed_id, now=at(minute), status=403, error="HTTP 403", backoff_until=at(99)
            )
        told += check_feeds(store, config, [NORTH], T0 + timedelta(minutes=minute))
    assert [e.event for e in told] == ["failing"]
    assert feed_state_counts(store, at(60))["failing"] == 1
    with write_transaction(store):
        record_feed_fetched(
            store,
            feed_id,
            now=at(70),
            status=200,
            etag=None,
            last_modified=None,
            body_hash="h",
            new_items=1,
        )
    for minute in (70, 80):
        told += check_feeds(store, config, [NORTH], T0 + timedelta(minutes=minute))
    assert [e.event for e in told] == ["failing", "recovered"]
    # One alert per [health] channel per event, each with its own stable key.
    with write_transaction(store):
        due = claim_due_alerts(
            store, "test", due_by=at(100), now=at(100), lease_until=at(101), limit=10
        )
    assert sorted((a.channel, a.rule) for a in due) == [
        ("desk", "health/feed/failing"),
        ("desk", "health/feed/recovered"),
        ("ops", "health/feed/failing"),
        ("ops", "health/feed/recovered"),
    ]
    assert len({a.idempotency_key for a in due}) == 4
    failing = next(a for a in due if a.rule.endswith("failing"))
    assert failing.payload["since"] == at(0) and "HTTP 403" in failing.payload["detail"]


def test_a_channel_failing_for_an_hour_and_dead_letters_are_told(store: Database) -> None:
    config = _config()
    for minute in (0, 20, 50):
        with write_transaction(store):
            note_channel_attempt(store, "ops", ok=False, at=at(minute), error="HTTP 500")
        assert check_delivery(store, config, T0 + timedelta(minutes=minute)) == []
    with write_transaction(store):
        note_channel_attempt(store, "ops", ok=False, at=at(61), error="HTTP 500")
    entered = check_delivery(store, config, T0 + timedelta(minutes=61))
    assert [(e.subject, e.event, e.since) for e in entered] == [("channel", "failing", at(0))]
    assert check_delivery(store, config, T0 + timedelta(minutes=70)) == []
    # Its notice goes to the other channel only (the failing one would not carry it).
    with write_transaction(store):
        queued = claim_due_alerts(
            store, "t", due_by=at(99), now=at(99), lease_until=at(100), limit=10
        )
    assert [a.channel for a in queued] == ["desk"]
    with write_transaction(store):
        note_channel_attempt(store, "ops", ok=True, at=at(80), error=None)
    assert [e.event for e in check_delivery(store, config, T0 + timedelta(minutes=80))] == [
        "recovered"
    ]

    # Two article alerts gone dead: one dead-letters alert, then none within the hour.
    _dead_alerts(store, 2)
    told = check_delivery(store, config, T0 + timedelta(minutes=90))
    assert [(e.event, e.facts["dead"]) for e in told] == [("dead_letters", 2)]
    _dead_alerts(store, 1, first=2)
    assert check_delivery(store, config, T0 + timedelta(minutes=100)) == []
    later = check_delivery(store, config, T0 + timedelta(minutes=151))
    assert [(e.event, e.facts["dead"]) for e in later] == [("dead_letters", 1)]


def _dead_alerts(store: Database, count: int, first: int = 0) -> None:
    with write_transaction(store):
        for n in range(first, first + count):
            store.execute(
                "INSERT INTO stories (first_seen, last_seen) VALUES (?, ?)", [at(0), at(0)]
            )
            story = store.execute("SELECT max(id) FROM stories").fetchone()[0]
            cursor = store.execute(
                "INSERT INTO articles (canonical_url, url, source, extraction, body_hash, "
                "story_id, fetched_at) VALUES (?, ?, 's', 'feed', ?, ?, ?)",
                [f"http://a.example/{n}", f"http://a.example/{n}", f"h{n}", story, at(0)],
            )
            alert = store.execute(
                "INSERT INTO alerts (article_id, story_id, rule, channel, idempotency_key, "
                "payload, next_attempt_at, created_at) VALUES (?, ?, 'r', 'ops', ?, '{}', ?, ?)",
                [cursor.lastrowid, story, f"k{n}", at(0), at(0)],
            )
            mark_dead(store, int(alert.lastrowid or 0), "HTTP 410")


def test_judge_channel_on_literals() -> None:
    ok = ChannelFacts("ops", told="ok", failures_since=at(-30), last_error="HTTP 500")
    assert judge_channel(ok, HEALTH, T0) is None
    assert judge_channel(ChannelFacts("ops", "ok", at(-60), "x"), HEALTH, T0) is not None
    back = judge_channel(ChannelFacts("ops", "failing", None, "x", at(-90)), HEALTH, T0)
    assert back is not None and back.event == "recovered"


NOTICE = DueAlert(
    id=7,
    article_id=0,
    story_id=0,
    rule="health/feed/failing",
    channel="ops",
    idempotency_key="marsad-0123456789abcdef0123456789abcdef",
    payload={
        "kind": "health",
        "event_id": 3,
        "subject": "feed",
        "name": "الجزيرة",
        "url": "https://www.aljazeera.net/rss",
        "event": "failing",
        "since": "2024-05-12T12:00:00Z",
        "detail": "3 failed fetches in a row since 2024-05-12T12:00:00Z; last: HTTP 403",
        "facts": {"failures": 3},
        "noticed_at": "2024-05-12T12:20:00Z",
    },
    attempts=0,
)


def test_a_health_alert_as_a_webhook_document_and_an_email() -> None:
    document = json.loads(notice_document(NOTICE))
    assert document["type"] == "health" and document["event"] == "failing"
    assert document["summary"] == "feed الجزيرة is failing since 2024-05-12T12:00:00Z"
    assert document["idempotency_key"] == NOTICE.idempotency_key
    assert "HTTP 403" in document["detail"] and document["facts"] == {"failures": 3}

    channel = EmailChannel(name="desk", to=("desk@example.org",), sender="marsad@example.org")
    raw = notice_message(NOTICE, channel, date=T0).as_bytes()
    parsed = message_from_bytes(raw, policy=email_policy.default)
    assert str(parsed["Subject"]) == "[marsad] feed الجزيرة is failing since 2024-05-12T12:00:00Z"
    body = parsed.get_body(("plain",))
    assert body is not None
    text = body.get_content()
    assert "HTTP 403" in text and "Since: 2024-05-12T12:00:00Z" in text
    assert parsed["X-Marsad-Health"] == "feed/failing"


def test_marsad_feeds_shows_each_feed_s_health_and_interval(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from marsad.cli import cli
    from marsad.storage.db import open_store
    from marsad.storage.health import record_interval

    db = open_store(tmp_path / "store.db")
    try:
        feed_id = _feed(db)
        quiet_id = _feed(db, "quiet")
        config = _config()
        for minute in (0, 10, 20):
            with write_transaction(db):
                record_feed_failed(
                    db, feed_id, now=at(minute), status=403, error="HTTP 403", backoff_until=at(99)
                )
        check_feeds(db, config, [NORTH], T0 + timedelta(minutes=20))
        with write_transaction(db):
            record_interval(db, feed_id, 600.0, "10m: starting point")
            record_interval(db, quiet_id, 7200.0, "2h: ttl 120m")
    finally:
        db.close()
    runner = CliRunner()
    args = ["feeds", "--db", str(tmp_path / "store.db")]
    rows = json.loads(runner.invoke(cli, [*args, "--json"]).stdout)
    north = next(row for row in rows if row["name"] == "north")
    assert (north["health"], north["health_since"]) == ("failing", at(0))
    assert north["poll_reason"] == "10m: starting point"
    human = runner.invoke(cli, args)
    assert human.exit_code == 0, human.output
    # The table may fold a cell at a space: "failing since" over its time.
    assert "failing since" in human.stdout and at(0) in human.stdout
    assert "10m: starting point" in human.stdout and "2h: ttl 120m" in human.stdout
