"""Source and delivery health after each poll and each delivery: read the facts from the store,
decide (marsad.crawler.health, marsad.alerts.health), record each change of state once and
queue one health alert per ``[health]`` channel for it, in one short transaction.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from marsad.alerts.health import (
    ChannelFacts,
    HealthEvent,
    dead_letters_event,
    judge_channel,
    notice_key,
    notice_payload,
    notice_rule,
)
from marsad.crawler.health import FeedFacts, State, judge_feed
from marsad.storage.health import (
    channel_health_rows,
    feed_health_rows,
    insert_health_event,
    last_event_at,
    mark_dead_noticed,
    record_channel_health,
    record_feed_health,
    unnoticed_dead_letters,
)
from marsad.storage.identity import store_id
from marsad.storage.outbox import enqueue_notice
from marsad.storage.transactions import write_transaction
from marsad.times import to_iso

if TYPE_CHECKING:
    from sqlite_utils import Database

    from marsad.config import Config
    from marsad.crawler.config import FeedConfig

log = logging.getLogger("marsad.health")

_TOLD: dict[str, State] = {"ok": "ok", "failing": "failing", "silent": "silent"}


def check_feeds(
    db: Database, config: Config, feeds: Sequence[FeedConfig], now: datetime
) -> list[HealthEvent]:
    """Judge each of ``feeds`` at ``now``; record and queue what changed. Returns the events."""
    rows = feed_health_rows(db, [feed.name for feed in feeds])
    changes: list[tuple[int, State, State, str | None, HealthEvent]] = []
    for feed in feeds:
        row = rows.get(feed.name)
        if row is None or row.retired:
            continue
        told = _TOLD.get(row.health, "ok")
        facts = FeedFacts(
            name=row.name,
            told=told,
            told_since=row.health_since,
            consecutive_failures=row.consecutive_failures,
            failures_since=row.failures_since,
            last_fetch_at=row.last_fetch_at,
            last_error=row.last_error,
            watched_since=row.watched_since,
            last_arrival=row.last_arrival,
            arrivals=row.arrivals,
            expect_every=feed.expect_every,
        )
        decision = judge_feed(facts, config.health, now)
        if decision.change is None:
            continue
        event = HealthEvent(
            "feed",
            feed.name,
            decision.change,
            decision.since,
            decision.detail,
            {**decision.facts, "was": told},
            url=feed.url,
        )
        changes.append((row.id, told, decision.state, decision.since, event))
    if not changes:
        return []
    stamp = to_iso(now)
    told_events: list[HealthEvent] = []
    with write_transaction(db):
        for feed_id, told, state, since, event in changes:
            # Only if no other process told it meanwhile (the row still says what we read).
            if not record_feed_health(
                db,
                feed_id,
                was=told,
                health=state,
                since=since if state != "ok" else None,
                changed_at=stamp,
            ):
                continue
            _queue(db, config, event, stamp)
            told_events.append(event)
    for event in told_events:
        _log(event)
    return told_events


def check_delivery(db: Database, config: Config, now: datetime) -> list[HealthEvent]:
    """Channels entering failing or recovering, and dead letters not told yet (at most one
    such alert per ``dead_letters_every``)."""
    stamp = to_iso(now)
    events: list[tuple[str | None, HealthEvent]] = []
    for row in channel_health_rows(db):
        if row["channel"] not in config.channels:
            continue
        facts = ChannelFacts(
            name=row["channel"],
            told="failing" if row["state"] == "failing" else "ok",
            failures_since=row["since"],
            last_error=row["last_error"],
            told_since=row["changed_at"],
        )
        event = judge_channel(facts, config.health, now)
        if event is not None:
            events.append((row["channel"], event))
    dead = unnoticed_dead_letters(db)
    last = last_event_at(db, "delivery", "dead_letters")
    quiet_since = to_iso(now - timedelta(seconds=config.health.dead_letters_every))
    tell_dead = bool(dead.ids) and (last is None or last <= quiet_since)
    if not events and not tell_dead:
        return []
    told: list[HealthEvent] = []
    with write_transaction(db):
        for channel, event in events:
            state = "failing" if event.event == "failing" else "ok"
            was = "ok" if state == "failing" else "failing"
            if not record_channel_health(db, channel or "", was=was, state=state, changed_at=stamp):
                continue  # told by another process meanwhile
            # A channel that fails hears nothing of it: the others do.
            _queue(db, config, event, stamp, leave_out=channel if state == "failing" else None)
            told.append(event)
        if tell_dead:
            event = dead_letters_event(
                len(dead.ids), dead.by_channel, dead.last_error, dead.earliest
            )
            if mark_dead_noticed(db, dead.ids):
                _queue(db, config, event, stamp)
                told.append(event)
    for event in told:
        _log(event)
    return told


def _queue(
    db: Database, config: Config, event: HealthEvent, stamp: str, *, leave_out: str | None = None
) -> int:
    """Record ``event`` and queue its alert on each [health] channel; how many were queued."""
    event_id = insert_health_event(
        db,
        subject=event.subject,
        name=event.name,
        event=event.event,
        since=event.since,
        detail=event.detail,
        facts=event.facts,
        created_at=stamp,
    )
    payload = notice_payload(event, event_id=event_id, at=stamp)
    identity = store_id(db)
    queued = 0
    for channel in config.health.channels:
        if channel == leave_out:
            continue
        if (
            enqueue_notice(
                db,
                health_event_id=event_id,
                rule=notice_rule(event),
                channel=channel,
                idempotency_key=notice_key(identity, event_id, channel),
                payload=payload,
                created_at=stamp,
            )
            is not None
        ):
            queued += 1
    return queued


def _log(event: HealthEvent) -> None:
    level = logging.INFO if event.event == "recovered" else logging.WARNING
    log.log(level, "%s %s: %s: %s", event.subject, event.name, event.event, event.detail)
