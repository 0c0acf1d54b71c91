"""The store's side of digests: article alerts held for their channel's digest, the digest of a
closed period (a ``digests`` row and the outbox row of kind 'digest' that sends it), and its
members settled when it is.

A held alert is an article alert of a channel with ``digest`` set: it is never claimed alone
(claims take 'pending' rows only). Closing a period points its held alerts at the digest; when
the digest's outbox row is sent, they are recorded as sent in it, in the same transaction.
"""

from __future__ import annotations

import json
from collections.abc import Collection
from typing import Any

from sqlite_utils import Database

# The rule column of a digest's outbox row (it is not one rule's).
DIGEST_RULE = "(digest)"


def _marks(values: Collection[Any]) -> str:
    return ", ".join("?" for _ in values)


def hold_for_digest(db: Database, channels: Collection[str], now: str) -> int:
    """Hold the pending article alerts of ``channels`` (those with a digest) for their digest;
    an alert a live pass holds is left to it. Run it inside a write transaction."""
    if not channels:
        return 0
    cursor = db.execute(
        "UPDATE alerts SET status = 'held', claimed_by = NULL, lease_until = NULL "
        f"WHERE status = 'pending' AND kind = 'article' AND channel IN ({_marks(channels)}) "
        "AND (lease_until IS NULL OR lease_until <= ?)",
        [*channels, now],
    )
    return int(cursor.rowcount)


def release_held(db: Database, channels: Collection[str], now: str) -> int:
    """Put back in the queue, due now, the held alerts of ``channels`` not yet in a digest: those
    channels have no digest any more (the config changed), so each goes out on its own."""
    if not channels:
        return 0
    cursor = db.execute(
        "UPDATE alerts SET status = 'pending', next_attempt_at = ? "
        f"WHERE status = 'held' AND digest_id IS NULL AND channel IN ({_marks(channels)})",
        [now, *channels],
    )
    return int(cursor.rowcount)


def any_held(db: Database, channels: Collection[str]) -> bool:
    """Whether any of ``channels`` has held alerts in no digest yet (a read: a pass with
    nothing to release never waits for the write lock)."""
    if not channels:
        return False
    rows = db.query(
        "SELECT EXISTS (SELECT 1 FROM alerts WHERE status = 'held' AND digest_id IS NULL "
        f"AND channel IN ({_marks(channels)})) AS found",
        list(channels),
    )
    return bool(next(rows)["found"])


def held_alerts(db: Database, channel: str, before: str) -> list[dict[str, Any]]:
    """The channel's held alerts raised before ``before`` and in no digest yet, oldest first,
    each with its story's outlet count now (the story it was merged into, if it was)."""
    rows = db.query(
        """
        SELECT al.id, coalesce(held.merged_into, al.story_id) AS story_id, al.rule,
               al.created_at, al.payload, coalesce(s.outlet_count, 0) AS outlets
        FROM alerts al
        LEFT JOIN stories held ON held.id = al.story_id
        LEFT JOIN stories s ON s.id = coalesce(held.merged_into, al.story_id)
        WHERE al.status = 'held' AND al.digest_id IS NULL AND al.channel = ?
          AND al.created_at < ?
        ORDER BY al.created_at, al.id
        """,
        [channel, before],
    )
    return [{**row, "payload": json.loads(row["payload"])} for row in rows]


def closed_ends(db: Database, channel: str, after: str) -> set[str]:
    """The ends, later than ``after``, of the channel's periods closed already."""
    return {
        row["period_end"]
        for row in db.query(
            "SELECT period_end FROM digests WHERE channel = ? AND period_end > ?",
            [channel, after],
        )
    }


def create_digest(
    db: Database,
    *,
    channel: str,
    schedule: str,
    period_start: str,
    period_end: str,
    payload: dict[str, Any],
    alert_ids: Collection[int],
    story_count: int,
    idempotency_key: str,
    created_at: str,
) -> int | None:
    """Record the digest of one closed period and queue it, due now; its alerts then point at
    it. ``None`` when that channel's period was closed already (by another process). Run it
    inside a write transaction."""
    cursor = db.execute(
        """
        INSERT OR IGNORE INTO digests (
            channel, schedule, period_start, period_end, story_count, alert_count, created_at
        ) VALUES (?, ?, ?, ?, ?, ?, ?)
        """,
        [channel, schedule, period_start, period_end, story_count, len(alert_ids), created_at],
    )
    if not cursor.rowcount:
        return None
    digest_id = int(cursor.lastrowid or 0)
    db.execute(
        """
        INSERT INTO alerts (
            kind, digest_id, rule, channel, idempotency_key, payload,
            status, attempts, next_attempt_at, created_at
        ) VALUES ('digest', ?, ?, ?, ?, ?, 'pending', 0, ?, ?)
        """,
        [
            digest_id,
            DIGEST_RULE,
            channel,
            idempotency_key,
            json.dumps({**payload, "digest_id": digest_id}, ensure_ascii=False),
            created_at,
            created_at,
        ],
    )
    if alert_ids:
        db.execute(
            f"UPDATE alerts SET digest_id = ? WHERE status = 'held' AND digest_id IS NULL "
            f"AND id IN ({_marks(alert_ids)})",
            [digest_id, *alert_ids],
        )
    return digest_id


def settle_digest_sent(
    db: Database, digest_id: int, *, sent_at: str, status_code: int | None
) -> int:
    """The digest went out: each alert it carries is recorded as delivered in it (one
    ``deliveries`` row saying so) and marked sent. Run it in the transaction that marks the
    digest's own row sent."""
    note = f"sent in digest {digest_id}"
    members = "digest_id = ? AND kind = 'article' AND status IN ('held', 'dead')"
    db.execute(
        "INSERT INTO deliveries (alert_id, attempted_at, ok, status_code, error, duration_ms) "
        f"SELECT id, ?, 1, ?, ?, 0 FROM alerts WHERE {members}",
        [sent_at, status_code, note, digest_id],
    )
    cursor = db.execute(
        "UPDATE alerts SET status = 'sent', sent_at = ?, attempts = attempts + 1, "
        f"last_error = NULL WHERE {members}",
        [sent_at, digest_id],
    )
    return int(cursor.rowcount)


def settle_digest_dead(db: Database, digest_id: int, error: str) -> int:
    """The digest was given up: the alerts it carries are dead letters with it (requeueing the
    digest sends them again)."""
    cursor = db.execute(
        "UPDATE alerts SET status = 'dead', last_error = ?, dead_noticed = 0 "
        "WHERE digest_id = ? AND kind = 'article' AND status = 'held'",
        [f"digest {digest_id} is dead: {error}", digest_id],
    )
    return int(cursor.rowcount)


def channel_digests(db: Database, channel: str | None = None) -> list[dict[str, Any]]:
    """The digests closed (of one channel, or all), newest period first, with their outbox
    state."""
    return [
        dict(row)
        for row in db.query(
            """
            SELECT d.*, al.id AS alert_id, al.status, al.attempts, al.sent_at, al.last_error
            FROM digests d LEFT JOIN alerts al ON al.digest_id = d.id AND al.kind = 'digest'
            WHERE :channel IS NULL OR d.channel = :channel
            ORDER BY d.period_end DESC, d.id DESC
            """,
            {"channel": channel},
        )
    ]
