"""The Apprise channel type: chat and push services (Telegram, Slack, Matrix, Discord, ntfy, …)
by one Apprise URL, read from the environment (it holds the service's token).

Apprise is synchronous: a send runs in a worker thread, within the channel's timeout, and
Apprise's own per-call log says why one failed. Apprise is imported only when an apprise channel
is configured, so processes without one never load it.

Messages are short plain text, laid out right to left: every line starts with a right-to-left
mark and each piece of text from a feed or the config sits in a first-strong isolate, so a Latin
outlet name or a number keeps its place in an Arabic line whatever the client does with bidi.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from types import ModuleType
from typing import TYPE_CHECKING, Any, ClassVar

from marsad.alerts.channels.channel_type import ChannelType, refused_for_unset_secret
from marsad.alerts.channels.digest_schedule import DIGEST_KEYS, DigestSchedule, parse_digest
from marsad.alerts.channels.fields import (
    TIMEOUT_RANGE,
    ChannelError,
    duration,
    reject_unknown,
    required_str,
    secret_from,
)
from marsad.alerts.outcome import Outcome
from marsad.alerts.render import clean_line, growth_label

if TYPE_CHECKING:
    from marsad.storage.models import DueAlert

_KEYS = frozenset({"type", "url_env", "timeout"}) | DIGEST_KEYS
RLM = "\u200f"
FSI, PDI = "\u2068", "\u2069"
TITLE_MAX = 120
WORDS_MAX = 8
# Apprise's reason for a failure, as one line in the delivery record.
_REASON_MAX = 300


@dataclass(frozen=True)
class AppriseChannel:
    kind: ClassVar[str] = "apprise"

    name: str
    # Name of the environment variable holding the Apprise URL (it carries the token).
    url_env: str
    # Its value, looked up when the config was read; never shown, so never logged.
    url: str | None = field(default=None, repr=False)
    timeout: float = 20.0
    digest: DigestSchedule | None = None

    def unset_variables(self) -> tuple[str, ...]:
        return () if self.url else (self.url_env,)


def parse(
    name: str, table: Mapping[str, object], where: str, environ: Mapping[str, str]
) -> AppriseChannel:
    reject_unknown(table, _KEYS, where)
    url_env = required_str(table, "url_env", where)
    url = secret_from(environ, url_env)
    if url is not None and not _parses(url):
        # Never the URL itself: it holds the token.
        raise ChannelError(
            f"{where}.url_env: Apprise cannot use the URL in environment variable {url_env} "
            f"(channel {name}); see https://github.com/caronc/apprise/wiki for its forms"
        )
    return AppriseChannel(
        name=name,
        url_env=url_env,
        url=url,
        timeout=duration(table, "timeout", where, 20.0, *TIMEOUT_RANGE),
        digest=parse_digest(table, where),
    )


def _load() -> ModuleType:
    """Apprise, imported at the first need (parsing an apprise channel whose URL is set).

    On Python 3.11 and 3.12 its e-mail plugin's PGP helper imports the standard library's
    deprecated ``imghdr`` (only to shim it where it is gone) when the plugins load, at the
    first URL parsed, and that warns: not ours to act on. Imported here first, quietly, it is
    found loaded then.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "'imghdr' is deprecated", DeprecationWarning)
        with contextlib.suppress(ImportError):  # gone from Python 3.13
            importlib.import_module("imghdr")
    import apprise

    return apprise


def _parses(url: str) -> bool:
    apprise = _load()
    return apprise.Apprise.instantiate(url.strip(), suppress_exceptions=True) is not None


# The text. Pure: str in, str out.


def isolate(text: object, limit: int | None = None) -> str:
    """``text`` as one clean line inside a first-strong isolate ("" stays "")."""
    line = clean_line(text, limit)
    return f"{FSI}{line}{PDI}" if line else ""


def rtl(line: str) -> str:
    """A line whose paragraph direction is right to left even when it starts with Latin."""
    return f"{RLM}{line}"


def alert_title(rule: str) -> str:
    return rtl(f"مرصد: {isolate(rule, 60)}")


def alert_text(
    *, title: str, words: Sequence[str], outlets: int, sources: Sequence[str], url: str
) -> str:
    """The message of one alert: its title, the matched words, how many outlets carry the
    story (and which), the link on a line of its own (clients make it clickable)."""
    lines = [rtl(isolate(title, TITLE_MAX) or "—")]
    if words:
        lines.append(rtl(f"الكلمات المطابقة: {_words(words)}"))
    outlets_line = f"عدد وسائل الإعلام: {outlets}"
    if sources:
        outlets_line += f" ({'، '.join(isolate(s, 40) for s in sources[:5])})"
        if len(sources) > 5:
            outlets_line += f" +{len(sources) - 5}"
    lines.append(rtl(outlets_line))
    if url:
        lines.append(clean_line(url))
    return "\n".join(lines)


def digest_title(schedule: str, total: int) -> str:
    return rtl(f"مرصد: موجز {isolate(schedule)}: {total} خبر")


def digest_text(period: str, stories: Sequence[Mapping[str, Any]], more: int) -> str:
    """The digest of a period: one entry per story, newest first, each its title, outlet
    count, rules and words, and link; then ``+N أخرى`` for those past the limit."""
    lines = [rtl(f"الفترة: {isolate(period)}")]
    for number, story in enumerate(stories, 1):
        rules = "، ".join(isolate(r, 40) for r in story.get("rules", []))
        head = f"{number}. {isolate(story.get('title'), TITLE_MAX) or '—'}"
        lines.append(rtl(f"{head} — وسائل الإعلام: {int(story.get('outlets', 0))}"))
        lines.append(rtl(f"{rules}: {_words(story.get('words', []))}"))
        if story.get("url"):
            lines.append(clean_line(story.get("url")))
    if more:
        lines.append(rtl(f"+{more} أخرى"))
    return "\n".join(lines)


def _words(words: Sequence[str]) -> str:
    shown = "، ".join(isolate(w, 40) for w in words[:WORDS_MAX])
    return shown + (f" +{len(words) - WORDS_MAX}" if len(words) > WORDS_MAX else "")


def render_alert(alert: DueAlert, story: Mapping[str, Any]) -> tuple[str, str]:
    """(title, body) of an article alert, from its stored payload and its story now."""
    payload = alert.payload
    article: Mapping[str, Any] = payload.get("article", {})
    words: list[str] = []
    for m in payload.get("matches", []):
        word = clean_line(m.get("surface") or m.get("keyword"))
        if word and word not in words:
            words.append(word)
    body = alert_text(
        title=str(article.get("title") or ""),
        words=words,
        outlets=int(story.get("outlets", 0)),
        sources=[str(s) for s in story.get("sources", [])],
        url=str(article.get("url") or ""),
    )
    rule = str(payload.get("rule", alert.rule))
    label = growth_label(payload)
    return alert_title(f"{label} — {rule}" if label else rule), body


def render_digest(alert: DueAlert) -> tuple[str, str]:
    """(title, body) of a digest, from its stored payload."""
    from marsad.alerts.digest import digest_period_label

    payload = alert.payload
    title = digest_title(str(payload.get("schedule", "")), int(payload.get("total", 0)))
    body = digest_text(
        digest_period_label(payload), payload.get("stories", []), int(payload.get("more", 0))
    )
    return title, body


# Sending.


class AppriseSender:
    """Sends each alert as one Apprise notification, in a worker thread."""

    async def send(
        self,
        alert: DueAlert,
        story: Mapping[str, Any],
        channel: AppriseChannel,
        *,
        now: datetime,
    ) -> Outcome:
        if (refused := refused_for_unset_secret(channel, "")) is not None:
            return refused
        title, body = self.message(alert, story)
        try:
            async with asyncio.timeout(channel.timeout):
                return await asyncio.to_thread(notify, channel, title, body)
        except TimeoutError:
            return Outcome.retry(f"timed out after {channel.timeout:g}s")

    def message(self, alert: DueAlert, story: Mapping[str, Any]) -> tuple[str, str]:
        """(title, body) sent for ``alert`` (a digest sender sends another)."""
        return render_alert(alert, story)

    async def aclose(self) -> None:
        """Nothing held between sends."""


class AppriseDigestSender(AppriseSender):
    def message(self, alert: DueAlert, story: Mapping[str, Any]) -> tuple[str, str]:
        return render_digest(alert)


def notify(channel: AppriseChannel, title: str, body: str) -> Outcome:
    """Blocking: one notification over the channel's URL, and what Apprise made of it."""
    apprise = _load()

    assert channel.url is not None
    client = apprise.Apprise()
    if not client.add(channel.url.strip()):
        return Outcome.failed(
            f"channel {channel.name}: Apprise cannot use the URL in {channel.url_env}"
        )
    try:
        # Apprise's own bound a little inside ours, so its answer (TIMEOUT) arrives first.
        result = client.notify(
            body=body,
            title=title,
            body_format=apprise.NotifyFormat.TEXT,
            timeout=max(channel.timeout - 0.5, 0.1),
        )
    except Exception as exc:  # a plugin's bug: worth another try, said in one line
        return Outcome.retry(_hide(channel, f"apprise: {type(exc).__name__}: {exc}"))
    if result:
        return Outcome.sent()
    reasons = [
        " ".join(entry.message.split())
        for entry in result.logs()
        if entry.level in ("WARNING", "ERROR", "CRITICAL")
    ]
    status = getattr(result, "status", "")
    reason = "; ".join(dict.fromkeys(reasons)) or f"apprise: {status or 'notification failed'}"
    return Outcome.retry(_hide(channel, reason)[:_REASON_MAX])


def _hide(channel: AppriseChannel, text: str) -> str:
    """``text`` without the channel's URL (a plugin may quote it; it holds the token)."""
    if channel.url:
        text = text.replace(channel.url.strip(), f"${channel.url_env}")
    return text


CHANNEL_TYPE = ChannelType(
    name=AppriseChannel.kind, parse=parse, sender=AppriseSender, digest_sender=AppriseDigestSender
)
