"""The delivery job: claim the alerts that are due, send them, record every attempt, retry
with backoff.

A *session* (:func:`open_delivery`) holds the senders (for webhooks: one HTTP client per channel,
its connections kept alive) for as long as it is open: the daemon opens one for its life and runs
every pass through it. :meth:`DeliverySession.deliver_due` is one pass;
:meth:`DeliverySession.drain` runs passes until nothing is due, within a time and a pass bound.

Any number of passes, in any number of processes on one store, may run at once. A pass *claims*
an alert before sending it (one ``UPDATE … RETURNING`` that sets who holds it and until when:
:func:`storage.outbox.claim_due_alerts`), so two passes never send the same alert at once; the
claim is a lease, so the alerts of a pass that died are sent by another once it lapses (or at
once by the next pass on the same host, which sees that the claimer's process is gone).

Sends run concurrently: at most :data:`CHANNEL_CONCURRENCY` at a time per channel (one receiver,
one SMTP server: a hanging one ties up its own sends only) and :data:`PASS_CONCURRENCY` in all. A
pass claims only as many alerts as it has free places, so every claimed alert is sent at once
and a crash strands few. Each alert is settled on its own: its attempt is recorded and its state
updated in one short transaction right after its send returns, so no transaction is ever held
across network I/O, and a pass cut short leaves every alert it did not reach still pending.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import secrets
import socket
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal

from marsad.alerts.channels import CHANNEL_TYPES
from marsad.alerts.channels.apprise import AppriseChannel
from marsad.alerts.channels.channel_type import CHANNEL_CONCURRENCY as CHANNEL_CONCURRENCY
from marsad.alerts.channels.channel_type import digest_of
from marsad.alerts.channels.email import EmailChannel
from marsad.alerts.channels.webhook import WebhookChannel
from marsad.alerts.digest import is_digest
from marsad.alerts.health import NOTICE_SENDERS, is_notice
from marsad.alerts.outcome import Outcome
from marsad.retry import exponential_backoff
from marsad.storage.digests import (
    any_held,
    hold_for_digest,
    release_held,
    settle_digest_dead,
    settle_digest_sent,
)
from marsad.storage.health import note_channel_attempt
from marsad.storage.outbox import (
    Backlog,
    any_claimable,
    claim_due_alerts,
    live_claimers,
    mark_dead,
    mark_sent,
    outbox_backlog,
    record_delivery,
    release_claims,
    renew_claims,
    schedule_retry,
    story_alert_summary,
)
from marsad.storage.transactions import LOCK_ATTEMPTS, LOCK_TIMEOUT_SECONDS, write_transaction
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

# Sends in flight per channel, CHANNEL_CONCURRENCY (from the seam senders plug into, which
# size their connections by it): a receiver gets no more parallel requests (an SMTP server no
# more connections) than this from one pass, and a hanging one holds only these places.
# Sends in flight per pass, across its channels. At most 2 x 5: e-mail sends run in asyncio's
# default thread pool (at least 5 threads), so one waits for at most one other (_email_bound).
PASS_CONCURRENCY = 8
# Alerts one pass attempts at most, by default; a drain's passes take this many each, so an
# alert queued while a drain works through a backlog waits for at most one pass.
PASS_LIMIT = 100
DAEMON_PASS_LIMIT = PASS_LIMIT  # the name earlier callers know
# Passes one drain runs at most, by default (at PASS_LIMIT each: 10,000 alerts).
DRAIN_MAX_PASSES = 100

# The longest a pass may wait for the store's write lock to settle a send (it then gives up).
STORE_WAIT_SECONDS = LOCK_TIMEOUT_SECONDS * LOCK_ATTEMPTS
# A send's deadline is its sender's own bound plus this, so the sender's timeout fires first.
SEND_SLACK_SECONDS = 1.0
# For a channel type that declares no bound of its own (see SEND_BOUNDS).
DEFAULT_SEND_BOUND = 60.0
# smtplib's timeout bounds each socket operation, not the conversation: connect and greeting,
# EHLO, STARTTLS and its handshake, EHLO again, AUTH (two steps), MAIL, DATA, the message and
# its answer, QUIT; plus one RCPT per recipient.
SMTP_EXCHANGES = 11


def _webhook_bound(channel: WebhookChannel) -> float:
    # The sender bounds the whole request (connect, send, answer) by the channel's timeout.
    return channel.timeout


def _apprise_bound(channel: AppriseChannel) -> float:
    # The sender bounds the whole notification (its thread) by the channel's timeout.
    return channel.timeout


def _email_bound(channel: EmailChannel) -> float:
    # Twice the conversation: the send may first wait for a thread while another one finishes.
    return 2 * (SMTP_EXCHANGES + len(channel.to)) * channel.timeout


# The longest one send over a channel of each type can take, from its configured timeouts.
SEND_BOUNDS: Mapping[str, Callable[[Any], float]] = {
    WebhookChannel.kind: _webhook_bound,
    EmailChannel.kind: _email_bound,
    AppriseChannel.kind: _apprise_bound,
}


def send_deadline(channel: Channel) -> float:
    """Seconds a pass waits for one send over ``channel`` before it gives up on it."""
    bound = SEND_BOUNDS.get(channel.kind)
    return (bound(channel) if bound is not None else DEFAULT_SEND_BOUND) + SEND_SLACK_SECONDS


def lease_seconds(channels: Iterable[Channel]) -> float:
    """How long a claim on an alert for one of ``channels`` holds (a pass gives each channel's
    claims that channel's own): derived, so it outlasts whatever can happen while it holds.

    Every write of the pass (a claim, a settle) renews the leases of all its sends in flight, so
    between a renewal and the settle that releases a claim fall at most one send (the longest
    :func:`send_deadline` of ``channels``) and one wait for the store's write lock
    (:data:`STORE_WAIT_SECONDS`; a wait that runs out fails the pass); one more second because
    stored times are whole seconds.
    """
    longest = max((send_deadline(c) for c in channels), default=DEFAULT_SEND_BOUND)
    return longest + STORE_WAIT_SECONDS + 1.0


def new_claimer() -> str:
    """A name for one pass, unique across processes and readable in the store: host, pid, and a
    random tag (one process runs many passes)."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"


def claimer_process(claimer: str) -> tuple[str, int] | None:
    """The host and pid a :func:`new_claimer` name carries; ``None`` for any other name."""
    host, _, rest = claimer.partition(":")
    pid, _, tag = rest.partition(":")
    if not host or not pid.isdigit() or not tag:
        return None
    return host, int(pid)


def process_is_gone(pid: int) -> bool:
    """Whether no process ``pid`` runs on this host (a zombie, killed but not yet reaped by its
    parent, counts as gone: it sends nothing more)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False  # another user's process: alive
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[:1] == ["Z"]


def release_claims_of_the_gone(db: Database, now: str) -> int:
    """Release, so they are sent now, the claims of passes whose process has ended on this host
    (``kill -9``, a crash, a power cut): it cannot be sending them. Claims made on another host,
    or by a process still alive, wait for their lease to lapse."""
    here, me = socket.gethostname(), os.getpid()
    released = 0
    for claimer in live_claimers(db, now):
        process = claimer_process(claimer)
        if process is None or process[0] != here or process[1] == me:
            continue
        if not process_is_gone(process[1]):
            continue
        with write_transaction(db):
            count = release_claims(db, claimer)
        if count:
            log.warning(
                "%d alerts were claimed by pid %d, which is gone: they are due again now",
                count,
                process[1],
            )
        released += count
    return released


@dataclass
class DeliveryReport:
    """What one pass did; ``errors`` holds one line per failed attempt.

    ``lost`` counts sends whose claim had lapsed and been taken by another pass before they
    were settled (their attempts are recorded; the other pass settles the alert). ``backlog`` is
    what the outbox held when the pass ended.
    """

    sent: int = 0
    retried: int = 0
    dead: int = 0
    lost: int = 0
    errors: list[str] = field(default_factory=list)
    backlog: Backlog | None = field(default=None, compare=False)

    @property
    def attempted(self) -> int:
        """Alerts claimed and settled (each counts once, whatever became of it)."""
        return self.sent + self.retried + self.dead + self.lost


# Why a drain ended: nothing due any more; its limit of alerts, its deadline or its number of
# passes reached; stopped (``stop`` set, or its session closing); or a pass found nothing to
# claim although the store says some are due (they came due after it began, or another
# delivery took them meanwhile): the next pass or run sends them.
DrainEnd = Literal["nothing due", "limit", "deadline", "max passes", "stopped", "no progress"]


@dataclass
class DrainReport(DeliveryReport):
    """What a drain did, in all its passes; ``backlog`` is what the outbox held after the last."""

    passes: int = 0
    ended: DrainEnd = "nothing due"

    def add(self, report: DeliveryReport) -> None:
        self.passes += 1
        self.sent += report.sent
        self.retried += report.retried
        self.dead += report.dead
        self.lost += report.lost
        self.errors += report.errors
        self.backlog = report.backlog


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


def open_delivery(
    channels: Mapping[str, Channel],
    config: DeliveryConfig,
    *,
    now: Callable[[], datetime] | None = None,
    channel_types: Mapping[str, ChannelType[Any]] = CHANNEL_TYPES,
) -> DeliverySession:
    """A delivery session over ``channels``: ``async with open_delivery(...) as session:``, or
    keep it and ``await session.aclose()`` at the end. Opening it does no I/O; each channel
    type's sender is made at its first send and closed with the session.

    ``now`` is injectable so tests can walk through retries and leases without sleeping; each
    channel's sender comes from its type in ``channel_types`` (a test passes its own registry).
    """
    return DeliverySession(channels, config, now=now, channel_types=channel_types)


class DeliverySession:
    """Senders kept open across passes (connections reused, TLS set up once), and the passes
    run through them, one at a time: each within the bounds its claims' lease is derived from."""

    def __init__(
        self,
        channels: Mapping[str, Channel],
        config: DeliveryConfig,
        *,
        now: Callable[[], datetime] | None = None,
        channel_types: Mapping[str, ChannelType[Any]] = CHANNEL_TYPES,
    ) -> None:
        self.channels = channels
        self.config = config
        self.clock = now or (lambda: datetime.now(UTC))
        self.channel_types = channel_types
        self._senders: dict[str, Sender[Any]] = {}
        self._to_close = AsyncExitStack()
        self._one_pass = asyncio.Lock()
        # Set by aclose: the pass running then claims nothing more.
        self.closing = asyncio.Event()
        self._closed = False
        # Told (channel, result) after each attempt is settled: "sent", "retry", "dead" or
        # "lost" (another pass took the alert over). The daemon's metrics count them.
        self.on_settled: Callable[[str, str], None] | None = None

    async def __aenter__(self) -> DeliverySession:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """End the session: a pass running now claims nothing more and settles its sends in
        flight (each within its send deadline); then every sender is closed. Idempotent."""
        if self._closed:
            return
        self.closing.set()
        async with self._one_pass:
            self._closed = True
            self._senders.clear()
            await self._to_close.aclose()

    async def deliver_due(
        self,
        db: Database,
        *,
        limit: int | None = PASS_LIMIT,
        stop: asyncio.Event | None = None,
    ) -> DeliveryReport:
        """One pass: send every alert due when it starts (up to ``limit`` of them; ``None``:
        all), concurrently within the bounds above, and return what it did and what is left.

        Alerts that come due during the pass are left to the next one, so a pass always ends.
        Once ``stop`` is set the pass claims nothing more and ends when its sends in flight are
        settled. A pass started while another runs in this session waits for it.
        """
        return await self._run_pass(db, limit=limit, stop=stop, claim_until=None)

    async def drain(
        self,
        db: Database,
        *,
        deadline: float | None = None,
        max_passes: int | None = DRAIN_MAX_PASSES,
        limit: int | None = None,
        pass_limit: int | None = PASS_LIMIT,
        stop: asyncio.Event | None = None,
    ) -> DrainReport:
        """Passes until nothing is due now (an alert waiting for a retry at a later time is not
        due), and the totals of them all.

        Each pass takes what is due when it starts, up to ``pass_limit`` alerts (``None``: all),
        so alerts queued or come due meanwhile are sent by a later pass. Bounds: ``limit``
        alerts in all; ``deadline`` seconds from now, after which nothing more is claimed (the
        sends in flight then settle, each within its send deadline); ``max_passes`` passes;
        ``stop`` (claims nothing more once set). ``ended`` says which ended it.
        """
        claim_until = None if deadline is None else time.monotonic() + deadline
        total = DrainReport()
        while True:
            room = pass_limit
            if limit is not None:
                left = limit - total.attempted
                room = left if room is None else min(room, left)
            report = await self._run_pass(db, limit=room, stop=stop, claim_until=claim_until)
            total.add(report)
            ended = self._drain_end(total, report, limit, claim_until, max_passes, stop)
            if ended is not None:
                total.ended = ended
                return total

    def _drain_end(
        self,
        total: DrainReport,
        last: DeliveryReport,
        limit: int | None,
        claim_until: float | None,
        max_passes: int | None,
        stop: asyncio.Event | None,
    ) -> DrainEnd | None:
        if self.closing.is_set() or (stop is not None and stop.is_set()):
            return "stopped"
        if last.backlog is None or last.backlog.due == 0:
            return "nothing due"
        if limit is not None and total.attempted >= limit:
            return "limit"
        if claim_until is not None and time.monotonic() >= claim_until:
            return "deadline"
        if max_passes is not None and total.passes >= max_passes:
            return "max passes"
        if last.attempted == 0:
            return "no progress"
        return None

    async def _run_pass(
        self,
        db: Database,
        *,
        limit: int | None,
        stop: asyncio.Event | None,
        claim_until: float | None,
    ) -> DeliveryReport:
        if self._closed:
            raise RuntimeError("this delivery session is closed")
        async with self._one_pass:
            if self._closed:
                raise RuntimeError("this delivery session is closed")
            delivery = _Pass(self, db, limit=limit, stop=stop, claim_until=claim_until)
            return await delivery.run()

    def notice_sender(self, kind: str) -> Sender[Any] | None:
        """What sends health alerts over channels of type ``kind`` for the whole session
        (:data:`marsad.alerts.health.NOTICE_SENDERS`); None when the type has none."""
        key = f"{kind}:notices"
        sender = self._senders.get(key)
        if sender is None:
            make = NOTICE_SENDERS.get(kind)
            if make is None:
                return None
            sender = self._senders[key] = make()
            self._to_close.push_async_callback(sender.aclose)
        return sender

    def digest_sender(self, kind: str, channel_type: ChannelType[Any]) -> Sender[Any] | None:
        """What sends digests over channels of type ``kind`` for the whole session; None when
        the type has none."""
        key = f"{kind}:digests"
        sender = self._senders.get(key)
        if sender is None:
            if channel_type.digest_sender is None:
                return None
            sender = self._senders[key] = channel_type.digest_sender()
            self._to_close.push_async_callback(sender.aclose)
        return sender

    def sender(self, kind: str, channel_type: ChannelType[Any]) -> Sender[Any]:
        """One sender per channel type for the whole session, made on first use."""
        sender = self._senders.get(kind)
        if sender is None:
            sender = self._senders[kind] = channel_type.sender()
            self._to_close.push_async_callback(sender.aclose)
        return sender


async def deliver_due(
    db: Database,
    channels: Mapping[str, Channel],
    config: DeliveryConfig,
    *,
    now: Callable[[], datetime] | None = None,
    limit: int | None = PASS_LIMIT,
    channel_types: Mapping[str, ChannelType[Any]] = CHANNEL_TYPES,
    stop: asyncio.Event | None = None,
) -> DeliveryReport:
    """One pass in a session of its own (see :meth:`DeliverySession.deliver_due`): its senders
    are made for it and closed after it. A caller that runs passes again and again keeps one
    session open instead."""
    async with open_delivery(channels, config, now=now, channel_types=channel_types) as session:
        return await session.deliver_due(db, limit=limit, stop=stop)


class _Pass:
    """One delivery pass: its claims, its sends in flight, its report."""

    def __init__(
        self,
        session: DeliverySession,
        db: Database,
        *,
        limit: int | None,
        stop: asyncio.Event | None,
        claim_until: float | None,
    ) -> None:
        self.session = session
        self.db = db
        self.channels = channels = session.channels
        self.config = session.config
        self.clock = clock = session.clock
        self.limit = limit
        self.channel_types = session.channel_types
        self.stop = stop
        # A monotonic time after which the pass claims nothing more (a drain's deadline).
        self.claim_until = claim_until
        self.claimer = new_claimer()
        # Each channel's claims last as long as its own sends need (an alert for a channel no
        # longer configured is settled without one).
        self.leases = {
            name: timedelta(seconds=lease_seconds([channel])) for name, channel in channels.items()
        }
        self.unconfigured_lease = timedelta(seconds=lease_seconds([]))
        # Their article alerts wait for the channel's digest; the others' held ones (a digest
        # turned off) go out on their own.
        self.digest_channels = [n for n, c in channels.items() if digest_of(c) is not None]
        self.single_channels = [n for n in channels if n not in self.digest_channels]
        # Only what was due when the pass began: a retry it schedules, or an alert queued while
        # it runs, is for the next pass.
        self.due_by = to_iso(clock())
        self.report = DeliveryReport()
        self.in_flight: dict[asyncio.Task[None], DueAlert] = {}
        self.busy: Counter[str] = Counter()
        self.claimed = 0
        self.failure: BaseException | None = None

    async def run(self) -> DeliveryReport:
        release_claims_of_the_gone(self.db, to_iso(self.clock()))
        if any_held(self.db, self.single_channels):
            # A channel's digest was turned off: what it held goes out on its own, now.
            with write_transaction(self.db):
                release_held(self.db, self.single_channels, self.due_by)
        try:
            while True:
                if not self._stopping():
                    try:
                        self._claim_more()
                    except Exception as exc:
                        # The store would not let us claim: no new sends; those in flight
                        # still settle, then the pass raises.
                        log.error("delivery pass: could not claim alerts: %s", exc)
                        self.failure = exc
                if not self.in_flight:
                    break
                done, _ = await asyncio.wait(self.in_flight, return_when=asyncio.FIRST_COMPLETED)
                for task in done:
                    self._finished(task)
        except BaseException:
            # Cancelled (or worse): the sends are abandoned, their claims lapse.
            for task in self.in_flight:
                task.cancel()
            await asyncio.gather(*self.in_flight, return_exceptions=True)
            raise
        if self.failure is not None:
            raise self.failure
        self.report.backlog = outbox_backlog(self.db, to_iso(self.clock()))
        return self.report

    def _stopping(self) -> bool:
        return (
            self.failure is not None
            or (self.stop is not None and self.stop.is_set())
            or self.session.closing.is_set()
            or (self.claim_until is not None and time.monotonic() >= self.claim_until)
        )

    def _claim_more(self) -> None:
        """Claim as many due alerts as there are free places (per channel and in all), and
        start sending them."""
        room = PASS_CONCURRENCY - len(self.in_flight)
        if self.limit is not None:
            room = min(room, self.limit - self.claimed)
        if room <= 0 or not any_claimable(self.db, due_by=self.due_by, now=to_iso(self.clock())):
            return
        claimed: list[DueAlert] = []
        with write_transaction(self.db):
            # Read the time once the write lock is ours: the lease starts when the claim does.
            now = self.clock()
            self._renew(now)
            hold_for_digest(self.db, self.digest_channels, to_iso(now))
            due = {"due_by": self.due_by, "now": to_iso(now)}
            for name in self.channels:
                free = min(CHANNEL_CONCURRENCY - self.busy[name], room - len(claimed))
                if free > 0:
                    claimed += claim_due_alerts(
                        self.db,
                        self.claimer,
                        limit=free,
                        channel=name,
                        lease_until=self._lease_until(name, now),
                        **due,
                    )
            if room > len(claimed):
                # Alerts for channels no longer configured: settled at once, without a send.
                claimed += claim_due_alerts(
                    self.db,
                    self.claimer,
                    limit=room - len(claimed),
                    not_in=list(self.channels),
                    lease_until=self._lease_until(None, now),
                    **due,
                )
        self.claimed += len(claimed)
        for alert in claimed:
            self.busy[alert.channel] += 1
            task = asyncio.create_task(self._deliver(alert), name=f"alert {alert.id}")
            self.in_flight[task] = alert

    def _finished(self, task: asyncio.Task[None]) -> None:
        alert = self.in_flight.pop(task)
        self.busy[alert.channel] -= 1
        if not task.cancelled() and (error := task.exception()) is not None:
            # Settling failed (the store stayed locked, say): claim nothing more, let the other
            # sends settle, then raise. This alert's claim lapses and another pass sends it.
            log.error("alert %d: could not be settled: %s", alert.id, error)
            if self.failure is None:
                self.failure = error

    async def _deliver(self, alert: DueAlert) -> None:
        channel = self.channels.get(alert.channel)
        channel_type = self.channel_types.get(channel.kind) if channel is not None else None
        attempted = self.clock()
        if channel is None or channel_type is None:
            reason = (
                f"channel {alert.channel!r} is not configured"
                if channel is None
                else f"no sender for channel type {channel.kind}"
            )
            self._settle(alert, Outcome.failed(reason), attempted, 0)
            return
        story: Mapping[str, Any] = {}
        if is_notice(alert):
            # A health alert: its channel type's notice sender renders it; no story.
            notice_sender = self.session.notice_sender(channel.kind)
            if notice_sender is None:
                reason = f"channel type {channel.kind} cannot carry health alerts"
                self._settle(alert, Outcome.failed(reason), attempted, 0)
                return
            sender = notice_sender
        elif is_digest(alert.payload):
            # A digest: its channel type's digest sender renders the stories it lists.
            digest_sender = self.session.digest_sender(channel.kind, channel_type)
            if digest_sender is None:
                reason = f"channel type {channel.kind} cannot carry digests"
                self._settle(alert, Outcome.failed(reason), attempted, 0)
                return
            sender = digest_sender
        else:
            sender = self.session.sender(channel.kind, channel_type)
            story = story_alert_summary(self.db, alert.story_id)
        deadline = send_deadline(channel)
        started = time.monotonic()
        try:
            async with asyncio.timeout(deadline):
                outcome = await sender.send(alert, story, channel, now=attempted)
        except TimeoutError:
            outcome = Outcome.retry(f"no answer within {deadline:g}s")
        except Exception as exc:
            # A bug in a sender must not stop the pass nor lose the alert: retry it later.
            log.exception("alert %d: sender raised", alert.id)
            outcome = Outcome.retry(f"internal error: {type(exc).__name__}: {exc}")
        duration_ms = int((time.monotonic() - started) * 1000)
        self._settle(alert, outcome, self.clock(), duration_ms)

    def _lease_until(self, channel: str | None, now: datetime) -> str:
        lease = self.leases.get(channel or "", self.unconfigured_lease)
        return to_iso(_round_up(now + lease))

    def _renew(self, now: datetime, *, but: int | None = None) -> None:
        """Extend the leases of this pass's sends in flight (called in each of its writes)."""
        by_channel: dict[str, list[int]] = {}
        for alert in self.in_flight.values():
            if alert.id != but:
                by_channel.setdefault(alert.channel, []).append(alert.id)
        for channel, ids in by_channel.items():
            renew_claims(self.db, self.claimer, ids, self._lease_until(channel, now))

    def _settle(self, alert: DueAlert, outcome: Outcome, at: datetime, duration_ms: int) -> None:
        """Record the attempt and move the alert on, in one short transaction."""
        stamp = to_iso(at)
        with write_transaction(self.db):
            record_delivery(
                self.db,
                alert.id,
                attempted_at=stamp,
                ok=outcome.ok,
                status_code=outcome.status_code,
                error=outcome.error,
                duration_ms=duration_ms,
            )
            self._renew(self.clock(), but=alert.id)
            if alert.channel in self.channels:  # its run of failures ([health] channels)
                note_channel_attempt(
                    self.db, alert.channel, ok=outcome.ok, at=stamp, error=outcome.error
                )
            before = (self.report.sent, self.report.dead)
            applied = self._apply(alert, outcome, at)
            if not applied:
                self.report.lost += 1
                log.warning(
                    "alert %d (%s): its claim lapsed and another delivery took it over; "
                    "this attempt is recorded, the other settles the alert",
                    alert.id,
                    alert.channel,
                )
        observe = self.session.on_settled
        if observe is not None:
            if not applied:
                result = "lost"
            elif self.report.sent > before[0]:
                result = "sent"
            else:
                result = "dead" if self.report.dead > before[1] else "retry"
            observe(alert.channel, result)

    def _apply(self, alert: DueAlert, outcome: Outcome, at: datetime) -> bool:
        """Move the alert on from ``outcome``; false when this pass no longer holds it."""
        stamp = to_iso(at)
        report, config = self.report, self.config
        digest_id = alert.payload.get("digest_id") if is_digest(alert.payload) else None
        if outcome.ok:
            if not mark_sent(self.db, alert.id, stamp, claimer=self.claimer):
                return False
            if digest_id is not None:
                settle_digest_sent(
                    self.db, int(digest_id), sent_at=stamp, status_code=outcome.status_code
                )
            report.sent += 1
            return True
        error = outcome.error or "failed"
        attempts = alert.attempts + 1
        if outcome.permanent or attempts >= config.max_attempts:
            final = error if outcome.permanent else f"{error} (gave up after {attempts} attempts)"
            if not mark_dead(self.db, alert.id, final, claimer=self.claimer):
                return False
            if digest_id is not None:
                settle_digest_dead(self.db, int(digest_id), final)
            report.dead += 1
            report.errors.append(f"alert {alert.id} ({alert.channel}): dead: {final}")
            log.warning("alert %d (%s): dead: %s", alert.id, alert.channel, final)
            return True
        delay = retry_delay(
            alert.attempts, config, retry_after=outcome.retry_after, rand=random.random()
        )
        retry_at = to_iso(_round_up(at + timedelta(seconds=delay)))
        if not schedule_retry(self.db, alert.id, retry_at, error, claimer=self.claimer):
            return False
        report.retried += 1
        report.errors.append(f"alert {alert.id} ({alert.channel}): retry in {delay:.0f}s: {error}")
        log.info("alert %d (%s): retry in %.0fs: %s", alert.id, alert.channel, delay, error)
        return True


def _round_up(moment: datetime) -> datetime:
    """To the next whole second: stored times have no fraction, and truncating could put the
    next try before a receiver's Retry-After."""
    if moment.microsecond:
        return moment.replace(microsecond=0) + timedelta(seconds=1)
    return moment
