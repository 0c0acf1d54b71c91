"""The Apprise channel type: its config, its right-to-left text, and real notifications through
Apprise's ``json://`` to a listener on 127.0.0.1 (never an external service), through the real
outbox with an injected clock."""

from __future__ import annotations

import asyncio
import json
import random
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlite_utils import Database

from marsad.alerts.channels import ChannelError, parse_channels
from marsad.alerts.channels.apprise import AppriseChannel, alert_text, alert_title, digest_text
from marsad.alerts.config import DeliveryConfig
from marsad.alerts.delivery import DeliveryReport, deliver_due
from marsad.alerts.matching import compile_rules
from marsad.alerts.rules import Rule
from marsad.ingest import ingest_article
from marsad.storage.models import NewArticle
from marsad.times import to_iso
from tests.webhook_sink import WebhookSink

T0 = datetime(2025, 3, 1, 12, 0, 0, tzinfo=UTC)
URL_ENV = "MARSAD_TEST_APPRISE_URL"
RULE = Rule("انسحاب", ("الانسحاب",), ("chat",))
TITLE = "التحالف يعلن الانسحاب من القاعدة"
BODY = "أعلن التحالف اليوم الانسحاب من القاعدة الجوية بعد سنوات من الوجود العسكري فيها."
CONFIG = DeliveryConfig(max_attempts=4, backoff_base=30.0, backoff_max=3600.0)
RLM, FSI, PDI = "\u200f", "\u2068", "\u2069"


@pytest.fixture
def sink() -> Iterator[WebhookSink]:
    with WebhookSink() as running:
        yield running


def chat(url: str | None, **table: Any) -> dict[str, Any]:
    environ = {URL_ENV: url} if url is not None else {}
    return parse_channels(
        {"chat": {"type": "apprise", "url_env": URL_ENV, "timeout": "5s", **table}},
        environ=environ,
    )


def json_url(sink: WebhookSink, path: str = "/notify") -> str:
    return sink.url.replace("http://", "json://") + path


def queue(db: Database, source: str = "Reuters عربي", url: str = "https://a.example/1") -> int:
    article = NewArticle(url=url, canonical_url=url, source=source, title=TITLE, text=BODY)
    result = ingest_article(db, article, compile_rules([RULE]), now=to_iso(T0))
    assert result.alerts_queued == 1
    return int(next(db.query("SELECT id FROM alerts ORDER BY id DESC LIMIT 1"))["id"])


def run(db: Database, channels: dict[str, Any], at: datetime = T0) -> DeliveryReport:
    return asyncio.run(deliver_due(db, channels, CONFIG, now=lambda: at))


def alert_row(db: Database, alert_id: int) -> dict[str, Any]:
    return dict(next(db.query("SELECT * FROM alerts WHERE id = ?", [alert_id])))


# The text: exact strings.


def test_alert_text_isolates_each_piece_and_starts_every_line_right_to_left() -> None:
    text = alert_text(
        title="BBC: مقتل 3 في غارة",
        words=["الانسحاب", "NATO"],
        outlets=3,
        sources=["BBC عربي", "الجزيرة", "RT"],
        url="https://a.example/1",
    )
    assert text == (
        f"{RLM}{FSI}BBC: مقتل 3 في غارة{PDI}\n"
        f"{RLM}الكلمات المطابقة: {FSI}الانسحاب{PDI}، {FSI}NATO{PDI}\n"
        f"{RLM}عدد وسائل الإعلام: 3 ({FSI}BBC عربي{PDI}، {FSI}الجزيرة{PDI}، {FSI}RT{PDI})\n"
        "https://a.example/1"
    )
    assert alert_title("انسحاب") == f"{RLM}مرصد: {FSI}انسحاب{PDI}"


def test_alert_text_drops_bidi_controls_from_the_feed_and_caps_long_lists() -> None:
    # A hostile title's override (U+202E) must not reorder the line; ours are the only controls.
    text = alert_text(
        title="\u202eخبر\u2066",
        words=[f"ك{i}" for i in range(10)],
        outlets=9,
        sources=[f"S{i}" for i in range(7)],
        url="",
    )
    words = "، ".join(f"{FSI}ك{i}{PDI}" for i in range(8))
    sources = "، ".join(f"{FSI}S{i}{PDI}" for i in range(5))
    assert text == (
        f"{RLM}{FSI}خبر{PDI}\n"
        f"{RLM}الكلمات المطابقة: {words} +2\n"
        f"{RLM}عدد وسائل الإعلام: 9 ({sources}) +2"
    )


def test_digest_text_lists_stories_then_how_many_more() -> None:
    stories = [
        {
            "title": "خبر ثان",
            "outlets": 4,
            "rules": ["r1"],
            "words": ["كلمة"],
            "url": "https://x/2",
        },
        {"title": "CNN 1", "outlets": 1, "rules": ["r1", "r2"], "words": ["a", "ب"], "url": ""},
    ]
    assert digest_text("2025-03-01 07:00 → 2025-03-02 07:00 (Asia/Riyadh)", stories, 5) == (
        f"{RLM}الفترة: {FSI}2025-03-01 07:00 → 2025-03-02 07:00 (Asia/Riyadh){PDI}\n"
        f"{RLM}1. {FSI}خبر ثان{PDI} — وسائل الإعلام: 4\n"
        f"{RLM}{FSI}r1{PDI}: {FSI}كلمة{PDI}\n"
        "https://x/2\n"
        f"{RLM}2. {FSI}CNN 1{PDI} — وسائل الإعلام: 1\n"
        f"{RLM}{FSI}r1{PDI}، {FSI}r2{PDI}: {FSI}a{PDI}، {FSI}ب{PDI}\n"
        f"{RLM}+5 أخرى"
    )


# The config.


def test_the_url_comes_from_the_environment_and_is_never_shown() -> None:
    secret = "json://user:tok3n@127.0.0.1:9/x"
    [channel] = chat(secret).values()
    assert isinstance(channel, AppriseChannel)
    assert channel.url == secret
    assert "tok3n" not in repr(channel)
    assert channel.unset_variables() == ()
    [unset] = chat(None).values()
    assert unset.unset_variables() == (URL_ENV,)


def test_a_url_apprise_cannot_parse_is_one_line_naming_channel_and_variable() -> None:
    with pytest.raises(ChannelError) as info:
        chat("nosuchservice://s3cr3t-token@host")
    message = str(info.value)
    assert message.startswith(
        f"channels.chat.url_env: Apprise cannot use the URL in environment variable {URL_ENV} "
        "(channel chat)"
    )
    assert "s3cr3t" not in message and "\n" not in message
    with pytest.raises(ChannelError, match=r"^channels.chat.url_env: required"):
        parse_channels({"chat": {"type": "apprise"}}, environ={})
    with pytest.raises(ChannelError, match=r"^channels.chat.url: unknown key"):
        parse_channels({"chat": {"type": "apprise", "url_env": "X", "url": "json://x"}}, environ={})


def test_apprise_is_imported_only_when_an_apprise_channel_is_configured() -> None:
    probe = (
        "import sys\n"
        "from marsad.alerts.channels import parse_channels\n"
        "import marsad.alerts.delivery, marsad.scheduler.jobs\n"
        "parse_channels({'w': {'type': 'webhook', 'url': 'http://127.0.0.1:9/'}}, environ={})\n"
        "print('apprise' in sys.modules)\n"
        "parse_channels({'c': {'type': 'apprise', 'url_env': 'U'}},"
        " environ={'U': 'json://127.0.0.1:9/'})\n"
        "print('apprise' in sys.modules)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True
    )
    assert out.stdout.split() == ["False", "True"]


# Real notifications to a loopback listener.


def test_an_alert_is_one_notification_with_words_and_outlet_count(
    store: Database, sink: WebhookSink
) -> None:
    alert_id = queue(store)
    report = run(store, chat(json_url(sink)))
    assert (report.sent, report.retried, report.errors) == (1, 0, [])
    [request] = sink.requests
    assert request.path == "/notify"
    body = json.loads(request.body)
    assert body["title"] == f"{RLM}مرصد: {FSI}انسحاب{PDI}"
    assert body["message"] == (
        f"{RLM}{FSI}{TITLE}{PDI}\n"
        f"{RLM}الكلمات المطابقة: {FSI}الانسحاب{PDI}\n"
        f"{RLM}عدد وسائل الإعلام: 1 ({FSI}Reuters عربي{PDI})\n"
        "https://a.example/1"
    )
    row = alert_row(store, alert_id)
    assert (row["status"], row["attempts"]) == ("sent", 1)


def test_an_unset_variable_keeps_the_alert_queued_and_says_which(
    store: Database, sink: WebhookSink
) -> None:
    alert_id = queue(store)
    report = run(store, chat(None))
    assert (report.sent, report.retried) == (0, 1)
    row = alert_row(store, alert_id)
    assert row["status"] == "pending"
    assert row["last_error"] == f"channel chat: environment variable {URL_ENV} is not set"
    assert sink.requests == []


def test_a_listener_answering_500_is_retried_then_delivered(
    store: Database, sink: WebhookSink
) -> None:
    alert_id = queue(store)
    sink.answer_next(500, body=b"boom")
    first = run(store, chat(json_url(sink)))
    assert (first.sent, first.retried) == (0, 1)
    row = alert_row(store, alert_id)
    assert row["status"] == "pending"
    assert "500" in row["last_error"] and "\n" not in row["last_error"]
    # Not due again until its backoff has passed; then it goes.
    assert run(store, chat(json_url(sink))).attempted == 0
    later = T0 + timedelta(seconds=CONFIG.backoff_base * 1.2)
    second = run(store, chat(json_url(sink)), at=later)
    assert (second.sent, second.retried) == (1, 0)
    assert len(sink.requests) == 2
    assert alert_row(store, alert_id)["status"] == "sent"
    tries = store.query("SELECT ok FROM deliveries WHERE alert_id = ? ORDER BY id", [alert_id])
    assert [t["ok"] for t in tries] == [0, 1]


def test_a_refused_connection_is_a_retry_without_the_url_in_the_reason(store: Database) -> None:
    with WebhookSink() as gone:
        url = json_url(gone).replace("/notify", "/t0ken-path")
    alert_id = queue(store)
    report = run(store, chat(url))
    assert report.retried == 1
    error = alert_row(store, alert_id)["last_error"]
    assert error and "t0ken" not in error


def test_a_digest_is_one_notification_listing_the_periods_stories(
    store: Database, sink: WebhookSink
) -> None:
    from marsad.scheduler.digests import close_due_digests

    rules = compile_rules([RULE])
    words = ["القوات", "الحكومة", "المدينة", "الشمال", "الجنوب", "الاتفاق", "المفاوضات", "النفط"]
    texts = []
    for n in range(3):
        rng = random.Random(n)
        texts.append("الانسحاب " + " ".join(rng.choice(words) for _ in range(60)))
        url = f"https://a.example/{n}"
        article = NewArticle(
            url=url, canonical_url=url, source="أ", title=f"خبر {n}", text=texts[n]
        )
        at = T0 + timedelta(minutes=10 * n)
        assert ingest_article(store, article, rules, now=to_iso(at)).alerts_queued == 1
    # The first story is copied by another outlet: it is carried by two.
    copy = NewArticle(
        url="https://b.example/0",
        canonical_url="https://b.example/0",
        source="BBC عربي",
        title="خبر 0",
        text=texts[0],
    )
    assert (
        ingest_article(store, copy, rules, now=to_iso(T0 + timedelta(minutes=40))).status == "copy"
    )
    channels = chat(json_url(sink), digest="hourly", timezone="Asia/Riyadh")
    now = T0 + timedelta(hours=1, minutes=1)
    [closed] = close_due_digests(store, channels, now)
    report = run(store, channels, now)
    assert (report.sent, report.errors) == (1, [])
    [request] = sink.requests
    body = json.loads(request.body)
    assert body["title"] == f"{RLM}مرصد: موجز {FSI}hourly Asia/Riyadh{PDI}: 3 خبر"
    assert body["message"] == "\n".join(
        [
            f"{RLM}الفترة: {FSI}2025-03-01 15:00 → 2025-03-01 16:00 (Asia/Riyadh){PDI}",
            f"{RLM}1. {FSI}خبر 2{PDI} — وسائل الإعلام: 1",
            f"{RLM}{FSI}انسحاب{PDI}: {FSI}الانسحاب{PDI}",
            "https://a.example/2",
            f"{RLM}2. {FSI}خبر 1{PDI} — وسائل الإعلام: 1",
            f"{RLM}{FSI}انسحاب{PDI}: {FSI}الانسحاب{PDI}",
            "https://a.example/1",
            f"{RLM}3. {FSI}خبر 0{PDI} — وسائل الإعلام: 2",
            f"{RLM}{FSI}انسحاب{PDI}: {FSI}الانسحاب{PDI}",
            "https://a.example/0",
        ]
    )
    assert closed.alerts == 3
    sent = store.query(
        "SELECT count(*) AS n FROM alerts WHERE status = 'sent' AND kind = 'article'"
    )
    assert next(sent)["n"] == 3
