"""The e-mail channel type: a right-to-left multipart message handed to an SMTP server by
smtplib, run in a worker thread so the event loop never blocks.

SMTP replies 5xx are permanent (the server will not take this message: unknown recipient,
rejected sender, failed login); 4xx replies, timeouts and connection errors are worth another
try.
"""

from __future__ import annotations

import asyncio
import base64
import html
import re
import smtplib
import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from email import policy as email_policy
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import urlsplit

from marsad.alerts.channels.channel_type import ChannelType, refused_for_unset_secret
from marsad.alerts.channels.digest_schedule import DIGEST_KEYS, DigestSchedule, parse_digest
from marsad.alerts.channels.fields import (
    TIMEOUT_RANGE,
    ChannelError,
    duration,
    flag,
    optional_str,
    reject_unknown,
    secret_from,
)
from marsad.alerts.outcome import Outcome
from marsad.alerts.render import clean_line, growth_label, split_snippet

if TYPE_CHECKING:
    from marsad.storage.models import DueAlert

SUBJECT_MAX = 200
EMAIL_MATCHES_MAX = 10
# Plain-text highlight marks. Not «»: Arabic news text uses those as quotation marks.
MARK_OPEN, MARK_CLOSE = "【", "】"
_FIELD_LABELS = {"title": "العنوان", "body": "النص"}
_KEYS = (
    frozenset(
        {
            "type",
            "to",
            "from",
            "smtp_host",
            "smtp_port",
            "starttls",
            "ssl",
            "username",
            "password_env",
            "timeout",
        }
    )
    | DIGEST_KEYS
)


@dataclass(frozen=True)
class EmailChannel:
    kind: ClassVar[str] = "email"

    name: str
    to: tuple[str, ...]
    sender: str = "marsad@localhost"
    smtp_host: str = "localhost"
    smtp_port: int = 25
    starttls: bool = False
    ssl: bool = False
    username: str | None = None
    # Name of the environment variable holding the SMTP password; it never sits in the file.
    password_env: str | None = None
    # Its value, looked up when the config was read; never shown, so never logged.
    password: str | None = field(default=None, repr=False)
    timeout: float = 30.0
    # Hourly or daily digests instead of one mail per alert (None: one per alert).
    digest: DigestSchedule | None = None

    def unset_variables(self) -> tuple[str, ...]:
        return (self.password_env,) if self.password_env and not self.password else ()


def parse(
    name: str, table: Mapping[str, object], where: str, environ: Mapping[str, str]
) -> EmailChannel:
    reject_unknown(table, _KEYS, where)
    to = table.get("to")
    if isinstance(to, str):
        to = [to]
    if not isinstance(to, list) or not to or not all(isinstance(a, str) and "@" in a for a in to):
        raise ChannelError(f"{where}.to: must be a non-empty list of e-mail addresses")
    port = table.get("smtp_port", 25)
    if not isinstance(port, int) or isinstance(port, bool) or not 0 < port < 65536:
        raise ChannelError(f"{where}.smtp_port: must be a port number, got {port!r}")
    starttls = flag(table, "starttls", where)
    use_ssl = flag(table, "ssl", where)
    if starttls and use_ssl:
        raise ChannelError(f"{where}: starttls and ssl: choose one")
    username = optional_str(table, "username", where)
    password_env = optional_str(table, "password_env", where)
    if bool(username) != bool(password_env):
        raise ChannelError(f"{where}: username and password_env go together")
    return EmailChannel(
        name=name,
        to=tuple(to),
        sender=optional_str(table, "from", where) or "marsad@localhost",
        smtp_host=optional_str(table, "smtp_host", where) or "localhost",
        smtp_port=port,
        starttls=starttls,
        ssl=use_ssl,
        username=username,
        password_env=password_env,
        password=secret_from(environ, password_env),
        timeout=duration(table, "timeout", where, 30.0, *TIMEOUT_RANGE),
        digest=parse_digest(table, where),
    )


# The message. Pure: the payload stored when the alert was queued plus ``story``, the summary of
# the story at send time (storage.outbox.story_alert_summary: articles, outlets, sources).


def email_subject(rule: str, title: str) -> str:
    return clean_line(f"[marsad] {clean_line(rule)}: {clean_line(title) or '—'}", SUBJECT_MAX)


# Header text. Python's folder breaks a long non-ASCII header at a space *between* two RFC 2047
# encoded words, and decoders drop the whitespace between encoded words (RFC 2047 6.2), so two
# words arrive glued. Headers carrying text from a feed or the config are encoded and folded
# here instead, with each space inside an encoded word, and stored raw on a policy that emits
# raw headers as they are.
_MESSAGE_POLICY = email_policy.default.clone(refold_source="none")
LINE_MAX = 78  # RFC 5322 2.1.1: lines SHOULD stay within 78 characters ...
LINE_HARD_MAX = 998  # ... and MUST within 998.
ENCODED_WORD_MAX = 75  # RFC 2047 2.
_EW_START, _EW_END = "=?utf-8?b?", "?="
_EW_CHROME = len(_EW_START) + len(_EW_END)
# Plain text a header can carry as it is: printable ASCII words with spaces between them, and
# nothing a decoder would take for an encoded word.
_PLAIN_TEXT = re.compile(r"[!-~]+(?: +[!-~]+)*")
_WORD_AND_SPACE = re.compile(r"\S*\s+|\S+")


def header_text(name: str, text: str) -> str:
    """``text`` as the folded value of header ``name``, each line within :data:`LINE_MAX`.

    Plain ASCII is folded before one of its spaces (unfolding gives it back as it was); any
    other text becomes encoded words that each hold whole words with the space after them, so
    a decoder that drops the folds between them loses nothing. Only a word longer than one
    encoded word is cut, between two characters, which decoders join again.
    """
    first_room = LINE_MAX - len(name) - len(": ")
    if _PLAIN_TEXT.fullmatch(text) and "=?" not in text:
        folded = _fold_plain(text, first_room)
        if folded is not None:
            return folded
    return _encoded_words(text, first_room, ENCODED_WORD_MAX)


def _fold_plain(text: str, first_room: int) -> str | None:
    """``text`` folded before a space wherever a line would be too long; ``None`` if a word
    is too long for any line."""
    lines = [""]
    room = first_room
    for word in re.findall(r" *[^ ]+", text):
        if lines[-1] and len(lines[-1]) + len(word) > room:
            lines.append("")
            room = LINE_MAX
        if len(lines[-1]) + len(word) > room:
            return None
        lines[-1] += word
    return "\n".join(lines)


def _encoded_words(text: str, first_room: int, word_max: int) -> str:
    """``text`` in base64 UTF-8 encoded words of at most ``word_max`` characters, one a line,
    the first within ``first_room``; each ends after a word's trailing spaces."""
    first = _payload_bytes(min(first_room, word_max))
    later = _payload_bytes(min(LINE_MAX - 1, word_max))
    chunks: list[bytes] = [b""]

    def fits(data: bytes) -> bool:
        return len(chunks[-1]) + len(data) <= (first if len(chunks) == 1 else later)

    for piece in _WORD_AND_SPACE.findall(text):
        data = piece.encode("utf-8")
        if chunks[-1] and not fits(data):
            chunks.append(b"")
        if fits(data):
            chunks[-1] += data
            continue
        # Longer than a whole encoded word: cut between characters, never inside one.
        for char in piece:
            encoded = char.encode("utf-8")
            if not fits(encoded):
                chunks.append(b"")
            chunks[-1] += encoded
    return "\n ".join(
        f"{_EW_START}{base64.b64encode(chunk).decode('ascii')}{_EW_END}" for chunk in chunks
    )


def _payload_bytes(word_length: int) -> int:
    """How many bytes an encoded word of ``word_length`` characters holds (base64: 3 in 4)."""
    return max((word_length - _EW_CHROME) // 4 * 3, 4)


def mailbox_text(header: str, mailbox: str) -> str | None:
    """A configured ``Name <address>`` as header text: a non-ASCII display name in encoded
    words; ``None`` for what this cannot encode (a non-ASCII address).

    The name is kept in one encoded word, longer than RFC 2047's 75 characters if need be:
    Python's address parser (before gh-128110) keeps the space between two encoded words of
    a display name where RFC 2047 drops it, so no split of a name reads right in both.
    """
    if mailbox.isascii():
        return mailbox
    name, address = parseaddr(mailbox)
    if not name or not address.isascii() or "@" not in address:
        return None
    room = LINE_HARD_MAX - len(header) - len(": ") - len(f" <{address}>") - 1
    return f"{_encoded_words(name, room, room)} <{address}>"


def envelope_address(mailbox: str) -> str:
    """The bare address of a configured ``Name <address>``, for MAIL FROM and RCPT TO: a
    non-ASCII display name there would make smtplib ask the server for SMTPUTF8."""
    return parseaddr(mailbox)[1] or mailbox


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
    label = growth_label(payload)
    subject = email_subject(f"{label} — {rule}" if label else rule, str(article.get("title") or ""))

    msg = _new_message(alert, channel, subject, date)
    _set_text(msg, "X-Marsad-Rule", clean_line(rule, 100))
    # base64: Arabic text then passes any relay, including ones that only carry 7-bit mail.
    translated = payload.get("translated_from")
    translated = translated if isinstance(translated, Mapping) else None
    matches = payload.get("matches", [])
    msg.set_content(_text_body(rule, article, matches, story, translated), cte="base64")
    msg.add_alternative(
        _html_body(subject, rule, article, matches, story, translated),
        subtype="html",
        cte="base64",
    )
    return msg


def _new_message(
    alert: DueAlert, channel: EmailChannel, subject: str, date: datetime | None
) -> EmailMessage:
    """The headers every mail of an outbox row carries: subject, sender and recipients, a
    Message-ID and key stable across resends, and the marks of an automatic message."""
    msg = EmailMessage(policy=_MESSAGE_POLICY)
    _set_text(msg, "Subject", subject)
    _set_mailboxes(msg, "From", (channel.sender,))
    _set_mailboxes(msg, "To", channel.to)
    msg["Message-ID"] = message_id(alert.idempotency_key, channel.sender)
    if date is not None:
        msg["Date"] = format_datetime(date)
    msg["X-Marsad-Idempotency-Key"] = alert.idempotency_key
    # RFC 3834: tells auto-responders (vacation replies) not to answer.
    msg["Auto-Submitted"] = "auto-generated"
    msg["Content-Language"] = "ar"
    return msg


def digest_subject(payload: Mapping[str, Any]) -> str:
    schedule = clean_line(payload.get("schedule"))
    return clean_line(f"[marsad] موجز {schedule}: {int(payload.get('total', 0))} خبر", SUBJECT_MAX)


def digest_message(
    alert: DueAlert, channel: EmailChannel, *, date: datetime | None = None
) -> EmailMessage:
    """One mail for a digest: its stories newest first (plain text and right-to-left HTML),
    each with its title, outlet count, rules and words, and link; "+N أخرى" past the limit."""
    from marsad.alerts.digest import digest_period_label

    payload = alert.payload
    subject = digest_subject(payload)
    period = digest_period_label(payload)
    stories: list[Mapping[str, Any]] = payload.get("stories", [])
    more = int(payload.get("more", 0))
    msg = _new_message(alert, channel, subject, date)
    lines = [subject, f"الفترة: {period}", ""]
    items = []
    e = _escape
    for number, story in enumerate(stories, 1):
        rules = "، ".join(clean_line(r) for r in story.get("rules", []))
        words = "، ".join(clean_line(w) for w in story.get("words", []))
        outlets = f"عدد وسائل الإعلام: {int(story.get('outlets', 0))}"
        title = clean_line(story.get("title")) or "—"
        url = clean_line(story.get("url"))
        lines += [f"{number}. {title}", f"   {outlets} — {rules}: {words}", f"   {url}", ""]
        link = (
            f'<a href="{html.escape(url, quote=True)}">{e(title)}</a>'
            if urlsplit(url).scheme in ("http", "https")
            else e(title)
        )
        items.append(
            f"<li>{link}<br>{e(outlets)} — <bdi>{e(rules)}</bdi>: <bdi>{e(words)}</bdi></li>"
        )
    if more:
        lines.append(f"+{more} أخرى")
        items.append(f"<li>+{more} أخرى</li>")
    msg.set_content("\n".join(lines).rstrip() + "\n", cte="base64")
    msg.add_alternative(
        "<!DOCTYPE html>\n"
        '<html dir="rtl" lang="ar">\n'
        f'<head><meta charset="utf-8"><title>{e(subject)}</title></head>\n'
        '<body style="font-family: Tahoma, Arial, sans-serif; line-height: 1.6">\n'
        f"<h2>{e(subject)}</h2>\n"
        f'<p>الفترة: <bdi dir="ltr">{e(period)}</bdi></p>\n'
        f"<ol>\n{chr(10).join(items)}\n</ol>\n"
        "</body>\n</html>\n",
        subtype="html",
        cte="base64",
    )
    return msg


def _set_text(msg: EmailMessage, name: str, text: str) -> None:
    msg.set_raw(name, header_text(name, text))


def _set_mailboxes(msg: EmailMessage, name: str, mailboxes: tuple[str, ...]) -> None:
    texts = [mailbox_text(name, mailbox) for mailbox in mailboxes]
    if all(mailbox.isascii() for mailbox in mailboxes) or None in texts:
        # The e-mail library checks and folds ASCII addresses well, and refuses malformed ones.
        msg[name] = ", ".join(mailboxes)
        return
    if any("\r" in mailbox or "\n" in mailbox for mailbox in mailboxes):
        raise ValueError(f"{name}: a line break in an address")
    msg.set_raw(name, ",\n ".join(text for text in texts if text is not None))


def _text_body(
    rule: str,
    article: Mapping[str, Any],
    matches: list[Any],
    story: Mapping[str, Any],
    translated: Mapping[str, Any] | None = None,
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
    if translated is not None:
        lines.append(_translated_line(translated))
    lines += ["", "الكلمات المطابقة:"]
    for m in matches[:EMAIL_MATCHES_MAX]:
        before, hit, after = split_snippet(m)
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
    translated: Mapping[str, Any] | None = None,
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
        before, hit, after = split_snippet(m)
        # The pieces are already clean; escape only, keeping the spaces around the match.
        before, hit, after = (html.escape(piece, quote=True) for piece in (before, hit, after))
        marked = f"{before}<mark>{hit}</mark>{after}" if hit else before
        items.append(
            f"<li><strong>{e(m.get('keyword'))}</strong> ({e(_field_label(m))}): {marked}</li>"
        )
    if len(matches) > EMAIL_MATCHES_MAX:
        items.append(f"<li>… (+{len(matches) - EMAIL_MATCHES_MAX})</li>")
    translated_html = f"<p>{e(_translated_line(translated))}</p>\n" if translated else ""
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
        f"{translated_html}"
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


def _translated_line(translated: Mapping[str, Any]) -> str:
    """The story holds a machine translation: of which article (its URL) and how sure."""
    score = translated.get("score")
    sure = f" (score {float(score):.2f})" if isinstance(score, int | float) else ""
    return f"مترجم عن: {clean_line(translated.get('url'))}{sure}"


def _field_label(match: Mapping[str, Any]) -> str:
    field_name = str(match.get("field", ""))
    return _FIELD_LABELS.get(field_name, clean_line(field_name))


def _escape(value: object) -> str:
    return html.escape(clean_line(value), quote=True)


# Sending.


class EmailSender:
    """Sends one message per alert, each over its own SMTP connection."""

    async def send(
        self,
        alert: DueAlert,
        story: Mapping[str, Any],
        channel: EmailChannel,
        *,
        now: datetime,
    ) -> Outcome:
        if (refused := refused_for_unset_secret(channel, "")) is not None:
            return refused
        try:
            message = self.message(alert, story, channel, now)
        except ValueError as exc:
            # A header the e-mail library refuses (a bad From/To in the config).
            return Outcome.failed(f"channel {channel.name}: cannot build the message: {exc}")
        return await asyncio.to_thread(submit, channel, message)

    def message(
        self, alert: DueAlert, story: Mapping[str, Any], channel: EmailChannel, now: datetime
    ) -> EmailMessage:
        """The message mailed for ``alert`` (another kind of alert mails another)."""
        return email_message(alert, story, channel, date=now)

    async def aclose(self) -> None:
        """Nothing held between sends."""


class EmailDigestSender(EmailSender):
    """Sends digests: one mail listing the period's stories."""

    def message(
        self, alert: DueAlert, story: Mapping[str, Any], channel: EmailChannel, now: datetime
    ) -> EmailMessage:
        return digest_message(alert, channel, date=now)


def submit(channel: EmailChannel, message: EmailMessage) -> Outcome:
    """Blocking: hand ``message`` to the channel's SMTP server and classify what it said."""
    try:
        with _connect(channel) as smtp:
            if channel.starttls:
                smtp.starttls(context=ssl.create_default_context())
            if channel.username and channel.password is not None:
                smtp.login(channel.username, channel.password)
            refused = smtp.send_message(
                message,
                envelope_address(channel.sender),
                [envelope_address(to) for to in channel.to],
            )
    except smtplib.SMTPRecipientsRefused as exc:
        return _classify_refused(exc.recipients)
    except smtplib.SMTPResponseException as exc:
        return _classify_reply(exc.smtp_code, exc.smtp_error)
    except smtplib.SMTPNotSupportedError as exc:
        return Outcome.failed(f"SMTP server does not support what the channel needs: {exc}")
    except (smtplib.SMTPException, OSError) as exc:
        # Disconnects, refused or reset connections, timeouts, TLS handshake failures.
        return Outcome.retry(f"{type(exc).__name__}: {exc}".rstrip(": "))
    if refused:
        # Some recipients took it: the alert is delivered; the record says who did not.
        return Outcome.sent(250, f"refused by some recipients: {_describe(refused)}")
    return Outcome.sent(250)


def _connect(channel: EmailChannel) -> smtplib.SMTP:
    if channel.ssl:
        return smtplib.SMTP_SSL(
            channel.smtp_host,
            channel.smtp_port,
            timeout=channel.timeout,
            context=ssl.create_default_context(),
        )
    return smtplib.SMTP(channel.smtp_host, channel.smtp_port, timeout=channel.timeout)


def _classify_reply(code: int, text: bytes | str) -> Outcome:
    reason = text.decode("utf-8", "replace") if isinstance(text, bytes) else str(text)
    message = f"SMTP {code}: {' '.join(reason.split())}"
    if 500 <= code < 600:
        return Outcome.failed(message, code)
    return Outcome.retry(message, code)


def _classify_refused(recipients: Mapping[str, tuple[int, bytes]]) -> Outcome:
    """Every recipient refused: permanent only when every refusal was permanent."""
    message = f"all recipients refused: {_describe(recipients)}"
    codes = [code for code, _ in recipients.values()]
    if codes and all(500 <= code < 600 for code in codes):
        return Outcome.failed(message, max(codes))
    return Outcome.retry(message, min(codes) if codes else None)


def _describe(recipients: Mapping[str, tuple[int, bytes]]) -> str:
    parts = []
    for address, (code, text) in sorted(recipients.items()):
        reason = " ".join(text.decode("utf-8", "replace").split())
        parts.append(f"{address} ({code} {reason})")
    return "; ".join(parts)


CHANNEL_TYPE = ChannelType(
    name=EmailChannel.kind, parse=parse, sender=EmailSender, digest_sender=EmailDigestSender
)
