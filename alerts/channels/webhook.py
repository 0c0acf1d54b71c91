"""The webhook channel type: a signed JSON POST over httpx's async client.

2xx is delivered. 408, 425, 429, 5xx, timeouts and connection errors are worth another try
(``Retry-After`` is passed on); any other status is a permanent refusal. The signing scheme is
described in :mod:`marsad.alerts.signing`.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import urlsplit

import httpx

from marsad.alerts.channels.channel_type import ChannelType, refused_for_unset_secret
from marsad.alerts.channels.fields import (
    TIMEOUT_RANGE,
    ChannelError,
    duration,
    optional_str,
    reject_unknown,
    required_str,
    secret_from,
)
from marsad.alerts.outcome import Outcome
from marsad.alerts.render import highlight_span, scrub
from marsad.alerts.signing import IDEMPOTENCY_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER, sign
from marsad.retry import retry_after_seconds

if TYPE_CHECKING:
    from marsad.storage.models import DueAlert

PAYLOAD_VERSION = 1
USER_AGENT = "marsad/0.1 (alerts)"
# A receiver asking for more than a week is treated as asking for a week.
RETRY_AFTER_MAX = 7 * 24 * 3600.0
_RETRYABLE_4XX = frozenset({408, 425, 429})
# How much of a response body is kept in the delivery record, to say why it failed.
_DETAIL_MAX = 300
_KEYS = frozenset({"type", "url", "secret_env", "timeout", "headers"})


# Below the idle timeout of common HTTP servers (nginx 75 s, Node 5 s, Python's 5 s sink).
KEEPALIVE_SECONDS = 2.0


@dataclass(frozen=True)
class WebhookChannel:
    kind: ClassVar[str] = "webhook"

    name: str
    url: str
    # Name of the environment variable holding the HMAC key; the key never sits in the file.
    secret_env: str | None = None
    # Its value, looked up when the config was read; never shown, so never logged.
    secret: str | None = field(default=None, repr=False)
    timeout: float = 10.0
    headers: tuple[tuple[str, str], ...] = ()

    def unset_variables(self) -> tuple[str, ...]:
        return (self.secret_env,) if self.secret_env and not self.secret else ()


def parse(
    name: str, table: Mapping[str, object], where: str, environ: Mapping[str, str]
) -> WebhookChannel:
    reject_unknown(table, _KEYS, where)
    url = required_str(table, "url", where)
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ChannelError(f"{where}.url: must be an http(s) URL, got {url!r}")
    headers = table.get("headers", {})
    if not isinstance(headers, Mapping) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in headers.items()
    ):
        raise ChannelError(f"{where}.headers: must be a table of strings")
    secret_env = optional_str(table, "secret_env", where)
    return WebhookChannel(
        name=name,
        url=url,
        secret_env=secret_env,
        secret=secret_from(environ, secret_env),
        timeout=duration(table, "timeout", where, 10.0, *TIMEOUT_RANGE),
        headers=tuple(sorted(headers.items())),
    )


def webhook_body(alert: DueAlert, story: Mapping[str, Any]) -> bytes:
    """The JSON document POSTed to a webhook: UTF-8, Arabic as is, keys sorted (stable).

    ``story`` is the summary of the story at send time (:func:`storage.outbox.story_alert_summary`),
    so a receiver learns how many outlets carry the story when it hears about it. Pure.
    """
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
    return scrub(text).encode("utf-8")


def classify(status: int, *, retry_after: float | None = None, detail: str = "") -> Outcome:
    """What an HTTP status means for the alert."""
    if 200 <= status < 300:
        return Outcome.sent(status)
    message = f"HTTP {status}" + (f": {detail}" if detail else "")
    if status in _RETRYABLE_4XX or status >= 500:
        return Outcome.retry(message, status, retry_after)
    if 300 <= status < 400:
        # POST redirects are ambiguous (some clients turn them into GET): point the channel at
        # the final URL instead.
        message += " (redirects are not followed: configure the final URL)"
    return Outcome.failed(message, status)


class WebhookSender:
    """Sends webhooks for one delivery pass; one client, so connections are reused."""

    def __init__(self, client: httpx.AsyncClient | None = None) -> None:
        self._client = client
        self._owned = client is None

    async def send(
        self,
        alert: DueAlert,
        story: Mapping[str, Any],
        channel: WebhookChannel,
        *,
        now: datetime,
    ) -> Outcome:
        if (
            refused := refused_for_unset_secret(channel, "; the webhook is not sent unsigned")
        ) is not None:
            return refused
        body = webhook_body(alert, story)
        timestamp = int(now.timestamp())
        headers = httpx.Headers(dict(channel.headers))
        # Set after the channel's own headers, so the configuration cannot override them.
        headers["Content-Type"] = "application/json; charset=utf-8"
        headers["User-Agent"] = USER_AGENT
        headers[IDEMPOTENCY_HEADER] = alert.idempotency_key
        headers[TIMESTAMP_HEADER] = str(timestamp)
        if channel.secret:
            headers[SIGNATURE_HEADER] = sign(channel.secret.encode("utf-8"), timestamp, body)
        try:
            async with asyncio.timeout(channel.timeout):
                return await self._post(channel, body, headers, now)
        except (TimeoutError, httpx.TimeoutException):
            return Outcome.retry(f"timed out after {channel.timeout:g}s")
        except httpx.UnsupportedProtocol as exc:
            return Outcome.failed(f"unsupported URL {channel.url!r}: {exc}")
        except httpx.TransportError as exc:
            return Outcome.retry(f"{type(exc).__name__}: {exc}".rstrip(": "))

    async def _post(
        self, channel: WebhookChannel, body: bytes, headers: httpx.Headers, now: datetime
    ) -> Outcome:
        client = self._client_for_pass()
        async with client.stream(
            "POST", channel.url, content=body, headers=headers, timeout=channel.timeout
        ) as response:
            detail = await _read_some(response)
            return classify(
                response.status_code,
                retry_after=retry_after_seconds(
                    response.headers.get("Retry-After"), now, cap=RETRY_AFTER_MAX
                ),
                detail=detail,
            )

    def _client_for_pass(self) -> httpx.AsyncClient:
        if self._client is None:
            # Receivers close idle connections (often after 5 s); a pass that waited longer
            # than that would reuse a dead one and fail its send. Keep them for less.
            self._client = httpx.AsyncClient(
                follow_redirects=False, limits=httpx.Limits(keepalive_expiry=KEEPALIVE_SECONDS)
            )
        return self._client

    async def aclose(self) -> None:
        if self._client is not None and self._owned:
            await self._client.aclose()
            self._client = None


async def _read_some(response: httpx.Response) -> str:
    """The start of the response body, as one line: enough to explain a refusal."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_bytes():
        chunks.append(chunk)
        size += len(chunk)
        if size >= _DETAIL_MAX:
            break
    text = b"".join(chunks)[:_DETAIL_MAX].decode("utf-8", "replace")
    return " ".join(text.split())


CHANNEL_TYPE = ChannelType(name=WebhookChannel.kind, parse=parse, sender=WebhookSender)
