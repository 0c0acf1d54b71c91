"""What an alert looks like when it is sent: a webhook body or an e-mail. Pure: no I/O.

Both take the payload stored when the alert was queued plus ``story``, the summary of the story
at send time (:func:`storage.outbox.story_alert_summary`: articles, outlets, sources), so a
receiver learns how many outlets carry the story when it hears about it.
"""

from __future__ import annotations

import html
import json
import re
import unicodedata
from collections.abc import Mapping
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from marsad.alerts.channels import EmailChannel
    from marsad.storage.models import DueAlert

PAYLOAD_VERSION = 1
SUBJECT_MAX = 200
EMAIL_MATCHES_MAX = 10
# Plain-text highlight marks. Not «»: Arabic news text uses those as quotation marks.
MARK_OPEN, MARK_CLOSE = "【", "】"

# Explicit bidi embeddings, overrides and isolates, plus LRM/RLM/ALM: in a subject line they can
# reorder what the reader sees ("Trojan Source"); the mail client lays out Arabic by itself.
_BIDI_CONTROLS = frozenset(
    "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
)
_LINE_BREAKS = frozenset("\u2028\u2029\u0085")
# Control, private-use and unassigned characters: dropped (whitespace becomes a space instead).
_DROP = frozenset(("Cc", "Co", "Cn"))
_WORD_CHAR = r"[^\W_]"
_FIELD_LABELS = {"title": "العنوان", "body": "النص"}


def clean_line(text: object, limit: int | None = None) -> str:
    """``text`` as one safe line: no control, bidi-override or line-break characters, capped."""
    kept = []
    for ch in _scrub(str(text or "")):
        if ch in _LINE_BREAKS or ch.isspace():
            kept.append(" ")
        elif not (ch in _BIDI_CONTROLS or ch == "\ufeff" or unicodedata.category(ch) in _DROP):
            kept.append(ch)
    line = " ".join("".join(kept).split())
    if limit is not None and len(line) > limit:
        line = line[: limit - 1].rstrip() + "…"
    return line


def highlight_span(snippet: str, surface: str) -> tuple[int, int] | None:
    """Where ``surface`` (the matched text) sits in ``snippet``, or ``None`` if it is not there.

    The stored snippet has its whitespace collapsed, so offsets into the article do not apply;
    the match is found again, preferring an occurrence that is a whole word.
    """
    needle = " ".join(surface.split())
    if not needle:
        return None
    escaped = re.escape(needle)
    found = re.search(rf"(?<!{_WORD_CHAR}){escaped}(?!{_WORD_CHAR})", snippet) or re.search(
        escaped, snippet
    )
    return (found.start(), found.end()) if found else None


def webhook_body(alert: DueAlert, story: Mapping[str, Any]) -> bytes:
    """The JSON document POSTed to a webhook: UTF-8, Arabic as is, keys sorted (stable)."""
    payload = alert.payload
    matches = []
    for m in payload.get("matches", []):
        span = highlight_span(str(m.get("snippet", "")), str(m.get("surface", "")))
        matches.append({**m, "highlight": list(span) if span else None})
    document = {
        "version": PAYLOAD_VERSION,
        "idempotency_key": alert.idempotency_key,
        "alert_id": alert.id,
        "rule": payload.get("rule", alert.rule),
        "channel": alert.channel,
        "article": payload.get("article", {}),
        "matches": matches,
        "story": {"id": alert.story_id, **story},
    }
    text = json.dumps(document, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return _scrub(text).encode("utf-8")


def email_subject(rule: str, title: str) -> str:
    return clean_line(f"[marsad] {clean_line(rule)}: {clean_line(title) or '—'}", SUBJECT_MAX)


def message_id(idempotency_key: str, sender: str) -> str:
    """Derived from the idempotency key: every resend of one alert carries the same Message-ID."""
    _, at, domain = parseaddr(sender)[1].rpartition("@")
    if not at or not re.fullmatch(r"[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?", domain):
        domain = "marsad.invalid"
    local = re.sub(r"[^A-Za-z0-9._-]", "-", idempotency_key) or "alert"
    return f"<{local}@{domain}>"


def email_message(
    alert: DueAlert,
    story: Mapping[str, Any],
    channel: EmailChannel,
    *,
    date: datetime | None = None,
) -> EmailMessage:
    """A multipart/alternative e-mail: plain text and right-to-left HTML."""
    payload = alert.payload
    article: Mapping[str, Any] = payload.get("article", {})
    rule = str(payload.get("rule", alert.rule))
    subject = email_subject(rule, str(article.get("title") or ""))

    msg = EmailMessage()
    msg["Subject"] = subject
    msg["From"] = channel.sender
    msg["To"] = ", ".join(channel.to)
    msg["Message-ID"] = message_id(alert.idempotency_key, channel.sender)
    if date is not None:
        msg["Date"] = format_datetime(date)
    msg["X-Marsad-Idempotency-Key"] = alert.idempotency_key
    msg["X-Marsad-Rule"] = clean_line(rule, 100)
    # RFC 3834: tells auto-responders (vacation replies) not to answer.
    msg["Auto-Submitted"] = "auto-generated"
    msg["Content-Language"] = "ar"
    # base64: Arabic text then passes any relay, including ones that only carry 7-bit mail.
    msg.set_content(_text_body(rule, article, payload.get("matches", []), story), cte="base64")
    msg.add_alternative(
        _html_body(subject, rule, article, payload.get("matches", []), story),
        subtype="html",
        cte="base64",
    )
    return msg


def _text_body(
    rule: str, article: Mapping[str, Any], matches: list[Any], story: Mapping[str, Any]
) -> str:
    lines = [
        f"[marsad] {clean_line(rule)}",
        "",
        clean_line(article.get("title")) or "—",
        clean_line(article.get("url")),
        "",
        f"المصدر: {clean_line(article.get('source'))}",
    ]
    if article.get("published"):
        lines.append(f"تاريخ النشر: {clean_line(article.get('published'))}")
    lines.append(_outlets_line(story))
    lines += ["", "الكلمات المطابقة:"]
    for m in matches[:EMAIL_MATCHES_MAX]:
        before, hit, after = _split_snippet(m)
        marked = f"{before}{MARK_OPEN}{hit}{MARK_CLOSE}{after}" if hit else before
        lines.append(f"• {clean_line(m.get('keyword'))} ({_field_label(m)}): {marked}")
    if len(matches) > EMAIL_MATCHES_MAX:
        lines.append(f"… (+{len(matches) - EMAIL_MATCHES_MAX})")
    return "\n".join(lines) + "\n"


def _html_body(
    subject: str,
    rule: str,
    article: Mapping[str, Any],
    matches: list[Any],
    story: Mapping[str, Any],
) -> str:
    e = _escape
    title = e(article.get("title")) or "—"
    url = clean_line(article.get("url"))
    # Only http(s) links: a javascript: or data: URL from a hostile feed must not become a link.
    if urlsplit(url).scheme in ("http", "https"):
        heading = f'<a href="{html.escape(url, quote=True)}">{title}</a>'
    else:
        heading = title
    items = []
    for m in matches[:EMAIL_MATCHES_MAX]:
        before, hit, after = _split_snippet(m)
        # The pieces are already clean; escape only, keeping the spaces around the match.
        before, hit, after = (html.escape(piece, quote=True) for piece in (before, hit, after))
        marked = f"{before}<mark>{hit}</mark>{after}" if hit else before
        items.append(
            f"<li><strong>{e(m.get('keyword'))}</strong> ({e(_field_label(m))}): {marked}</li>"
        )
    if len(matches) > EMAIL_MATCHES_MAX:
        items.append(f"<li>… (+{len(matches) - EMAIL_MATCHES_MAX})</li>")
    published = (
        f'<p>تاريخ النشر: <bdi dir="ltr">{e(article.get("published"))}</bdi></p>\n'
        if article.get("published")
        else ""
    )
    return (
        "<!DOCTYPE html>\n"
        '<html dir="rtl" lang="ar">\n'
        '<head><meta charset="utf-8"><title>'
        f"{e(subject)}</title></head>\n"
        '<body style="font-family: Tahoma, Arial, sans-serif; line-height: 1.6">\n'
        f'<p style="color: #666">[marsad] <bdi>{e(rule)}</bdi></p>\n'
        f"<h2>{heading}</h2>\n"
        f"<p>المصدر: <bdi>{e(article.get('source'))}</bdi></p>\n"
        f"{published}"
        f"<p>{e(_outlets_line(story))}</p>\n"
        "<h3>الكلمات المطابقة</h3>\n"
        f"<ul>\n{chr(10).join(items)}\n</ul>\n"
        "</body>\n</html>\n"
    )


def _outlets_line(story: Mapping[str, Any]) -> str:
    sources = "، ".join(clean_line(s) for s in story.get("sources", []))
    line = (
        f"عدد وسائل الإعلام التي تنقل الخبر: {int(story.get('outlets', 0))}"
        f" — عدد المقالات: {int(story.get('articles', 0))}"
    )
    return f"{line} ({sources})" if sources else line


def _split_snippet(match: Mapping[str, Any]) -> tuple[str, str, str]:
    """The snippet cut around its highlighted match: ``(before, hit, after)``; ``hit`` may be ""."""
    snippet = clean_line(match.get("snippet"))
    span = highlight_span(snippet, clean_line(match.get("surface")))
    if span is None:
        return snippet, "", ""
    start, end = span
    return snippet[:start], snippet[start:end], snippet[end:]


def _field_label(match: Mapping[str, Any]) -> str:
    field = str(match.get("field", ""))
    return _FIELD_LABELS.get(field, clean_line(field))


def _escape(value: object) -> str:
    return html.escape(clean_line(value), quote=True)


def _scrub(text: str) -> str:
    """Replace lone surrogates (from badly decoded input), which cannot be encoded as UTF-8."""
    return text.encode("utf-8", "replace").decode("utf-8")
