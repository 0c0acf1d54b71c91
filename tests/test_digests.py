"""Digests through the real store and outbox: periods closed from alerts raised at known times
(a fixed clock), delivered to a real webhook receiver and a real SMTP server on 127.0.0.1, once
even with two ``marsad deliver`` processes at the same time."""

from __future__ import annotations

import asyncio
import json
import random
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlite_utils import Database

from marsad.alerts.channels import Channel, parse_channels
from marsad.alerts.channels.digest_schedule import DigestSchedule
from marsad.alerts.config import DeliveryConfig
from marsad.alerts.delivery import DeliveryReport, deliver_due
from marsad.alerts.digest import last_closed_period
from marsad.alerts.matching import compile_rules
from marsad.alerts.rules import Rule
from marsad.alerts.signing import verify
from marsad.ingest import ingest_article
from marsad.scheduler.digests import close_due_digests
from marsad.storage.db import open_store
from marsad.storage.digests import channel_digests
from marsad.storage.models import NewArticle
from marsad.times import to_iso
from tests.test_alerts_email import Inbox
from tests.test_alerts_email import inbox as inbox  # the aiosmtpd fixture
from tests.webhook_sink import WebhookSink

MARSAD = [sys.executable, "-c", "from marsad.cli import main; main()"]
CONFIG = DeliveryConfig(max_attempts=5, backoff_base=30.0, backoff_max=600.0)
SECRET_ENV = "MARSAD_TEST_DIGEST_SECRET"
ENVIRON = {SECRET_ENV: "سر"}
# Daily at 07:00 in Riyadh (UTC+3): the period 1 March 07:00 to 2 March 07:00 is, in UTC,
# 2025-03-01T04:00Z to 2025-03-02T04:00Z.
PERIOD_START = datetime(2025, 3, 1, 4, 0, tzinfo=UTC)
PERIOD_END = datetime(2025, 3, 2, 4, 0, tzinfo=UTC)
NOW = datetime(2025, 3, 2, 4, 5, tzinfo=UTC)  # 07:05 in Riyadh
_WORDS = [
    *("القوات", "الحكومة", "المدينة", "الشمال", "الجنوب", "الاتفاق", "المفاوضات", "الرئيس"),
    *("الوزير", "البرلمان", "الاقتصاد", "السوق", "النفط", "المطار", "الميناء", "الجامعة"),
]


@pytest.fixture
def sink() -> Iterator[WebhookSink]:
    with WebhookSink() as running:
        yield running


def hook(url: str, digest: str = "daily 07:00") -> dict[str, Channel]:
    return parse_channels(
        {
            "hook": {
                "type": "webhook",
                "url": url,
                "secret_env": SECRET_ENV,
                "digest": digest,
                "timezone": "Asia/Riyadh",
            }
        },
        environ=ENVIRON,
    )


def raise_alert(db: Database, number: int, at: datetime, channel: str = "hook") -> int:
    """One article (a story of its own: a random text) matching the rule, stored at ``at``."""
    rng = random.Random(number)
    text = "الانسحاب " + " ".join(rng.choice(_WORDS) for _ in range(60))
    url = f"https://a.example/{number}"
    article = NewArticle(
        url=url, canonical_url=url, source="أ", title=f"الانسحاب رقم {number}", text=text
    )
    rules = compile_rules([Rule("انسحاب", ("الانسحاب",), (channel,))])
    result = ingest_article(db, article, rules, now=to_iso(at))
    assert result.alerts_queued == 1
    return int(next(db.query("SELECT story_id FROM alerts ORDER BY id DESC LIMIT 1"))["story_id"])


def run(db: Database, channels: dict[str, Channel], at: datetime) -> DeliveryReport:
    return asyncio.run(deliver_due(db, channels, CONFIG, now=lambda: at))


def statuses(db: Database) -> Counter[tuple[str, str]]:
    return Counter((r["kind"], r["status"]) for r in db.query("SELECT kind, status FROM alerts"))


def test_a_daily_digest_lists_exactly_its_periods_stories_newest_first(
    store: Database, sink: WebhookSink
) -> None:
    before = raise_alert(store, 0, PERIOD_START - timedelta(seconds=1))
    inside = [raise_alert(store, n, PERIOD_START + timedelta(hours=n)) for n in range(1, 24)]
    after = raise_alert(store, 99, PERIOD_END)  # 07:00 sharp: the next period's
    channels = hook(sink.url + "/in")

    # Before the period ends nothing is sent: each alert waits for its digest.
    early = run(store, channels, PERIOD_END - timedelta(minutes=1))
    assert early.attempted == 0 and sink.requests == []
    assert statuses(store) == {("article", "held"): 25}

    closed = close_due_digests(store, channels, NOW)
    assert [(d.period_start, d.period_end, d.stories) for d in closed] == [
        ("2025-02-28T04:00:00Z", "2025-03-01T04:00:00Z", 1),
        ("2025-03-01T04:00:00Z", "2025-03-02T04:00:00Z", 23),
    ]
    assert close_due_digests(store, channels, NOW) == []  # closed once

    report = run(store, channels, NOW)
    assert (report.sent, report.retried, report.errors) == (2, 0, [])
    bodies = [json.loads(r.body) for r in sink.requests]
    for request in sink.requests:
        assert verify(
            b"\xd8\xb3\xd8\xb1",
            request.headers["x-marsad-signature"],
            request.body,
            now=int(NOW.timestamp()),
        )
    [day] = [b["digest"] for b in bodies if b["digest"]["period"]["end"] == to_iso(PERIOD_END)]
    # The 23 stories of the period, newest first: 20 listed, 3 more counted.
    assert [s["story_id"] for s in day["stories"]] == inside[::-1][:20]
    assert (day["total"], day["more"], day["schedule"]) == (23, 3, "daily 07:00 Asia/Riyadh")
    newest = day["stories"][0]
    assert newest == {
        "story_id": inside[-1],
        "title": "الانسحاب رقم 23",
        "url": "https://a.example/23",
        "source": "أ",
        "outlets": 1,
        "rules": ["انسحاب"],
        "words": ["الانسحاب"],
        "alerted_at": "2025-03-02T03:00:00Z",
    }
    [earlier] = [b["digest"] for b in bodies if b["digest"]["period"]["end"] != to_iso(PERIOD_END)]
    assert [s["story_id"] for s in earlier["stories"]] == [before]

    # Every alert of both periods is recorded as delivered in its digest; the next period's
    # alert still waits, and is not sent alone.
    assert statuses(store) == {
        ("article", "sent"): 24,
        ("digest", "sent"): 2,
        ("article", "held"): 1,
    }
    held = next(store.query("SELECT story_id, digest_id FROM alerts WHERE status = 'held'"))
    assert (held["story_id"], held["digest_id"]) == (after, None)
    notes = Counter(
        r["error"]
        for r in store.query(
            "SELECT d.error FROM deliveries d JOIN alerts a ON a.id = d.alert_id "
            "WHERE a.kind = 'article'"
        )
    )
    assert sorted(notes) == [f"sent in digest {d.id}" for d in closed]
    assert sorted(notes.values()) == [1, 23]
    assert run(store, channels, NOW + timedelta(hours=1)).attempted == 0
    assert len(sink.requests) == 2


def test_a_failing_receiver_gets_the_digest_again_and_its_alerts_wait_until_then(
    store: Database, sink: WebhookSink
) -> None:
    for n in range(3):
        raise_alert(store, n, PERIOD_START + timedelta(hours=n))
    channels = hook(sink.url + "/in")
    [closed] = close_due_digests(store, channels, NOW)
    sink.answer_next(503, body=b"down")
    first = run(store, channels, NOW)
    assert (first.sent, first.retried) == (0, 1)
    assert statuses(store) == {("article", "held"): 3, ("digest", "pending"): 1}
    second = run(store, channels, NOW + timedelta(minutes=5))
    assert (second.sent, second.retried) == (1, 0)
    keys = {r.headers["idempotency-key"] for r in sink.requests}
    assert len(sink.requests) == 2 and len(keys) == 1  # the same digest, the same key
    assert statuses(store) == {("article", "sent"): 3, ("digest", "sent"): 1}
    [row] = channel_digests(store, "hook")
    assert (row["id"], row["status"], row["attempts"], row["alert_count"]) == (
        closed.id,
        "sent",
        2,
        3,
    )
    delivered = store.query(
        "SELECT status, sent_at, digest_id FROM alert_deliveries ORDER BY alert_id"
    )
    assert [tuple(r.values()) for r in delivered] == [
        ("sent", to_iso(NOW + timedelta(minutes=5)), closed.id)
    ] * 3


def test_a_channel_whose_digest_is_turned_off_sends_its_held_alerts_alone(
    store: Database, sink: WebhookSink
) -> None:
    raise_alert(store, 1, PERIOD_START)
    run(store, hook(sink.url + "/in"), PERIOD_START + timedelta(minutes=1))
    assert statuses(store) == {("article", "held"): 1}
    report = run(store, hook(sink.url + "/in", digest="none"), PERIOD_START + timedelta(minutes=2))
    assert report.sent == 1
    assert "digest" not in json.loads(sink.requests[0].body)
    assert statuses(store) == {("article", "sent"): 1}


def test_an_hourly_digest_is_one_mail(store: Database, inbox: Inbox) -> None:
    hour = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)
    for n in range(3):
        raise_alert(store, n, hour + timedelta(minutes=10 * n), channel="mail")
    raise_alert(store, 9, hour + timedelta(hours=1), channel="mail")  # the next hour's
    channels = parse_channels(
        {
            "mail": {
                "type": "email",
                "to": ["desk@example.org"],
                "smtp_host": "127.0.0.1",
                "smtp_port": inbox.port,
                "digest": "hourly",
                "timezone": "Asia/Riyadh",
                "timeout": "5s",
            }
        },
        environ={},
    )
    now = hour + timedelta(hours=1, minutes=1)
    [closed] = close_due_digests(store, channels, now)
    report = run(store, channels, now)
    messages = inbox.messages()
    assert (report.sent, report.errors) == (1, [])
    assert (closed.period_start, closed.period_end) == (
        "2025-03-01T09:00:00Z",
        "2025-03-01T10:00:00Z",
    )
    [message] = messages
    assert str(message["Subject"]) == "[marsad] موجز hourly Asia/Riyadh: 3 خبر"
    text = message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    html = message.get_body(("html",)).get_content()  # type: ignore[union-attr]
    assert text.splitlines()[:2] == [
        "[marsad] موجز hourly Asia/Riyadh: 3 خبر",
        "الفترة: 2025-03-01 12:00 → 2025-03-01 13:00 (Asia/Riyadh)",
    ]
    titles = [line for line in text.splitlines() if line[:1].isdigit()]
    assert titles == ["1. الانسحاب رقم 2", "2. الانسحاب رقم 1", "3. الانسحاب رقم 0"]
    assert "عدد وسائل الإعلام: 1 — انسحاب: الانسحاب" in text
    assert '<html dir="rtl" lang="ar">' in html and 'href="https://a.example/2"' in html
    assert statuses(store) == {
        ("article", "sent"): 3,
        ("digest", "sent"): 1,
        ("article", "held"): 1,
    }


def test_two_deliver_processes_send_a_digest_once(tmp_path: Path) -> None:
    """Both close the period and drain at the same time: one digest, one POST."""
    schedule = DigestSchedule("daily", "Asia/Riyadh", datetime.min.time().replace(hour=7))
    period = last_closed_period(schedule, datetime.now(UTC))
    path = tmp_path / "store.db"
    db = open_store(path)
    try:
        for n in range(12):
            raise_alert(db, n, period.start + timedelta(minutes=30 * n))
    finally:
        db.close()
    with WebhookSink() as sink:
        config = tmp_path / "marsad.toml"
        config.write_text(
            f'[store]\npath = "{path}"\n\n[channels.hook]\ntype = "webhook"\n'
            f'url = "{sink.url}/in"\ntimeout = "5s"\ndigest = "daily 07:00"\n'
            'timezone = "Asia/Riyadh"\n',
            encoding="utf-8",
        )
        processes = [
            subprocess.Popen(
                [*MARSAD, "deliver", "--config", str(config), "--json"],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for _ in range(2)
        ]
        outputs = [p.communicate(timeout=120) for p in processes]
        requests = list(sink.requests)
    for process, (_, err) in zip(processes, outputs, strict=True):
        assert process.returncode == 0, err
    assert sum(json.loads(out)["sent"] for out, _ in outputs) == 1
    [request] = requests
    digest = json.loads(request.body)["digest"]
    assert digest["total"] == 12 and digest["period"]["end"] == to_iso(period.end)
    db = open_store(path)
    try:
        assert statuses(db) == {("article", "sent"): 12, ("digest", "sent"): 1}
        assert len(channel_digests(db)) == 1
    finally:
        db.close()


def test_migration_0014_rebuilds_the_outbox_keeping_alerts_health_alerts_and_deliveries(
    tmp_path: Path,
) -> None:
    """A store from before 0014: its article and health alerts keep their ids, kinds, states
    and deliveries; the views still read them; a digest row and a held alert are then allowed."""
    import sqlite3

    from marsad.storage.migrations import migrations

    t0 = "2025-03-01T12:00:00Z"
    path = tmp_path / "old.db"
    old = Database(sqlite3.connect(path))
    old.execute("PRAGMA foreign_keys = ON")
    everything = migrations._migrations
    try:
        migrations._migrations = [m for m in everything if m.name < "0014"]
        migrations.apply(old)
    finally:
        migrations._migrations = everything
    old.execute("INSERT INTO stories (id, first_seen, last_seen) VALUES (1, ?, ?)", [t0, t0])
    old.execute(
        "INSERT INTO articles (id, canonical_url, url, source, extraction, body_hash, story_id, "
        "fetched_at) VALUES (1, 'http://a/1', 'http://a/1', 'a', 'feed', 'h', 1, ?)",
        [t0],
    )
    old.execute(
        "INSERT INTO health_events (id, subject, name, event, created_at) "
        "VALUES (1, 'feed', 'a', 'failing', ?)",
        [t0],
    )
    old.execute(
        "INSERT INTO alerts (id, article_id, story_id, rule, channel, idempotency_key, payload, "
        "status, next_attempt_at, created_at) VALUES (5, 1, 1, 'r', 'ops', 'k5', '{}', 'dead', "
        "?, ?)",
        [t0, t0],
    )
    old.execute(
        "INSERT INTO alerts (id, kind, health_event_id, rule, channel, idempotency_key, payload, "
        "status, next_attempt_at, created_at) VALUES (6, 'health', 1, 'h', 'ops', 'k6', '{}', "
        "'sent', ?, ?)",
        [t0, t0],
    )
    for alert_id in (5, 6):
        old.execute(
            "INSERT INTO deliveries (alert_id, attempted_at, ok, duration_ms) VALUES (?, ?, 0, 1)",
            [alert_id, t0],
        )
    old.conn.commit()
    old.close()

    db = open_store(path)
    try:
        alerts = db.query("SELECT id, kind, status, health_event_id, digest_id FROM alerts")
        assert [tuple(row.values()) for row in alerts] == [
            (5, "article", "dead", None, None),
            (6, "health", "sent", 1, None),
        ]
        assert [r["alert_id"] for r in db.query("SELECT alert_id FROM deliveries")] == [5, 6]
        assert list(db.query("PRAGMA foreign_key_check")) == []
        assert [r["alert_id"] for r in db.query("SELECT alert_id FROM alert_deliveries")] == [5]
        db.execute("UPDATE alerts SET status = 'held' WHERE id = 5")
        with pytest.raises(sqlite3.IntegrityError):  # a digest row names its digest
            db.execute(
                "INSERT INTO alerts (kind, rule, channel, idempotency_key, payload, "
                "next_attempt_at, created_at) VALUES ('digest', 'd', 'ops', 'kd', '{}', ?, ?)",
                [t0, t0],
            )
    finally:
        db.close()
