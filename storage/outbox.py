"""The alert outbox and the record of every delivery attempt."""

from __future__ import annotations

import json
from typing import Any

from sqlite_utils import Database

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
) -> int | None:
    """Queue one alert; ``None`` when this story already has one for this rule and channel."""
    cursor = db.execute(
        """
        INSERT OR IGNORE INTO alerts (
            article_id, story_id, rule, channel, idempotency_key, payload,
            status, attempts, next_attempt_at, created_at
        ) VALUES (?, ?, ?, ?, ?, ?, 'pending', 0, ?, ?)
        """,
        [
            article_id,
            story_id,
            rule,
            channel,
            idempotency_key,
            json.dumps(payload, ensure_ascii=False),
            created_at,
            created_at,
        ],
    )
    return int(cursor.lastrowid or 0) if cursor.rowcount else None


def due_alerts(db: Database, now: str, limit: int = 100) -> list[DueAlert]:
    rows = db.query(
        """
        SELECT id, article_id, story_id, rule, channel, idempotency_key, payload, attempts
        FROM alerts WHERE status = 'pending' AND next_attempt_at <= ?
        ORDER BY next_attempt_at, id LIMIT ?
        """,
        [now, limit],
    )
    return [
        DueAlert(
            id=row["id"],
            article_id=row["article_id"],
            story_id=row["story_id"],
            rule=row["rule"],
            channel=row["channel"],
            idempotency_key=row["idempotency_key"],
            payload=json.loads(row["payload"]),
            attempts=row["attempts"],
        )
        for row in rows
    ]


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


def mark_sent(db: Database, alert_id: int, sent_at: str) -> None:
    db.execute(
        "UPDATE alerts SET status = 'sent', attempts = attempts + 1, sent_at = ?, "
        "last_error = NULL WHERE id = ?",
        [sent_at, alert_id],
    )


def schedule_retry(db: Database, alert_id: int, next_attempt_at: str, error: str) -> None:
    db.execute(
        "UPDATE alerts SET attempts = attempts + 1, next_attempt_at = ?, last_error = ? "
        "WHERE id = ?",
        [next_attempt_at, error, alert_id],
    )


def mark_dead(db: Database, alert_id: int, error: str) -> None:
    db.execute(
        "UPDATE alerts SET status = 'dead', attempts = attempts + 1, last_error = ? WHERE id = ?",
        [error, alert_id],
    )


def requeue_alert(db: Database, alert_id: int, now: str) -> bool:
    """Put a dead (or pending) alert back in the queue for an immediate attempt."""
    cursor = db.execute(
        "UPDATE alerts SET status = 'pending', next_attempt_at = ? "
        "WHERE id = ? AND status != 'sent'",
        [now, alert_id],
    )
    return bool(cursor.rowcount)


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
