"""Health alerts: what marsad tells people about its sources and about itself, on the channels
``[health] channels`` names, through the same outbox as article alerts.

A health alert tells one *health event* (a row of ``health_events``): a feed failing, silent or
recovered (:mod:`marsad.crawler.health` decides), a channel whose sends have all failed for
``channel_failing_after`` or that recovered, article alerts gone to dead letters. Its payload
says what happened, since when and the last error; each channel type renders it with a notice
sender of its own (:data:`NOTICE_SENDERS`): a JSON document for webhooks, a plain-text e-mail,
a titled plain-text notification for Apprise.
The pure parts (:func:`notice_payload`, :func:`notice_document`, :func:`notice_message`,
:func:`notice_title_and_body`, :func:`judge_channel`) are tested on literals.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from email import policy as email_policy
from email.message import EmailMessage
from email.utils import format_datetime
from typing import TYPE_CHECKING, Any, Literal

from marsad.alerts.channels.apprise import AppriseChannel, AppriseSender
from marsad.alerts.channels.email import (
    EmailChannel,
    EmailSender,
    header_text,
    mailbox_text,
    message_id,
)
from marsad.alerts.channels.webhook import (
    PAYLOAD_VERSION,
    WebhookChannel,
    WebhookSender,
)
from marsad.alerts.render import clean_line, scrub
from marsad.times import from_iso

if TYPE_CHECKING:
    from marsad.storage.models import DueAlert

# The payload's mark: article alerts carry none.
HEALTH_KIND = "health"
# Headers set raw are kept as header_text folded them (see marsad.alerts.channels.email).
_RAW_HEADERS = email_policy.default.clone(refold_source="none")


@dataclass(frozen=True)
class HealthConfig:
    """``[health]``: when a feed is failing or silent, and where people hear of it."""

    channels: tuple[str, ...] = ()
    failures: int = 3  # failed fetches in a row
    failing_after: float = 3600.0  # or failures in a row spanning this long
    silent_factor: float = 4.0  # x the usual gap between new entries
    silent_floor: float = 12 * 3600.0  # never silent sooner than this
    channel_failing_after: float = 3600.0  # every send of a channel failed this long
    dead_letters_every: float = 3600.0  # at most one dead-letters alert this often


Subject = Literal["feed", "channel", "delivery"]


@dataclass(frozen=True)
class HealthEvent:
    """A change of state worth telling (a row of ``health_events`` once recorded)."""

    subject: Subject
    name: str
    event: str  # failing, silent, recovered, dead_letters
    since: str | None
    detail: str
    facts: Mapping[str, Any]
    url: str | None = None


def notice_payload(event: HealthEvent, *, event_id: int, at: str) -> dict[str, Any]:
    """What a health alert carries (stored in the outbox when queued)."""
    return {
        "kind": HEALTH_KIND,
        "event_id": event_id,
        "subject": event.subject,
        "name": event.name,
        "url": event.url,
        "event": event.event,
        "since": event.since,
        "detail": event.detail,
        "facts": dict(event.facts),
        "noticed_at": at,
    }


def notice_rule(event: HealthEvent) -> str:
    """The outbox's ``rule`` column for a health alert: ``health/<subject>/<event>``."""
    return f"health/{event.subject}/{event.event}"


def notice_key(store_id: str, event_id: int, channel: str) -> str:
    """Stable across retries and restarts, unique across stores (as article alerts' keys)."""
    digest = hashlib.sha256(f"marsad:{store_id}:health:{event_id}:{channel}".encode()).hexdigest()
    return f"marsad-{digest[:32]}"


def is_notice(alert: DueAlert) -> bool:
    return alert.payload.get("kind") == HEALTH_KIND


def headline(payload: Mapping[str, Any]) -> str:
    """One line: what happened to what, since when."""
    subject, name, event = payload.get("subject"), payload.get("name"), payload.get("event")
    since = payload.get("since")
    what = {
        ("feed", "failing"): f"feed {name} is failing",
        ("feed", "silent"): f"feed {name} is silent",
        ("feed", "recovered"): f"feed {name} recovered",
        ("channel", "failing"): f"channel {name} is failing",
        ("channel", "recovered"): f"channel {name} recovered",
        ("delivery", "dead_letters"): "alerts went to dead letters",
    }.get((str(subject), str(event)), f"{subject} {name}: {event}")
    if since and event != "recovered":
        what += f" since {since}"
    return what


def notice_document(alert: DueAlert) -> bytes:
    """The JSON a webhook receives for a health alert: ``"type": "health"`` tells it from an
    article alert (which has no ``type``); keys sorted, UTF-8."""
    payload = alert.payload
    document = {
        "version": PAYLOAD_VERSION,
        "type": HEALTH_KIND,
        "idempotency_key": alert.idempotency_key,
        "alert_id": alert.id,
        "channel": alert.channel,
        "summary": headline(payload),
        **{key: payload.get(key) for key in ("subject", "name", "url", "event", "since")},
        "detail": payload.get("detail"),
        "facts": payload.get("facts", {}),
        "noticed_at": payload.get("noticed_at"),
    }
    text = json.dumps(document, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return scrub(text).encode("utf-8")


def notice_text(payload: Mapping[str, Any]) -> str:
    """The plain text of a health alert: its headline, then what :func:`notice_details` says."""
    return f"[marsad] {clean_line(headline(payload))}\n\n{notice_details(payload)}"


def notice_details(payload: Mapping[str, Any]) -> str:
    """What a health alert says under its headline: where, since when, what happened, when it
    was noticed, then its facts (one ``key: value`` line each)."""
    lines: list[str] = []
    if payload.get("url"):
        lines.append(f"URL: {clean_line(payload.get('url'))}")
    if payload.get("since"):
        lines.append(f"Since: {clean_line(payload.get('since'))}")
    lines.append(f"What happened: {clean_line(payload.get('detail'))}")
    lines.append(f"Noticed at: {clean_line(payload.get('noticed_at'))}")
    facts = payload.get("facts") or {}
    if facts:
        lines += ["", *(f"{clean_line(k)}: {clean_line(v)}" for k, v in sorted(facts.items()))]
    return "\n".join(lines) + "\n"


def notice_message(
    alert: DueAlert, channel: EmailChannel, *, date: datetime | None = None
) -> EmailMessage:
    """A plain-text e-mail for a health alert."""
    msg = EmailMessage(policy=_RAW_HEADERS)
    msg.set_raw("Subject", header_text("Subject", f"[marsad] {headline(alert.payload)}"[:200]))
    for name, mailboxes in (("From", (channel.sender,)), ("To", channel.to)):
        texts = [mailbox_text(name, mailbox) for mailbox in mailboxes]
        if None in texts or all(mailbox.isascii() for mailbox in mailboxes):
            msg[name] = ", ".join(mailboxes)
        else:
            msg.set_raw(name, ",\n ".join(t for t in texts if t is not None))
    msg["Message-ID"] = message_id(alert.idempotency_key, channel.sender)
    if date is not None:
        msg["Date"] = format_datetime(date)
    msg["X-Marsad-Idempotency-Key"] = alert.idempotency_key
    msg["X-Marsad-Health"] = f"{alert.payload.get('subject')}/{alert.payload.get('event')}"
    msg["Auto-Submitted"] = "auto-generated"
    msg.set_content(notice_text(alert.payload), cte="base64")
    return msg


class WebhookNoticeSender(WebhookSender):
    """Posts health alerts to a webhook: signed like article alerts, through the same kind of
    kept-alive clients (its own, for the session's life)."""

    def body(self, alert: DueAlert, story: Mapping[str, Any]) -> bytes:
        return notice_document(alert)


def notice_title_and_body(payload: Mapping[str, Any]) -> tuple[str, str]:
    """(title, body) of a health alert as a chat or push notification: the headline is the
    title (clients show it in bold, or alone in a notification), the details the body."""
    return clean_line(f"[marsad] {headline(payload)}", 200), notice_details(payload)


class EmailNoticeSender(EmailSender):
    """Mails health alerts, one SMTP connection per message (as article alerts)."""

    def message(
        self, alert: DueAlert, story: Mapping[str, Any], channel: EmailChannel, now: datetime
    ) -> EmailMessage:
        return notice_message(alert, channel, date=now)


class AppriseNoticeSender(AppriseSender):
    """Sends health alerts as Apprise notifications, in a worker thread (as article alerts)."""

    def message(self, alert: DueAlert, story: Mapping[str, Any]) -> tuple[str, str]:
        return notice_title_and_body(alert.payload)


# Per channel type: what sends its health alerts (a type missing here cannot carry them).
NOTICE_SENDERS: Mapping[str, Callable[[], Any]] = {
    WebhookChannel.kind: WebhookNoticeSender,
    EmailChannel.kind: EmailNoticeSender,
    AppriseChannel.kind: AppriseNoticeSender,
}


# -- channels and dead letters ----------------------------------------------------------------


@dataclass(frozen=True)
class ChannelFacts:
    name: str
    told: Literal["ok", "failing"]
    failures_since: str | None  # first failed attempt of the current run (None: last one ok)
    last_error: str | None
    told_since: str | None = None


def judge_channel(facts: ChannelFacts, config: HealthConfig, now: datetime) -> HealthEvent | None:
    """Whether a channel enters failing (every attempt failed for ``channel_failing_after``)
    or recovers (an attempt succeeded since it was told failing); None: nothing to tell."""
    if facts.told == "ok" and facts.failures_since is not None:
        failing_for = (now - from_iso(facts.failures_since)).total_seconds()
        if failing_for >= config.channel_failing_after:
            return HealthEvent(
                "channel",
                facts.name,
                "failing",
                facts.failures_since,
                f"every send failed since {facts.failures_since}; last: {facts.last_error}",
                {"failing_for_seconds": failing_for},
            )
    if facts.told == "failing" and facts.failures_since is None:
        return HealthEvent(
            "channel",
            facts.name,
            "recovered",
            facts.told_since,
            f"failing since {facts.told_since}: sends go through again",
            {},
        )
    return None


def dead_letters_event(
    count: int, by_channel: Mapping[str, int], last_error: str | None, since: str | None
) -> HealthEvent:
    channels = ", ".join(f"{name} {n}" for name, n in sorted(by_channel.items()))
    return HealthEvent(
        "delivery",
        "dead letters",
        "dead_letters",
        since,
        f"{count} alert{'s' if count != 1 else ''} gave up ({channels}); last error: "
        f"{last_error}; `marsad alerts --status dead` lists them, `marsad alerts retry ID` "
        "queues one again",
        {"dead": count, "by_channel": dict(by_channel)},
    )
