"""The alert outbox and the record of every delivery attempt."""

from __future__ import annotations

import json
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from sqlite_utils import Database

from marsad.storage.crosslingual import unheld_alert_sql
from marsad.storage.models import DueAlert


def enqueue_alert(
    db: Database,
    *,
    article_id: int,
    story_id: int,
    rule: str,
    channel: str,
    idempotency_key: str,
    payload: dict[str, Any],
    created_at: str,
    follow_up: int = 0,
) -> int | None:
    """Queue one alert; ``None`` when this story already has one for this rule and channel at
    this ``follow_up`` (0: the rule's first alert on the story; N: the follow-up at N outlets)."""
    cursor = db.execute(
        """
        INSERT OR IGNORE INTO alerts (
            article_id, story_id, rule, channel, follow_up, idempotency_key, payload,
            status, attempts, next_attempt_at, created_at
        ) VALUES (?, ?, ?, ?, ?, ?, ?, 'pending', 0, ?, ?)
        """,
        [
            article_id,
            story_id,
            rule,
            channel,
            follow_up,
            idempotency_key,
            json.dumps(payload, ensure_ascii=False),
            created_at,
            created_at,
        ],
    )
    return int(cursor.lastrowid or 0) if cursor.rowcount else None


def enqueue_notice(
    db: Database,
    *,
    health_event_id: int,
    rule: str,
    channel: str,
    idempotency_key: str,
    payload: dict[str, Any],
    created_at: str,
) -> int | None:
    """Queue one health alert (kind 'health': a health event, no article or story) for one
    channel; ``None`` when its key is queued already."""
    cursor = db.execute(
        """
        INSERT OR IGNORE INTO alerts (
            kind, health_event_id, rule, channel, idempotency_key, payload,
            status, attempts, next_attempt_at, created_at
        ) VALUES ('health', ?, ?, ?, ?, ?, 'pending', 0, ?, ?)
        """,
        [
            health_event_id,
            rule,
            channel,
            idempotency_key,
            json.dumps(payload, ensure_ascii=False),
            created_at,
            created_at,
        ],
    )
    return int(cursor.lastrowid or 0) if cursor.rowcount else None


_ALERT_COLUMNS = "id, article_id, story_id, rule, channel, idempotency_key, payload, attempts"

# Pending and due, claimed by no pass whose lease still holds, and not waiting for its
# article's cross-lingual check (storage.crosslingual: with linking off, none waits).
_CLAIMABLE = (
    "status = 'pending' AND next_attempt_at <= :due_by "
    "AND (lease_until IS NULL OR lease_until <= :now) "
    f"AND {unheld_alert_sql()}"
)


def any_claimable(db: Database, *, due_by: str, now: str) -> bool:
    """Whether a claim would find anything: a read, so a pass with nothing to do never waits
    for the write lock."""
    rows = db.query(
        f"SELECT EXISTS (SELECT 1 FROM alerts WHERE {_CLAIMABLE}) AS found",
        {"due_by": due_by, "now": now},
    )
    return bool(next(rows)["found"])


def claim_due_alerts(
    db: Database,
    claimer: str,
    *,
    due_by: str,
    now: str,
    lease_until: str,
    limit: int,
    channel: str | None = None,
    not_in: Collection[str] = (),
) -> list[DueAlert]:
    """Claim up to ``limit`` alerts due by ``due_by`` for ``claimer`` until ``lease_until``, in
    one statement, and return them (oldest due first).

    An alert another pass holds (its lease not lapsed at ``now``) is skipped, so passes in any
    number of processes never claim the same alert together. ``channel`` keeps the claim to one
    channel; ``not_in`` to the channels not named. Run it inside a write transaction.
    """
    where = _CLAIMABLE
    params: dict[str, Any] = {
        "claimer": claimer,
        "lease_until": lease_until,
        "due_by": due_by,
        "now": now,
        "limit": limit,
    }
    if channel is not None:
        where += " AND channel = :channel"
        params["channel"] = channel
    if not_in:
        names = [f":not_in_{i}" for i in range(len(not_in))]
        where += f" AND channel NOT IN ({', '.join(names)})"
        params.update({name[1:]: value for name, value in zip(names, not_in, strict=True)})
    cursor = db.execute(
        f"""
        UPDATE alerts SET claimed_by = :claimer, lease_until = :lease_until
        WHERE id IN (
            SELECT id FROM alerts WHERE {where} ORDER BY next_attempt_at, id LIMIT :limit
        )
        RETURNING {_ALERT_COLUMNS}, next_attempt_at
        """,
        params,
    )
    columns = [d[0] for d in cursor.description]
    rows = sorted(
        (dict(zip(columns, row, strict=True)) for row in cursor.fetchall()),
        # RETURNING gives no order of its own.
        key=lambda row: (row["next_attempt_at"], row["id"]),
    )
    return [
        DueAlert(
            id=row["id"],
            # A health alert has neither (its payload says what it tells): 0 for "none".
            article_id=row["article_id"] or 0,
            story_id=row["story_id"] or 0,
            rule=row["rule"],
            channel=row["channel"],
            idempotency_key=row["idempotency_key"],
            payload=json.loads(row["payload"]),
            attempts=row["attempts"],
        )
        for row in rows
    ]


def renew_claims(db: Database, claimer: str, alert_ids: Collection[int], lease_until: str) -> int:
    """Extend ``claimer``'s leases on ``alert_ids`` (those it still holds) to ``lease_until``."""
    if not alert_ids:
        return 0
    marks = ", ".join("?" for _ in alert_ids)
    cursor = db.execute(
        f"UPDATE alerts SET lease_until = ? WHERE claimed_by = ? AND id IN ({marks})",
        [lease_until, claimer, *alert_ids],
    )
    return int(cursor.rowcount)


def live_claimers(db: Database, now: str) -> list[str]:
    """The passes holding claims on pending alerts whose leases have not lapsed at ``now``."""
    return [
        row["claimed_by"]
        for row in db.query(
            "SELECT DISTINCT claimed_by FROM alerts WHERE status = 'pending' "
            "AND claimed_by IS NOT NULL AND lease_until > ? ORDER BY claimed_by",
            [now],
        )
    ]


def release_claims(db: Database, claimer: str) -> int:
    """Drop every claim ``claimer`` holds on pending alerts (it is known to be gone)."""
    cursor = db.execute(
        "UPDATE alerts SET claimed_by = NULL, lease_until = NULL "
        "WHERE claimed_by = ? AND status = 'pending'",
        [claimer],
    )
    return int(cursor.rowcount)


def record_delivery(
    db: Database,
    alert_id: int,
    *,
    attempted_at: str,
    ok: bool,
    status_code: int | None,
    error: str | None,
    duration_ms: int,
) -> None:
    db.execute(
        "INSERT INTO deliveries (alert_id, attempted_at, ok, status_code, error, duration_ms) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        [alert_id, attempted_at, int(ok), status_code, error, duration_ms],
    )


# Settling an alert applies only while it is held as the caller says (``claimer``, or unclaimed
# when ``None``), and releases the claim: a pass whose lease lapsed and was taken over by
# another leaves the alert to the other. Each returns whether it applied.


def mark_sent(db: Database, alert_id: int, sent_at: str, *, claimer: str | None = None) -> bool:
    cursor = db.execute(
        "UPDATE alerts SET status = 'sent', attempts = attempts + 1, sent_at = ?, "
        "last_error = NULL, claimed_by = NULL, lease_until = NULL "
        "WHERE id = ? AND claimed_by IS ? AND status = 'pending'",
        [sent_at, alert_id, claimer],
    )
    return bool(cursor.rowcount)


def schedule_retry(
    db: Database, alert_id: int, next_attempt_at: str, error: str, *, claimer: str | None = None
) -> bool:
    cursor = db.execute(
        "UPDATE alerts SET attempts = attempts + 1, next_attempt_at = ?, last_error = ?, "
        "claimed_by = NULL, lease_until = NULL "
        "WHERE id = ? AND claimed_by IS ? AND status = 'pending'",
        [next_attempt_at, error, alert_id, claimer],
    )
    return bool(cursor.rowcount)


def mark_dead(db: Database, alert_id: int, error: str, *, claimer: str | None = None) -> bool:
    cursor = db.execute(
        "UPDATE alerts SET status = 'dead', attempts = attempts + 1, last_error = ?, "
        "claimed_by = NULL, lease_until = NULL, dead_noticed = 0 "
        "WHERE id = ? AND claimed_by IS ? AND status = 'pending'",
        [error, alert_id, claimer],
    )
    return bool(cursor.rowcount)


def requeue_alert(db: Database, alert_id: int, now: str) -> bool:
    """Put a dead (or pending) alert back in the queue for an immediate attempt.

    Any claim on it is dropped, so an alert held by a pass that died is retried now rather than
    when its lease lapses. A person asks for this: if the holder is in fact still sending it, the
    receiver may get it twice, with the same idempotency key.
    """
    cursor = db.execute(
        "UPDATE alerts SET status = 'pending', next_attempt_at = ?, "
        "claimed_by = NULL, lease_until = NULL "
        "WHERE id = ? AND status != 'sent'",
        [now, alert_id],
    )
    return bool(cursor.rowcount)


@dataclass(frozen=True)
class Backlog:
    """The pending alerts at one moment: due now, held by a pass (being sent), waiting for a
    later attempt."""

    due: int
    held: int
    waiting: int
    # The earliest later attempt (of those waiting), and when the last claim held lapses.
    next_attempt_at: str | None
    held_until: str | None


def outbox_backlog(db: Database, now: str) -> Backlog:
    row = next(
        db.query(
            """
            SELECT coalesce(sum(held), 0) AS held,
                   coalesce(sum(NOT held AND next_attempt_at <= :now), 0) AS due,
                   coalesce(sum(NOT held AND next_attempt_at > :now), 0) AS waiting,
                   min(CASE WHEN NOT held AND next_attempt_at > :now
                       THEN next_attempt_at END) AS next_attempt_at,
                   max(CASE WHEN held THEN lease_until END) AS held_until
            FROM (
                SELECT next_attempt_at, lease_until, coalesce(lease_until > :now, 0) AS held
                FROM alerts WHERE status = 'pending'
            )
            """,
            {"now": now},
        )
    )
    return Backlog(
        due=row["due"],
        held=row["held"],
        waiting=row["waiting"],
        next_attempt_at=row["next_attempt_at"],
        held_until=row["held_until"],
    )


def story_alert_summary(db: Database, story_id: int) -> dict[str, Any]:
    """What a payload says about its story at the moment it is sent."""
    rows = list(
        db.query("SELECT article_count, outlet_count FROM stories WHERE id = ?", [story_id])
    )
    sources = [
        row["source"]
        for row in db.query(
            "SELECT DISTINCT source FROM articles WHERE story_id = ? ORDER BY source", [story_id]
        )
    ]
    if not rows:
        return {"articles": 0, "outlets": 0, "sources": sources}
    return {
        "articles": rows[0]["article_count"],
        "outlets": rows[0]["outlet_count"],
        "sources": sources,
    }
