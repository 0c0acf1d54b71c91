"""Closing digest periods: for each channel with a digest, the periods that have ended and hold
alerts become one digest each, queued in the outbox (the delivery job sends it like any alert).

Run by the daemon's digest job (:func:`marsad.scheduler.schedule.schedule_digests`) and by
``marsad deliver`` before it drains. Any number of processes may run it at once: a period is
closed once (``digests`` is unique per channel and period end), in one write transaction per
channel, and an alert joins one digest only.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from marsad.alerts.channels.channel_type import digest_of
from marsad.alerts.digest import (
    DIGEST_LIMIT,
    MemberAlert,
    closed_periods,
    digest_key,
    digest_payload,
    last_closed_period,
    period_containing,
    period_start_at_or_before,
    stories_of,
)
from marsad.storage.digests import closed_ends, create_digest, held_alerts, hold_for_digest
from marsad.storage.identity import store_id
from marsad.storage.transactions import write_transaction
from marsad.times import from_iso, to_iso

if TYPE_CHECKING:
    from datetime import datetime

    from sqlite_utils import Database

    from marsad.alerts.channels import Channel
    from marsad.alerts.channels.digest_schedule import DigestSchedule
    from marsad.scheduler.jobs import JobContext

log = logging.getLogger("marsad.digests")

DIGEST_JOB_ID = "digests"
# How often the daemon looks for ended periods: a digest goes out within this (plus one
# delivery interval) of its period's end.
DIGEST_CHECK_SECONDS = 30.0


@dataclass(frozen=True)
class ClosedDigest:
    id: int
    channel: str
    period_start: str
    period_end: str
    stories: int
    alerts: int


def close_due_digests(
    db: Database,
    channels: Mapping[str, Channel],
    now: datetime,
    *,
    limit: int = DIGEST_LIMIT,
) -> list[ClosedDigest]:
    """Close every ended period of every digest channel that holds alerts, as of ``now``.

    A period with no alerts makes no digest. Alerts from periods missed while nothing ran (the
    daemon stopped for a day) each go in their own period's digest, oldest period first.
    """
    closed: list[ClosedDigest] = []
    identity: str | None = None
    stamp = to_iso(now)
    for name, channel in channels.items():
        schedule = digest_of(channel)
        if schedule is None:
            continue
        current_start = to_iso(period_start_at_or_before(schedule, now))
        with write_transaction(db):
            hold_for_digest(db, [name], stamp)
            rows = held_alerts(db, name, before=current_start)
            if not rows:
                continue
            identity = identity or store_id(db)
            members = [
                MemberAlert(
                    id=row["id"],
                    story_id=row["story_id"],
                    rule=row["rule"],
                    created_at=row["created_at"],
                    payload=row["payload"],
                    outlets=row["outlets"],
                )
                for row in rows
            ]
            periods = closed_periods(
                schedule,
                _moments(schedule, members, closed_ends(db, name, members[0].created_at), now),
                now,
            )
            for period in sorted(periods, key=lambda p: p.start):
                in_period = [members[i] for i in periods[period]]
                stories = stories_of(in_period)
                end = to_iso(period.end)
                digest_id = create_digest(
                    db,
                    channel=name,
                    schedule=schedule.describe(),
                    period_start=to_iso(period.start),
                    period_end=end,
                    payload=digest_payload(name, schedule, period, stories, limit=limit),
                    alert_ids=[m.id for m in in_period],
                    story_count=len(stories),
                    idempotency_key=digest_key(identity, name, end),
                    created_at=stamp,
                )
                if digest_id is None:  # another process closed it just now
                    continue
                closed.append(
                    ClosedDigest(
                        digest_id, name, to_iso(period.start), end, len(stories), len(in_period)
                    )
                )
                log.info(
                    "channel %s: digest %d of %s to %s: %d stories, %d alerts",
                    name,
                    digest_id,
                    to_iso(period.start),
                    end,
                    len(stories),
                    len(in_period),
                )
    return closed


def _moments(
    schedule: DigestSchedule, members: list[MemberAlert], done: set[str], now: datetime
) -> list[datetime]:
    """When each alert counts as raised: when it was, unless its period's digest went out
    already (an alert committed after its period closed). Such an alert joins the latest ended
    period's digest, or, if that one is closed too, the current period's."""
    last = last_closed_period(schedule, now)
    moments = []
    for member in members:
        moment = from_iso(member.created_at)
        if to_iso(period_containing(schedule, moment).end) in done:
            moment = last.start if to_iso(last.end) not in done else last.end
        moments.append(moment)
    return moments


async def close_digests_job(ctx: JobContext) -> list[ClosedDigest]:
    """The daemon's digest job: close what has ended, then send it without waiting for the
    next delivery run. A failure is logged; the alerts stay held for the next run."""
    from datetime import UTC, datetime

    from marsad.scheduler.jobs import deliver_pending

    try:
        closed = close_due_digests(ctx.db, ctx.config.channels, datetime.now(UTC))
    except Exception:
        log.exception("digests not closed; their alerts stay held for the next run")
        return []
    if closed and not ctx.stopping.is_set():
        await deliver_pending(ctx)
    return closed
