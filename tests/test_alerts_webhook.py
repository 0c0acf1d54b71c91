"""Webhook delivery against a real HTTP listener on 127.0.0.1, through the real outbox.

Alerts are queued by the ingest path; every pass runs with an injected clock, so retries and
backoff are walked through by moving the clock, never by sleeping. Channels are parsed from
[channels.NAME] tables, as the config loader does, with the secret from an injected environment.
"""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import pytest
from sqlite_utils import Database

from marsad.alerts.channels import Channel, parse_channels
from marsad.alerts.channels.webhook import RETRY_AFTER_MAX, WebhookChannel, classify
from marsad.alerts.config import DeliveryConfig
from marsad.alerts.delivery import DeliveryReport, deliver_due
from marsad.alerts.matching import compile_rules
from marsad.alerts.rules import Rule
from marsad.alerts.signing import verify
from marsad.ingest import ingest_article
from marsad.retry import retry_after_seconds
from marsad.storage.models import NewArticle
from marsad.times import to_iso
from tests.webhook_sink import WebhookSink

SECRET_ENV = "MARSAD_TEST_WEBHOOK_SECRET"
SECRET = "سر-مشترك-s3cret"
ENVIRON = {SECRET_ENV: SECRET}
T0 = datetime(2025, 3, 1, 12, 0, 0, tzinfo=UTC)
RULE = Rule("انسحاب", ("الانسحاب",), ("hook",))
TITLE = "التحالف يعلن الانسحاب من القاعدة"
BODY = "أعلن التحالف اليوم الانسحاب من القاعدة الجوية بعد سنوات من الوجود العسكري فيها."
CONFIG = DeliveryConfig(max_attempts=4, backoff_base=30.0, backoff_max=3600.0)


class Clock:
    def __init__(self, start: datetime) -> None:
        self.moment = start

    def __call__(self) -> datetime:
        return self.moment

    def set(self, moment: datetime) -> None:
        self.moment = moment


@pytest.fixture
def sink() -> Iterator[WebhookSink]:
    with WebhookSink() as running:
        yield running


@pytest.fixture
def clock() -> Clock:
    return Clock(T0)


def hook(url: str, *, environ: Mapping[str, str] = ENVIRON, **table: Any) -> dict[str, Channel]:
    """A signed [channels.hook] table (plus ``table``), parsed with the secret from ``environ``."""
    return parse_channels(
        {"hook": {"type": "webhook", "url": url, "secret_env": SECRET_ENV, **table}},
        environ=environ,
    )


def queue(db: Database, url: str = "https://a.example/1", source: str = "أ") -> int:
    article = NewArticle(url=url, canonical_url=url, source=source, title=TITLE, text=BODY)
    result = ingest_article(db, article, compile_rules([RULE]), now=to_iso(T0))
    assert result.alerts_queued == 1
    return int(next(db.query("SELECT id FROM alerts ORDER BY id DESC LIMIT 1"))["id"])


def run(
    db: Database,
    channels: dict[str, Channel],
    clock: Clock,
    config: DeliveryConfig = CONFIG,
) -> DeliveryReport:
    return asyncio.run(deliver_due(db, channels, config, now=clock))


def alert_row(db: Database, alert_id: int) -> dict[str, Any]:
    return dict(next(db.query("SELECT * FROM alerts WHERE id = ?", [alert_id])))


def attempts(db: Database, alert_id: int) -> list[dict[str, Any]]:
    return [
        dict(row)
        for row in db.query("SELECT * FROM deliveries WHERE alert_id = ? ORDER BY id", [alert_id])
    ]


def test_alert_is_posted_signed_with_arabic_json_and_marked_sent(
    store: Database, sink: WebhookSink, clock: Clock
) -> None:
    alert_id = queue(store)
    report = run(store, hook(sink.url + "/in"), clock)

    assert (report.sent, report.retried, report.dead, report.errors) == (1, 0, 0, [])
    [request] = sink.requests
    assert request.path == "/in"
    assert request.headers["content-type"] == "application/json; charset=utf-8"
    key = alert_row(store, alert_id)["idempotency_key"]
    assert request.headers["idempotency-key"] == key
    assert request.headers["x-marsad-timestamp"] == str(int(T0.timestamp()))
    assert verify(
        SECRET.encode(),
        request.headers["x-marsad-signature"],
        request.body,
        now=int(T0.timestamp()),
    )
    assert not verify(b"wrong", request.headers["x-marsad-signature"], request.body, now=0)
    # Arabic is sent as UTF-8 text, not as \u escapes.
    assert TITLE.encode("utf-8") in request.body
    document = json.loads(request.body.decode("utf-8"))
    assert document["idempotency_key"] == key
    assert document["article"]["title"] == TITLE
    assert document["article"]["url"] == "https://a.example/1"
    assert document["article"]["source"] == "أ"
    hits = {m["field"]: m for m in document["matches"]}
    assert hits["title"]["keyword"] == "الانسحاب"
    body_hit = hits["body"]
    start, end = body_hit["highlight"]
    assert body_hit["snippet"][start:end] == "الانسحاب"
    assert document["story"]["outlets"] == 1
    assert document["story"]["sources"] == ["أ"]

    row = alert_row(store, alert_id)
    assert (row["status"], row["attempts"], row["sent_at"]) == ("sent", 1, to_iso(T0))
    [attempt] = attempts(store, alert_id)
    assert (attempt["ok"], attempt["status_code"], attempt["error"]) == (1, 200, None)
    assert attempt["duration_ms"] >= 0
    # Nothing is due any more: a second pass sends nothing.
    assert run(store, hook(sink.url), clock).sent == 0
    assert len(sink.requests) == 1


def test_payload_counts_the_outlets_carrying_the_story_at_send_time(
    store: Database, sink: WebhookSink, clock: Clock
) -> None:
    queue(store)
    copy = NewArticle(
        url="https://b.example/copy",
        canonical_url="https://b.example/copy",
        source="ب",
        title="نقلاً عن أ: " + TITLE,
        text=BODY,
    )
    assert ingest_article(store, copy, compile_rules([RULE]), now=to_iso(T0)).status == "copy"

    assert run(store, hook(sink.url), clock).sent == 1
    [request] = sink.requests
    story = json.loads(request.body)["story"]
    assert (story["outlets"], story["articles"], story["sources"]) == (2, 2, ["أ", "ب"])


def test_server_errors_back_off_exponentially_then_succeed(
    store: Database, sink: WebhookSink, clock: Clock
) -> None:
    alert_id = queue(store)
    sink.answer_next(500, count=2, body=b"upstream down")
    channels = hook(sink.url)

    first = run(store, channels, clock)
    assert (first.sent, first.retried, first.dead) == (0, 1, 0)
    row = alert_row(store, alert_id)
    assert (row["status"], row["attempts"]) == ("pending", 1)
    assert "HTTP 500: upstream down" in row["last_error"]
    wait = (datetime.fromisoformat(row["next_attempt_at"]) - T0).total_seconds()
    assert 30 <= wait <= 30 * 1.1 + 1

    # Not due yet: nothing is sent.
    clock.set(datetime.fromisoformat(row["next_attempt_at"]) - timedelta(seconds=1))
    assert run(store, channels, clock) == DeliveryReport()
    assert len(sink.requests) == 1

    second_at = datetime.fromisoformat(row["next_attempt_at"])
    clock.set(second_at)
    assert run(store, channels, clock).retried == 1
    row = alert_row(store, alert_id)
    wait = (datetime.fromisoformat(row["next_attempt_at"]) - second_at).total_seconds()
    assert 60 <= wait <= 60 * 1.1 + 1

    clock.set(datetime.fromisoformat(row["next_attempt_at"]))
    assert run(store, channels, clock).sent == 1
    assert alert_row(store, alert_id)["status"] == "sent"
    assert [(a["ok"], a["status_code"]) for a in attempts(store, alert_id)] == [
        (0, 500),
        (0, 500),
        (1, 200),
    ]
    # Same key every time, so the receiver can drop a repeat; each try is signed afresh.
    assert len({r.headers["idempotency-key"] for r in sink.requests}) == 1
    assert len({r.headers["x-marsad-signature"] for r in sink.requests}) == 3


@pytest.mark.parametrize(
    ("retry_after", "expected_wait"),
    [
        ("600", 600),
        (format_datetime(T0 + timedelta(seconds=900), usegmt=True), 900),
    ],
    ids=["seconds", "http-date"],
)
def test_retry_after_is_honoured_over_the_backoff(
    store: Database, sink: WebhookSink, clock: Clock, retry_after: str, expected_wait: int
) -> None:
    alert_id = queue(store)
    sink.answer_next(503, headers={"Retry-After": retry_after})
    assert run(store, hook(sink.url), clock).retried == 1
    row = alert_row(store, alert_id)
    assert datetime.fromisoformat(row["next_attempt_at"]) == T0 + timedelta(seconds=expected_wait)
    assert attempts(store, alert_id)[0]["status_code"] == 503


def test_429_is_retried(store: Database, sink: WebhookSink, clock: Clock) -> None:
    alert_id = queue(store)
    sink.answer_next(429, headers={"Retry-After": "5"})
    assert run(store, hook(sink.url), clock).retried == 1
    # The backoff (30 s) is longer than Retry-After (5 s): the later of the two wins.
    wait = (
        datetime.fromisoformat(alert_row(store, alert_id)["next_attempt_at"]) - T0
    ).total_seconds()
    assert wait >= 30


def test_client_error_is_permanent(store: Database, sink: WebhookSink, clock: Clock) -> None:
    alert_id = queue(store)
    sink.answer_next(400, body=b'{"error": "bad schema"}')
    report = run(store, hook(sink.url), clock)
    assert (report.sent, report.retried, report.dead) == (0, 0, 1)
    assert "HTTP 400" in report.errors[0]
    row = alert_row(store, alert_id)
    assert (row["status"], row["attempts"]) == ("dead", 1)
    assert "bad schema" in row["last_error"]
    clock.set(T0 + timedelta(days=1))
    assert run(store, hook(sink.url), clock) == DeliveryReport()
    assert len(sink.requests) == 1


def test_gives_up_after_max_attempts(store: Database, sink: WebhookSink, clock: Clock) -> None:
    alert_id = queue(store)
    sink.answer_next(502, count=10)
    config = DeliveryConfig(max_attempts=3, backoff_base=10.0, backoff_max=20.0)
    for _ in range(3):
        run(store, hook(sink.url), clock, config)
        clock.set(clock() + timedelta(hours=1))
    row = alert_row(store, alert_id)
    assert (row["status"], row["attempts"]) == ("dead", 3)
    assert "gave up after 3 attempts" in row["last_error"]
    assert len(attempts(store, alert_id)) == 3
    assert len(sink.requests) == 3


def test_backoff_is_capped_at_backoff_max(store: Database, sink: WebhookSink, clock: Clock) -> None:
    alert_id = queue(store)
    sink.answer_next(500, count=5)
    config = DeliveryConfig(max_attempts=10, backoff_base=10.0, backoff_max=25.0)
    waits = []
    for _ in range(4):
        started = clock()
        run(store, hook(sink.url), clock, config)
        due = datetime.fromisoformat(alert_row(store, alert_id)["next_attempt_at"])
        waits.append((due - started).total_seconds())
        clock.set(due)
    assert 10 <= waits[0] <= 12
    assert 20 <= waits[1] <= 23
    assert all(25 <= w <= 25 * 1.1 + 1 for w in waits[2:])


@pytest.mark.parametrize("environ", [{}, {SECRET_ENV: ""}], ids=["missing", "empty"])
def test_missing_secret_is_recorded_and_retried_without_sending(
    store: Database,
    sink: WebhookSink,
    clock: Clock,
    monkeypatch: pytest.MonkeyPatch,
    environ: dict[str, str],
) -> None:
    # In the process environment but not in the one the channels were parsed with: the sender
    # never looks at the process environment.
    monkeypatch.setenv(SECRET_ENV, SECRET)
    alert_id = queue(store)
    report = run(store, hook(sink.url, environ=environ), clock)
    assert (report.sent, report.retried, report.dead) == (0, 1, 0)
    assert sink.requests == []
    [attempt] = attempts(store, alert_id)
    assert SECRET_ENV in attempt["error"] and "not set" in attempt["error"]
    assert attempt["error"] == (
        f"channel hook: environment variable {SECRET_ENV} is not set; "
        "the webhook is not sent unsigned"
    )
    assert alert_row(store, alert_id)["status"] == "pending"


def test_secret_is_kept_on_the_channel_but_never_shown() -> None:
    [channel] = hook("https://hooks.example.org/in").values()
    assert isinstance(channel, WebhookChannel)
    assert (channel.secret_env, channel.secret) == (SECRET_ENV, SECRET)
    assert SECRET_ENV in repr(channel)
    assert SECRET not in repr(channel) and SECRET not in str(channel)


def test_channel_no_longer_configured_is_dead(
    store: Database, sink: WebhookSink, clock: Clock
) -> None:
    alert_id = queue(store)
    report = run(store, {}, clock)
    assert report.dead == 1
    row = alert_row(store, alert_id)
    assert row["status"] == "dead"
    assert "'hook' is not configured" in row["last_error"]
    assert attempts(store, alert_id)[0]["ok"] == 0


def test_connection_refused_is_retried(store: Database, clock: Clock) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    # The port is closed again: nothing listens there.
    alert_id = queue(store)
    report = run(store, hook(f"http://127.0.0.1:{port}/"), clock)
    assert report.retried == 1
    assert "ConnectError" in alert_row(store, alert_id)["last_error"]


def test_timeout_is_retried(store: Database, sink: WebhookSink, clock: Clock) -> None:
    alert_id = queue(store)
    sink.answer_next(200, hold=True)
    report = run(store, hook(sink.url, timeout=0.3), clock)
    assert report.retried == 1
    assert "timed out" in alert_row(store, alert_id)["last_error"]


def test_configured_headers_are_sent_but_cannot_override_ours(
    store: Database, sink: WebhookSink, clock: Clock
) -> None:
    queue(store)
    channels = hook(
        sink.url,
        headers={"Authorization": "Bearer t", "idempotency-key": "forged"},
    )
    assert run(store, channels, clock).sent == 1
    [request] = sink.requests
    assert request.headers["authorization"] == "Bearer t"
    assert request.headers["idempotency-key"].startswith("marsad-")


def test_unsigned_channel_sends_no_signature(
    store: Database, sink: WebhookSink, clock: Clock
) -> None:
    queue(store)
    # The secret is in the environment, but this channel names no variable: nothing to sign with.
    channels = parse_channels({"hook": {"type": "webhook", "url": sink.url}}, environ=ENVIRON)
    assert run(store, channels, clock).sent == 1
    assert "x-marsad-signature" not in sink.requests[0].headers


@pytest.mark.parametrize(
    ("status", "ok", "permanent"),
    [
        (200, True, False),
        (204, True, False),
        (301, False, True),
        (400, False, True),
        (401, False, True),
        (404, False, True),
        (410, False, True),
        (408, False, False),
        (425, False, False),
        (429, False, False),
        (500, False, False),
        (503, False, False),
    ],
)
def test_classify(status: int, ok: bool, permanent: bool) -> None:
    outcome = classify(status)
    assert (outcome.ok, outcome.permanent, outcome.status_code) == (ok, permanent, status)


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("120", 120.0),
        (" 0 ", 0.0),
        (format_datetime(T0 + timedelta(minutes=2), usegmt=True), 120.0),
        (format_datetime(T0 - timedelta(minutes=2), usegmt=True), 0.0),
        ("99999999999", 7 * 24 * 3600.0),
        ("-5", None),
        ("soon", None),
        ("", None),
        (None, None),
    ],
)
def test_parse_retry_after(value: str | None, seconds: float | None) -> None:
    assert retry_after_seconds(value, T0, cap=RETRY_AFTER_MAX) == seconds
