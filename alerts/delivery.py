"""The delivery job: send the alerts that are due, record every attempt, retry with backoff.

Each alert is settled on its own: its attempt is recorded and its state updated in one short
transaction after the send returns, so no transaction is ever held across network I/O, and a
pass cut short leaves every alert it did not reach still pending.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Mapping
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from marsad.alerts.channels import CHANNEL_TYPES
from marsad.alerts.outcome import Outcome
from marsad.retry import exponential_backoff
from marsad.storage.outbox import (
    due_alerts,
    mark_dead,
    mark_sent,
    record_delivery,
    schedule_retry,
    story_alert_summary,
)
from marsad.storage.transactions import write_transaction
from marsad.times import to_iso

if TYPE_CHECKING:
    from sqlite_utils import Database

    from marsad.alerts.channels import Channel, ChannelType, Sender
    from marsad.alerts.config import DeliveryConfig
    from marsad.storage.models import DueAlert

log = logging.getLogger("marsad.delivery")

# Up to this fraction of the backoff is added at random, so alerts that failed together (one
# receiver down) do not all come back in the same second.
JITTER = 0.1


@dataclass
class DeliveryReport:
    """What one pass did; ``errors`` holds one line per failed attempt."""

    sent: int = 0
    retried: int = 0
    dead: int = 0
    errors: list[str] = field(default_factory=list)


def retry_delay(
    attempts: int,
    config: DeliveryConfig,
    *,
    retry_after: float | None = None,
    rand: float = 0.0,
) -> float:
    """Seconds until the next try after ``attempts`` earlier ones failed (0 before the first).

    ``min(backoff_max, backoff_base * 2**attempts)`` plus up to :data:`JITTER` of it
    (``rand`` in [0, 1)), but never sooner than the receiver's ``retry_after``.
    """
    backoff = exponential_backoff(attempts, config.backoff_base, config.backoff_max)
    delay = backoff * (1.0 + JITTER * rand)
    return max(delay, retry_after or 0.0)


async def deliver_due(
    db: Database,
    channels: Mapping[str, Channel],
    config: DeliveryConfig,
    *,
    now: Callable[[], datetime] | None = None,
    limit: int = 100,
    channel_types: Mapping[str, ChannelType[Any]] = CHANNEL_TYPES,
) -> DeliveryReport:
    """Send every alert due at ``now()`` (up to ``limit``), one after another.

    ``now`` is injectable so tests can walk through retries without sleeping; each channel's
    sender comes from its type in ``channel_types`` (a test passes its own registry).
    """
    clock = now or (lambda: datetime.now(UTC))
    report = DeliveryReport()
    due = due_alerts(db, to_iso(clock()), limit)
    if not due:
        return report
    async with AsyncExitStack() as stack:
        # One sender per channel type for the whole pass, opened on first use.
        opened: dict[str, Sender[Any]] = {}
        for alert in due:
            channel = channels.get(alert.channel)
            channel_type = channel_types.get(channel.kind) if channel is not None else None
            attempted = clock()
            if channel is None or channel_type is None:
                reason = (
                    f"channel {alert.channel!r} is not configured"
                    if channel is None
                    else f"no sender for channel type {channel.kind}"
                )
                _settle(db, alert, Outcome.failed(reason), config, attempted, 0, report)
                continue
            sender = opened.get(channel.kind)
            if sender is None:
                sender = opened[channel.kind] = channel_type.sender()
                stack.push_async_callback(sender.aclose)
            story = story_alert_summary(db, alert.story_id)
            started = time.monotonic()
            try:
                outcome = await sender.send(alert, story, channel, now=attempted)
            except Exception as exc:
                # A bug in a sender must not stop the pass nor lose the alert: retry it later.
                log.exception("alert %d: sender raised", alert.id)
                outcome = Outcome.retry(f"internal error: {type(exc).__name__}: {exc}")
            duration_ms = int((time.monotonic() - started) * 1000)
            _settle(db, alert, outcome, config, clock(), duration_ms, report)
    return report


def _settle(
    db: Database,
    alert: DueAlert,
    outcome: Outcome,
    config: DeliveryConfig,
    at: datetime,
    duration_ms: int,
    report: DeliveryReport,
) -> None:
    """Record the attempt and move the alert on, in one short transaction."""
    stamp = to_iso(at)
    error = outcome.error
    with write_transaction(db):
        record_delivery(
            db,
            alert.id,
            attempted_at=stamp,
            ok=outcome.ok,
            status_code=outcome.status_code,
            error=error,
            duration_ms=duration_ms,
        )
        if outcome.ok:
            mark_sent(db, alert.id, stamp)
            report.sent += 1
            return
        error = error or "failed"
        attempts = alert.attempts + 1
        if outcome.permanent or attempts >= config.max_attempts:
            final = error if outcome.permanent else f"{error} (gave up after {attempts} attempts)"
            mark_dead(db, alert.id, final)
            report.dead += 1
            report.errors.append(f"alert {alert.id} ({alert.channel}): dead: {final}")
            log.warning("alert %d (%s): dead: %s", alert.id, alert.channel, final)
            return
        delay = retry_delay(
            alert.attempts, config, retry_after=outcome.retry_after, rand=random.random()
        )
        schedule_retry(db, alert.id, to_iso(_round_up(at + timedelta(seconds=delay))), error)
        report.retried += 1
        report.errors.append(f"alert {alert.id} ({alert.channel}): retry in {delay:.0f}s: {error}")
        log.info("alert %d (%s): retry in %.0fs: %s", alert.id, alert.channel, delay, error)


def _round_up(moment: datetime) -> datetime:
    """To the next whole second: stored times have no fraction, and truncating could put the
    next try before a receiver's Retry-After."""
    if moment.microsecond:
        return moment.replace(microsecond=0) + timedelta(seconds=1)
    return moment
