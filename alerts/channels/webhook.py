"""The webhook channel type: a signed JSON POST over httpx's async client.

2xx is delivered. 408, 425, 429, 5xx, timeouts and connection errors are worth another try
(``Retry-After`` is passed on); any other status is a permanent refusal. A kept-alive connection
the receiver closed just as a send reused it is no error: the send goes again at once, on
another connection. The signing scheme is described in :mod:`marsad.alerts.signing`.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import urlsplit

import httpx

from marsad.alerts.channels.channel_type import (
    CHANNEL_CONCURRENCY,
    ChannelType,
    refused_for_unset_secret,
)
from marsad.alerts.channels.digest_schedule import DIGEST_KEYS, DigestSchedule, parse_digest
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
    import ssl

    from marsad.storage.models import DueAlert

log = logging.getLogger("marsad.delivery.webhook")

PAYLOAD_VERSION = 1
USER_AGENT = "marsad/0.1 (alerts)"
# A receiver asking for more than a week is treated as asking for a week.
RETRY_AFTER_MAX = 7 * 24 * 3600.0
_RETRYABLE_4XX = frozenset({408, 425, 429})
# How much of a response body is kept in the delivery record, to say why it failed.
_DETAIL_MAX = 300
_KEYS = frozenset({"type", "url", "secret_env", "timeout", "headers"}) | DIGEST_KEYS


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
    # Hourly or daily digests instead of one POST per alert (None: one per alert).
    digest: DigestSchedule | None = None

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
        digest=parse_digest(table, where),
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
    document: dict[str, Any] = {
        "version": PAYLOAD_VERSION,
        "idempotency_key": alert.idempotency_key,
        "alert_id": alert.id,
        "rule": payload.get("rule", alert.rule),
        "channel": alert.channel,
        "article": payload.get("article", {}),
        "matches": matches,
        "story": {"id": alert.story_id, **story},
        # A follow-up (the story reached N outlets) or a breaking alert says so; a story holding
        # a machine translation says what it was translated from, with the evidence.
        **{
            key: payload[key]
            for key in ("follow_up", "breaking", "translated_from")
            if key in payload
        },
    }
    text = json.dumps(document, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return scrub(text).encode("utf-8")


def digest_body(alert: DueAlert) -> bytes:
    """The JSON document POSTed for a digest: its period and stories (newest first, at most
    the digest's limit; ``more`` counts the rest) under ``"digest"``. Pure."""
    payload = alert.payload
    document = {
        "version": PAYLOAD_VERSION,
        "idempotency_key": alert.idempotency_key,
        "alert_id": alert.id,
        "channel": alert.channel,
        "digest": {
            "id": payload.get("digest_id"),
            "schedule": payload.get("schedule"),
            "period": payload.get("period", {}),
            "total": payload.get("total", 0),
            "more": payload.get("more", 0),
            "stories": payload.get("stories", []),
        },
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
    """Sends webhooks for one delivery session (the daemon's: its whole life).

    One client per channel, opened at the channel's first send and kept until :meth:`aclose`,
    so connections are reused from send to send and from pass to pass; each holds at most
    :data:`CHANNEL_CONCURRENCY` connections, as many as there are sends at once over a channel.
    One TLS context serves them all (building one costs tens of milliseconds of CPU). A client
    given to the constructor is used for every channel and left open.
    """

    def __init__(self, client: httpx.AsyncClient | None = None) -> None:
        self._given = client
        self._clients: dict[str, httpx.AsyncClient] = {}
        self._tls: ssl.SSLContext | None = None

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
        body = self.body(alert, story)
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
            # One bound for the whole send, the retry on a fresh connection included.
            async with asyncio.timeout(channel.timeout):
                return await self._post(channel, body, headers, now)
        except (TimeoutError, httpx.TimeoutException):
            return Outcome.retry(f"timed out after {channel.timeout:g}s")
        except httpx.UnsupportedProtocol as exc:
            return Outcome.failed(f"unsupported URL {channel.url!r}: {exc}")
        except httpx.TransportError as exc:
            return Outcome.retry(f"{type(exc).__name__}: {exc}".rstrip(": "))

    def body(self, alert: DueAlert, story: Mapping[str, Any]) -> bytes:
        """The JSON document posted for ``alert`` (another kind of alert posts another)."""
        return webhook_body(alert, story)

    async def _post(
        self, channel: WebhookChannel, body: bytes, headers: httpx.Headers, now: datetime
    ) -> Outcome:
        client = self._client_for(channel)
        watch = _ConnectionWatch()
        request = client.build_request(
            "POST",
            channel.url,
            content=body,
            headers=headers,
            timeout=channel.timeout,
            extensions={"trace": watch.trace},
        )
        try:
            response = await client.send(request, stream=True)
        except _CLOSED_UNDER_US as exc:
            if watch.opened:
                raise
            # A kept-alive connection the receiver closed as we reused it (a restart, or its
            # idle timeout just then): it answered nothing, so once more on another connection.
            # A receiver that took the request and died before answering gets it twice, with
            # one idempotency key, as after any retry.
            log.debug(
                "channel %s: kept-alive connection closed under a send (%r)", channel.name, exc
            )
            response = await client.send(request, stream=True)
        try:
            detail = await _read_some(response)
        finally:
            await response.aclose()
        return classify(
            response.status_code,
            retry_after=retry_after_seconds(
                response.headers.get("Retry-After"), now, cap=RETRY_AFTER_MAX
            ),
            detail=detail,
        )

    def _client_for(self, channel: WebhookChannel) -> httpx.AsyncClient:
        if self._given is not None:
            return self._given
        client = self._clients.get(channel.name)
        if client is None:
            if self._tls is None:
                self._tls = httpx.create_ssl_context()
            client = self._clients[channel.name] = httpx.AsyncClient(
                verify=self._tls,
                follow_redirects=False,
                # Receivers close idle connections (often after 5 s); a send that waited longer
                # than that (a pass held up by the store, the next pass) would reuse a dead one.
                # Keep them for less.
                limits=httpx.Limits(
                    max_connections=CHANNEL_CONCURRENCY,
                    max_keepalive_connections=CHANNEL_CONCURRENCY,
                    keepalive_expiry=KEEPALIVE_SECONDS,
                ),
            )
        return client

    async def aclose(self) -> None:
        """Close every client this sender opened (their connections with them)."""
        clients = list(self._clients.values())
        self._clients.clear()
        for client in clients:
            await client.aclose()


class WebhookDigestSender(WebhookSender):
    """Sends digests: the same signed POST, its body the digest's document."""

    def body(self, alert: DueAlert, story: Mapping[str, Any]) -> bytes:
        return digest_body(alert)


# What a send on a connection the receiver has closed raises before any answer: the request
# could not be written, or the connection ended (or was reset) before a status line.
_CLOSED_UNDER_US = (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError)


class _ConnectionWatch:
    """Notes, through httpcore's trace hook, whether a request opened a connection of its own
    (rather than reusing a kept-alive one)."""

    def __init__(self) -> None:
        self.opened = False

    async def trace(self, event: str, info: Mapping[str, Any]) -> None:
        # "connection.connect_tcp.started" (or .connect_unix_socket.): a new connection.
        if event.startswith("connection.connect_"):
            self.opened = True


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


CHANNEL_TYPE = ChannelType(
    name=WebhookChannel.kind,
    parse=parse,
    sender=WebhookSender,
    digest_sender=WebhookDigestSender,
)
