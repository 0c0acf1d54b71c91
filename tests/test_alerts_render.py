"""Rendering alerts, on literals: the shared safe-text helpers (alerts.render), the webhook JSON
and the e-mail (each in its channel type's module), escaping and sanitising."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime
from email import policy
from email.header import decode_header, make_header
from email.parser import BytesParser
from typing import Any

import pytest

from marsad.alerts.channels.email import (
    SUBJECT_MAX,
    EmailChannel,
    email_message,
    email_subject,
    header_text,
    mailbox_text,
    message_id,
)
from marsad.alerts.channels.webhook import webhook_body
from marsad.alerts.render import clean_line, highlight_span, split_snippet
from marsad.storage.models import DueAlert

STORY = {"articles": 3, "outlets": 2, "sources": ["الجزيرة", "العربية"]}
CHANNEL = EmailChannel(name="mail", to=("a@example.org",), sender="alerts@marsad.example")


def alert(title: str = "عاجل: الانسحاب من القاعدة", **article: Any) -> DueAlert:
    return DueAlert(
        id=7,
        article_id=11,
        story_id=5,
        rule="انسحاب",
        channel="mail",
        idempotency_key="marsad-0123abcd",
        payload={
            "rule": "انسحاب",
            "article": {
                "id": 11,
                "story_id": 5,
                "title": title,
                "url": "https://example.com/a?b=1&c=2",
                "source": "الجزيرة",
                "published": "2025-03-01T10:00:00Z",
                **article,
            },
            "matches": [
                {
                    "keyword": "انسحاب",
                    "field": "body",
                    "surface": "والانسحاب",
                    "start": 40,
                    "end": 49,
                    "snippet": "…قال الوزير إن «الانسحاب» لم يتقرر بعد والانسحاب سيكون تدريجيًا…",
                }
            ],
        },
        attempts=0,
    )


def test_webhook_body_is_utf8_json_with_the_story_and_a_stable_key_order() -> None:
    body = webhook_body(alert(), STORY)
    assert "الانسحاب".encode() in body
    assert body == webhook_body(alert(), STORY)
    document = json.loads(body)
    assert list(document) == sorted(document)
    assert document["idempotency_key"] == "marsad-0123abcd"
    assert document["rule"] == "انسحاب"
    assert document["article"]["source"] == "الجزيرة"
    assert document["story"] == {"id": 5, **STORY}
    [match] = document["matches"]
    start, end = match["highlight"]
    assert match["snippet"][start:end] == "والانسحاب"


def test_highlight_prefers_a_whole_word() -> None:
    snippet = "إسلام سلام"
    assert highlight_span(snippet, "سلام") == (6, 10)
    # Inside a word only when there is no whole-word occurrence.
    assert highlight_span("إسلام", "سلام") == (1, 5)
    assert highlight_span("لا شيء", "سلام") is None
    assert highlight_span("نص", "") is None


def test_split_snippet_cuts_around_the_match_and_cleans_the_pieces() -> None:
    match = {"snippet": "قال\u202e الوزير إن الانسحاب\n قريب", "surface": "الانسحاب"}
    assert split_snippet(match) == ("قال الوزير إن ", "الانسحاب", " قريب")
    assert split_snippet({"snippet": "لا شيء", "surface": "سلام"}) == ("لا شيء", "", "")


def test_clean_line_drops_controls_and_bidi_overrides() -> None:
    dirty = "سطر\r\nثانٍ\x00\x07\t\u202eمعكوس\u2066\u2069\u2028آخر\ufeff"
    assert clean_line(dirty) == "سطر ثانٍ معكوس آخر"
    # Joiners are part of written text and stay.
    assert clean_line("می\u200cخواهم") == "می\u200cخواهم"
    assert clean_line(None) == ""


@pytest.mark.parametrize(
    "title",
    [
        "عنوان\nBcc: x@example.com",
        "عنوان\r\n\r\nbody",
        "\u202eعنوان\x1b[31m",
        "ع" * 1000,
    ],
)
def test_subject_is_one_safe_capped_line(title: str) -> None:
    subject = email_subject("انسحاب", title)
    assert subject.startswith("[marsad] انسحاب: ")
    assert len(subject) <= SUBJECT_MAX
    assert not any(ch in subject for ch in "\r\n\x1b\u202e")
    message = email_message(alert(title), STORY, CHANNEL)
    assert message["Subject"] == subject


def test_empty_title_still_gives_a_subject() -> None:
    assert email_subject("قاعدة", "\n") == "[marsad] قاعدة: —"


def test_email_is_multipart_alternative_with_rtl_html() -> None:
    when = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
    message = email_message(alert(), STORY, CHANNEL, date=when)
    assert message.get_content_type() == "multipart/alternative"
    assert message["Message-ID"] == "<marsad-0123abcd@marsad.example>"
    assert message["X-Marsad-Idempotency-Key"] == "marsad-0123abcd"
    assert message["Date"] == "Sat, 01 Mar 2025 12:00:00 +0000"
    text_part = message.get_body(("plain",))
    html_part = message.get_body(("html",))
    assert text_part is not None and html_part is not None
    text = text_part.get_content()
    # «» in the article stay as written; the match is marked differently.
    assert "«الانسحاب» لم يتقرر بعد 【والانسحاب】 سيكون" in text
    assert "العربية" in text
    page = html_part.get_content()
    assert page.startswith('<!DOCTYPE html>\n<html dir="rtl" lang="ar">')
    assert "لم يتقرر بعد <mark>والانسحاب</mark> سيكون" in page
    assert 'href="https://example.com/a?b=1&amp;c=2"' in page
    assert "عدد وسائل الإعلام التي تنقل الخبر: 2" in page


def test_html_escapes_everything_from_the_article() -> None:
    hostile = alert(
        "<script>alert(1)</script>",
        url="javascript:alert(1)",
        source='"><img src=x onerror=alert(1)>',
    )
    html_part = email_message(hostile, STORY, CHANNEL).get_body(("html",))
    assert html_part is not None
    page = html_part.get_content()
    assert "<script>" not in page and "<img" not in page
    assert "&lt;script&gt;" in page
    # Not a link: only http(s) URLs become one.
    assert "href=" not in page


@pytest.mark.parametrize(
    ("sender", "domain"),
    [
        ("alerts@marsad.example", "marsad.example"),
        ("Marsad <alerts@news.example.org>", "news.example.org"),
        ("marsad", "marsad.invalid"),
        ("alerts@[127.0.0.1]", "marsad.invalid"),
    ],
)
def test_message_id_is_derived_from_the_idempotency_key(sender: str, domain: str) -> None:
    assert message_id("marsad-abc", sender) == f"<marsad-abc@{domain}>"


# Header text: what a decoder reads back is the text, whatever its words, spaces and length.
_LETTERS = "ابتثجحخدذرزسشصضطظعغفقكلمنهويةىأإؤئء"
_OTHERS = ("a", "Z", "0", "9", ".", ":", "=", "?", "_", "«", "»", "ً")
_EMOJI = ("🚨", "🇸🇦", "👨\u200d👩\u200d👧")


def random_text(rng: random.Random) -> str:
    words = []
    for _ in range(rng.randint(1, 40)):
        longest = 60 if rng.random() < 0.1 else 9
        letters = [
            rng.choice(_LETTERS) if rng.random() < 0.8 else rng.choice(_OTHERS + _EMOJI)
            for _ in range(rng.randint(1, longest))
        ]
        words.append("".join(letters))
    return "".join(word + " " * rng.choice((1, 1, 1, 2, 5)) for word in words).rstrip()


def read_header(name: str, value: str) -> tuple[str, str]:
    """``value`` read back by email.policy.default and by the legacy RFC 2047 decoder."""
    raw = f"{name}: {value}\n\nbody\n".encode("ascii")
    message = BytesParser(policy=policy.default).parsebytes(raw)
    legacy = str(make_header(decode_header(value.replace("\n", ""))))
    return str(message[name]), legacy


@pytest.mark.parametrize("seed", range(40))
def test_header_text_reads_back_as_the_text(seed: int) -> None:
    rng = random.Random(seed)
    text = random_text(rng)
    for name in ("Subject", "X-Marsad-Rule"):
        value = header_text(name, text)
        assert read_header(name, value) == (text, text)
        lines = f"{name}: {value}".split("\n")
        assert all(len(line) <= 78 for line in lines), lines
        assert value.isascii()


@pytest.mark.parametrize(
    "text",
    [
        "Withdrawal from the base",
        "Coalition   announces withdrawal " * 6 + "today",
        "=?utf-8?b?2LnYp9is2YQ=?= stays as written",
        "x" * 120,
    ],
    ids=["short", "long-with-runs", "looks-encoded", "one-long-word"],
)
def test_ascii_header_text_reads_back_as_the_text(text: str) -> None:
    value = header_text("Subject", text)
    assert read_header("Subject", value) == (text, text)
    assert all(len(line) <= 78 for line in f"Subject: {value}".split("\n"))


def test_plain_ascii_stays_readable_and_is_folded_before_a_space() -> None:
    value = header_text("Subject", "Coalition announces withdrawal " * 4 + "today")
    assert "=?" not in value
    assert value.count("\n") == 1 and "\n " in value


def test_an_arabic_display_name_is_one_encoded_word() -> None:
    name = "مرصد الأخبار العاجلة للمنطقة العربية والعالم في كل ساعة"
    text = mailbox_text("From", f"{name} <alerts@marsad.example>")
    assert text is not None and text.count("=?") == 1 and "\n" not in text
    message = BytesParser(policy=policy.default).parsebytes(f"From: {text}\n\n".encode("ascii"))
    [address] = message["From"].addresses
    assert (address.display_name, address.addr_spec) == (name, "alerts@marsad.example")
    assert mailbox_text("From", "Marsad <a@marsad.example>") == "Marsad <a@marsad.example>"
    # Not an address this can encode: left to the e-mail library, which says what is wrong.
    assert mailbox_text("From", "مرصد <تنبيه@مرصد.example>") is None
