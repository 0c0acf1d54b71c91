"""Source and delivery health, and adaptive polling, in the store: what a feed's health and
interval are decided from, the states last told, the health events, channels' delivery health
and the dead letters not told yet. Decisions are made elsewhere (marsad.crawler.health,
marsad.crawler.polling, marsad.alerts.health); this module reads and writes rows.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlite_utils import Database

# Arrivals read for a feed's usual gap (the most recent).
RECENT_ARRIVALS = 60


@dataclass(frozen=True)
class FeedHealthRow:
    """A feed's health columns and its recent arrivals (marsad.crawler.health.FeedFacts)."""

    id: int
    name: str
    url: str
    retired: bool
    health: str
    health_since: str | None
    consecutive_failures: int
    failures_since: str | None
    last_fetch_at: str | None
    last_error: str | None
    watched_since: str
    last_arrival: str | None
    arrivals: tuple[str, ...]


def feed_health_rows(db: Database, names: Sequence[str]) -> dict[str, FeedHealthRow]:
    """The health of each of these feeds the store holds, with its last
    :data:`RECENT_ARRIVALS` arrivals after its first reading (its backlog left out)."""
    rows = db.query(
        "SELECT * FROM feeds WHERE name IN (SELECT value FROM json_each(?))",
        [json.dumps(list(names))],
    )
    found: dict[str, FeedHealthRow] = {}
    for row in rows:
        watched = row["watched_since"] or row["created_at"]
        arrivals = tuple(
            r["fetched_at"]
            for r in db.query(
                "SELECT fetched_at FROM articles WHERE feed_id = ? AND fetched_at > ? "
                "ORDER BY fetched_at DESC LIMIT ?",
                [row["id"], watched, RECENT_ARRIVALS],
            )
        )
        last = max(
            (t for t in (row["last_new_item_at"], arrivals[0] if arrivals else None) if t),
            default=None,
        )
        found[row["name"]] = FeedHealthRow(
            id=row["id"],
            name=row["name"],
            url=row["url"],
            retired=row["retired_at"] is not None,
            health=row["health"],
            health_since=row["health_since"],
            consecutive_failures=row["consecutive_failures"],
            failures_since=row["failures_since"],
            last_fetch_at=row["last_fetch_at"],
            last_error=row["last_error"],
            watched_since=watched,
            last_arrival=last,
            arrivals=arrivals,
        )
    return found


def record_feed_health(
    db: Database, feed_id: int, *, was: str, health: str, since: str | None, changed_at: str
) -> bool:
    """The state now told about a feed, since when it holds; only if people were last told
    ``was`` (False: another process told the change already)."""
    cursor = db.execute(
        "UPDATE feeds SET health = ?, health_since = ?, health_changed_at = ? "
        "WHERE id = ? AND health = ?",
        [health, since, changed_at, feed_id, was],
    )
    return bool(cursor.rowcount)


def insert_health_event(
    db: Database,
    *,
    subject: str,
    name: str,
    event: str,
    since: str | None,
    detail: str,
    facts: Mapping[str, Any],
    created_at: str,
) -> int:
    cursor = db.execute(
        "INSERT INTO health_events (subject, name, event, since, detail, facts, created_at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?)",
        [subject, name, event, since, detail, json.dumps(dict(facts)), created_at],
    )
    return int(cursor.lastrowid or 0)


def health_events(db: Database, *, limit: int = 100) -> list[dict[str, Any]]:
    """The latest health events, newest first."""
    return [
        {**row, "facts": json.loads(row["facts"])}
        for row in db.query(
            "SELECT * FROM health_events ORDER BY created_at DESC, id DESC LIMIT ?", [limit]
        )
    ]


def last_event_at(db: Database, subject: str, event: str) -> str | None:
    row = db.execute(
        "SELECT max(created_at) FROM health_events WHERE subject = ? AND event = ?",
        [subject, event],
    ).fetchone()
    return row[0] if row else None


# -- adaptive polling ------------------------------------------------------------------------


@dataclass(frozen=True)
class PollingRow:
    id: int
    watched_since: str | None
    poll_every: float | None
    poll_reason: str | None
    hint_every: float | None
    hint_reason: str | None
    stretch: float
    fetch_count: int


def polling_rows(db: Database, names: Sequence[str]) -> dict[str, PollingRow]:
    rows = db.query(
        "SELECT id, name, watched_since, poll_every, poll_reason, hint_every, hint_reason, "
        "poll_stretch, fetch_count FROM feeds WHERE name IN (SELECT value FROM json_each(?))",
        [json.dumps(list(names))],
    )
    return {
        row["name"]: PollingRow(
            id=row["id"],
            watched_since=row["watched_since"],
            poll_every=row["poll_every"],
            poll_reason=row["poll_reason"],
            hint_every=row["hint_every"],
            hint_reason=row["hint_reason"],
            stretch=row["poll_stretch"],
            fetch_count=row["fetch_count"],
        )
        for row in rows
    }


def arrivals_between(db: Database, feed_id: int, after: str, until: str) -> int:
    """New articles first stored from this feed after ``after``, up to ``until``."""
    row = db.execute(
        "SELECT count(*) FROM articles WHERE feed_id = ? AND fetched_at > ? AND fetched_at <= ?",
        [feed_id, after, until],
    ).fetchone()
    return int(row[0])


def record_polling(
    db: Database,
    feed_id: int,
    *,
    poll_every: float,
    poll_reason: str,
    stretch: float,
    hint_every: float | None,
    hint_reason: str | None,
    watched_since: str | None,
) -> None:
    """A feed's interval after a poll, why, and what it was decided from."""
    db.execute(
        """
        UPDATE feeds SET poll_every = :every, poll_reason = :reason, poll_stretch = :stretch,
            hint_every = :hint, hint_reason = :hint_reason,
            watched_since = coalesce(watched_since, :watched)
        WHERE id = :id
        """,
        {
            "every": poll_every,
            "reason": poll_reason,
            "stretch": stretch,
            "hint": hint_every,
            "hint_reason": hint_reason,
            "watched": watched_since,
            "id": feed_id,
        },
    )


def record_interval(db: Database, feed_id: int, poll_every: float, poll_reason: str) -> None:
    db.execute(
        "UPDATE feeds SET poll_every = ?, poll_reason = ? WHERE id = ?",
        [poll_every, poll_reason, feed_id],
    )


def stored_intervals(db: Database, names: Sequence[str]) -> dict[str, float]:
    """The interval each of these feeds last ran at (absent: never decided)."""
    return {
        row["name"]: float(row["poll_every"])
        for row in db.query(
            "SELECT name, poll_every FROM feeds WHERE poll_every IS NOT NULL "
            "AND name IN (SELECT value FROM json_each(?))",
            [json.dumps(list(names))],
        )
    }


# -- channels and dead letters ---------------------------------------------------------------


def note_channel_attempt(
    db: Database, channel: str, *, ok: bool, at: str, error: str | None
) -> None:
    """One delivery attempt over ``channel``: a success ends its run of failures, a failure
    starts one (or goes on with it). Run in the transaction that settles the attempt."""
    db.execute(
        """
        INSERT INTO channel_health (channel, state, since, last_error)
        VALUES (:channel, 'ok', CASE WHEN :ok THEN NULL ELSE :at END, :error)
        ON CONFLICT (channel) DO UPDATE SET
            since = CASE WHEN :ok THEN NULL ELSE coalesce(since, :at) END,
            last_error = CASE WHEN :ok THEN last_error ELSE :error END
        """,
        {"channel": channel, "ok": int(ok), "at": at, "error": error},
    )


def channel_health_rows(db: Database) -> list[dict[str, Any]]:
    return list(db.query("SELECT * FROM channel_health ORDER BY channel"))


def record_channel_health(
    db: Database, channel: str, *, was: str, state: str, changed_at: str
) -> bool:
    """The channel's state now told; only if people were last told ``was`` (False: another
    process told it already)."""
    cursor = db.execute(
        "UPDATE channel_health SET state = ?, changed_at = ? WHERE channel = ? AND state = ?",
        [state, changed_at, channel, was],
    )
    return bool(cursor.rowcount)


@dataclass(frozen=True)
class DeadLetters:
    ids: tuple[int, ...]
    by_channel: dict[str, int]
    last_error: str | None
    earliest: str | None  # when the first of them was queued


def unnoticed_dead_letters(db: Database) -> DeadLetters:
    """Article alerts gone dead and not told in a dead-letters alert yet."""
    rows = list(
        db.query(
            "SELECT id, channel, last_error, created_at FROM alerts "
            "WHERE status = 'dead' AND dead_noticed = 0 AND kind = 'article' ORDER BY id"
        )
    )
    by_channel: dict[str, int] = {}
    for row in rows:
        by_channel[row["channel"]] = by_channel.get(row["channel"], 0) + 1
    return DeadLetters(
        ids=tuple(row["id"] for row in rows),
        by_channel=by_channel,
        last_error=rows[-1]["last_error"] if rows else None,
        earliest=min((row["created_at"] for row in rows), default=None),
    )


def mark_dead_noticed(db: Database, ids: Sequence[int]) -> int:
    """Mark these dead alerts told; how many were not yet (another process may have)."""
    cursor = db.execute(
        "UPDATE alerts SET dead_noticed = 1 WHERE dead_noticed = 0 "
        "AND id IN (SELECT value FROM json_each(?))",
        [json.dumps(list(ids))],
    )
    return int(cursor.rowcount)
