"""The cluster writer's place in each Redis stream (``cluster_progress``), written in the same
transaction as what it stored from there."""

from __future__ import annotations

from sqlite_utils import Database


def applied_position(db: Database, stream: str) -> str | None:
    """The id of the last message of ``stream`` stored (None: none yet)."""
    rows = list(db.query("SELECT last_id FROM cluster_progress WHERE stream = ?", [stream]))
    return str(rows[0]["last_id"]) if rows else None


def record_position(db: Database, stream: str, last_id: str, now: str) -> None:
    """Inside the caller's write transaction, with what it stored."""
    db.execute(
        "INSERT INTO cluster_progress (stream, last_id, updated_at) VALUES (?, ?, ?) "
        "ON CONFLICT (stream) DO UPDATE SET last_id = excluded.last_id, "
        "updated_at = excluded.updated_at",
        [stream, last_id, now],
    )
