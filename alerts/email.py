"""Sending an alert by e-mail: smtplib, run in a worker thread so the event loop never blocks.

SMTP replies 5xx are permanent (the server will not take this message: unknown recipient,
rejected sender, failed login); 4xx replies, timeouts and connection errors are worth another
try.
"""

from __future__ import annotations

import asyncio
import os
import smtplib
import ssl
from collections.abc import Mapping
from datetime import datetime
from email.message import EmailMessage
from typing import TYPE_CHECKING, Any

from marsad.alerts.outcome import Outcome
from marsad.alerts.render import email_message

if TYPE_CHECKING:
    from marsad.alerts.channels import EmailChannel
    from marsad.storage.models import DueAlert


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
        password: str | None = None
        if channel.password_env:
            password = os.environ.get(channel.password_env)
            if not password:
                return Outcome.retry(
                    f"channel {channel.name}: environment variable {channel.password_env} "
                    "is not set"
                )
        try:
            message = email_message(alert, story, channel, date=now)
        except ValueError as exc:
            # A header the e-mail library refuses (a bad From/To in the config).
            return Outcome.failed(f"channel {channel.name}: cannot build the message: {exc}")
        return await asyncio.to_thread(submit, channel, message, password)

    async def aclose(self) -> None:
        """Nothing held between sends."""


def submit(channel: EmailChannel, message: EmailMessage, password: str | None) -> Outcome:
    """Blocking: hand ``message`` to the channel's SMTP server and classify what it said."""
    try:
        with _connect(channel) as smtp:
            if channel.starttls:
                smtp.starttls(context=ssl.create_default_context())
            if channel.username and password is not None:
                smtp.login(channel.username, password)
            refused = smtp.send_message(message, channel.sender, list(channel.to))
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
