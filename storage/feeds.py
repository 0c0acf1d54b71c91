"""Feeds and their fetch state: conditional-GET validators, health and back-off."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from sqlite_utils import Database

from marsad.storage.models import FeedState


def upsert_feed(db: Database, name: str, url: str, now: str) -> int:
    """Register a feed from the config (or update its URL); return its id."""
    db.execute(
        "INSERT INTO feeds (name, url, created_at) VALUES (?, ?, ?) "
        "ON CONFLICT(name) DO UPDATE SET url = excluded.url",
        [name, url, now],
    )
    rows = list(db.query("SELECT id FROM feeds WHERE name = ?", [name]))
    return int(rows[0]["id"])


def feed_states(db: Database, names: Sequence[str]) -> dict[str, FeedState]:
    """The fetch state of each of these feeds the store holds, by name (one query)."""
    rows = db.query(
        "SELECT * FROM feeds WHERE name IN (SELECT value FROM json_each(?))",
        [json.dumps(list(names))],
    )
    return {row["name"]: _state(row) for row in rows}


def _state(row: dict[str, Any]) -> FeedState:
    return FeedState(
        id=row["id"],
        name=row["name"],
        url=row["url"],
        etag=row["etag"],
        last_modified=row["last_modified"],
        body_hash=row["body_hash"],
        consecutive_failures=row["consecutive_failures"],
        backoff_until=row["backoff_until"],
        fetch_count=row["fetch_count"],
    )


def record_feed_fetched(
    db: Database,
    feed_id: int,
    *,
    now: str,
    status: int,
    etag: str | None,
    last_modified: str | None,
    body_hash: str | None,
    new_items: int,
) -> None:
    """A successful fetch (200, or 304 with ``body_hash`` unchanged)."""
    db.execute(
        """
        UPDATE feeds SET
            last_fetch_at = :now, last_success_at = :now, last_status = :status,
            etag = coalesce(:etag, etag), last_modified = coalesce(:lm, last_modified),
            body_hash = coalesce(:hash, body_hash),
            consecutive_failures = 0, last_error = NULL, backoff_until = NULL,
            fetch_count = fetch_count + 1,
            items_total = items_total + :new,
            last_new_item_at = CASE WHEN :new > 0 THEN :now ELSE last_new_item_at END
        WHERE id = :id
        """,
        {
            "now": now,
            "status": status,
            "etag": etag,
            "lm": last_modified,
            "hash": body_hash,
            "new": new_items,
            "id": feed_id,
        },
    )


def record_feed_failed(
    db: Database,
    feed_id: int,
    *,
    now: str,
    status: int | None,
    error: str,
    backoff_until: str,
) -> None:
    db.execute(
        """
        UPDATE feeds SET
            last_fetch_at = :now, last_status = :status, last_error = :error,
            consecutive_failures = consecutive_failures + 1, backoff_until = :until,
            fetch_count = fetch_count + 1
        WHERE id = :id
        """,
        {"now": now, "status": status, "error": error, "until": backoff_until, "id": feed_id},
    )


def record_next_poll(db: Database, feed_id: int, next_poll_at: str | None) -> None:
    db.execute("UPDATE feeds SET next_poll_at = ? WHERE id = ?", [next_poll_at, feed_id])
