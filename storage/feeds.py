"""Feeds and their fetch state: conditional-GET validators, health and back-off; and the entries
of each feed that are not stored yet, with the reason (``feed_entries``).

A feed's fetch state belongs to its URL: a feed whose URL changes starts fresh. A feed no longer
in the config is retired: kept, with its history, and never counted as failing.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlite_utils import Database

from marsad.storage.models import FeedState
from marsad.times import to_iso

# The fetch state a feed starts with, and gets back when its URL changes or a person resets it.
_FRESH_FETCH_STATE = """
    etag = NULL, last_modified = NULL, body_hash = NULL, last_status = NULL,
    consecutive_failures = 0, last_error = NULL, backoff_until = NULL, failures_since = NULL
"""
# The reason an entry being fetched carries until it is stored: if the crawl dies, it stays.
NOT_STORED_YET = "fetched by a crawl that ended before it was stored"
# Given-up entries the feed no longer lists are forgotten after this many days.
GAVE_UP_KEPT_DAYS = 30


@dataclass(frozen=True)
class EntryNote:
    """One entry of a feed, and why it is where it is (see :func:`record_feed_entries`)."""

    key: str  # marsad.crawler.feeds.entry_key
    url: str | None
    reason: str


@dataclass(frozen=True)
class EntryRecord:
    """A row of ``feed_entries``: an entry of a feed not stored (yet), and why."""

    key: str
    url: str | None
    state: str  # "retrying", "skipped" or "gave_up"
    reason: str
    attempts: int
    first_seen_at: str
    last_attempt_at: str


@dataclass(frozen=True)
class KnownEntries:
    """What a fetcher without the store needs to sort a feed's entries (marsad run --role
    fetcher): the feed's entries not stored yet, and the canonical URLs and GUIDs of what the
    feed led to lately (articles first stored from it, and those it listed again)."""

    records: tuple[EntryRecord, ...] = ()
    urls: tuple[str, ...] = ()
    guids: tuple[str, ...] = ()


# A feed lists its latest entries: those it led to among the last this many are what it may
# list again (a sitemap lists more; an entry missed here is fetched and found stored).
KNOWN_ENTRIES_LIMIT = 2000


def known_entries(db: Database, feed_id: int, limit: int = KNOWN_ENTRIES_LIMIT) -> KnownEntries:
    """The feed's :class:`KnownEntries` (three reads by the feed's indexes)."""
    stored = list(
        db.query(
            "SELECT canonical_url, guid FROM articles WHERE feed_id = ? "
            "ORDER BY fetched_at DESC LIMIT ?",
            [feed_id, limit],
        )
    )
    seen = list(
        db.query(
            "SELECT a.canonical_url, a.guid FROM sightings s "
            "JOIN articles a ON a.id = s.article_id "
            "WHERE s.feed_id = ? ORDER BY s.seen_at DESC LIMIT ?",
            [feed_id, limit],
        )
    )
    rows = [*stored, *seen]
    return KnownEntries(
        records=tuple(entry_records(db, feed_id).values()),
        urls=tuple(dict.fromkeys(row["canonical_url"] for row in rows)),
        guids=tuple(dict.fromkeys(row["guid"] for row in rows if row["guid"])),
    )


def upsert_feed(db: Database, name: str, url: str, now: str) -> int:
    """Register a feed from the config; return its id. A feed seen again is no longer retired;
    one whose URL changed starts fresh (validators, body hash, failures, back-off, entries).
    Run inside a write transaction (:func:`marsad.crawler.runner.register_feeds`)."""
    rows = list(db.query("SELECT id, url FROM feeds WHERE name = ?", [name]))
    if not rows:
        cursor = db.execute(
            "INSERT INTO feeds (name, url, created_at) VALUES (?, ?, ?)", [name, url, now]
        )
        return int(cursor.lastrowid or 0)
    feed_id = int(rows[0]["id"])
    if rows[0]["url"] == url:
        db.execute("UPDATE feeds SET retired_at = NULL WHERE id = ?", [feed_id])
        return feed_id
    db.execute(
        f"""
        UPDATE feeds SET url = :url, retired_at = NULL, {_FRESH_FETCH_STATE},
            last_fetch_at = NULL, last_success_at = NULL, fetch_count = 0
        WHERE id = :id
        """,
        {"url": url, "id": feed_id},
    )
    db.execute("DELETE FROM feed_entries WHERE feed_id = ?", [feed_id])
    return feed_id


def retire_feeds_except(db: Database, names: Sequence[str], now: str) -> list[str]:
    """Mark every feed not named in ``names`` (the config's) retired at ``now``, unless it is
    already; return the names newly retired."""
    listed = json.dumps(list(names))
    retiring = [
        row["name"]
        for row in db.query(
            "SELECT name FROM feeds WHERE retired_at IS NULL "
            "AND name NOT IN (SELECT value FROM json_each(?)) ORDER BY name",
            [listed],
        )
    ]
    if retiring:
        db.execute(
            "UPDATE feeds SET retired_at = ? WHERE name IN (SELECT value FROM json_each(?))",
            [now, json.dumps(retiring)],
        )
    return retiring


def reset_feed(db: Database, name: str) -> bool:
    """Forget a feed's failures, back-off, validators, body hash and entries not stored, so its
    next poll fetches it in full and tries every entry again. False if there is no such feed."""
    rows = list(db.query("SELECT id FROM feeds WHERE name = ?", [name]))
    if not rows:
        return False
    db.execute(f"UPDATE feeds SET {_FRESH_FETCH_STATE} WHERE id = ?", [rows[0]["id"]])
    db.execute("DELETE FROM feed_entries WHERE feed_id = ?", [rows[0]["id"]])
    return True


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
            failures_since = NULL, fetch_count = fetch_count + 1,
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
            failures_since = coalesce(failures_since, :now), fetch_count = fetch_count + 1
        WHERE id = :id
        """,
        {"now": now, "status": status, "error": error, "until": backoff_until, "id": feed_id},
    )


def feeds_due(db: Database, now: str) -> dict[str, str | None]:
    """The feeds in service whose next poll is due at ``now`` (or not set) and that do not back
    off, with their next poll (None: never set): what the cluster's scheduler sends out."""
    rows = db.query(
        "SELECT name, next_poll_at FROM feeds WHERE retired_at IS NULL "
        "AND (next_poll_at IS NULL OR next_poll_at <= ?) "
        "AND (backoff_until IS NULL OR backoff_until <= ?)",
        [now, now],
    )
    return {row["name"]: row["next_poll_at"] for row in rows}


def record_next_poll(db: Database, feed_id: int, next_poll_at: str | None) -> None:
    db.execute("UPDATE feeds SET next_poll_at = ? WHERE id = ?", [next_poll_at, feed_id])


# -- entries not stored yet ---------------------------------------------------------------------


def retrying_entry_counts(db: Database, feed_ids: Sequence[int]) -> dict[int, int]:
    """How many entries of each of these feeds are still to be stored (absent: none)."""
    rows = db.query(
        "SELECT feed_id, count(*) AS n FROM feed_entries WHERE state = 'retrying' "
        "AND feed_id IN (SELECT value FROM json_each(?)) GROUP BY feed_id",
        [json.dumps(list(feed_ids))],
    )
    return {int(row["feed_id"]): int(row["n"]) for row in rows}


def entry_records(db: Database, feed_id: int) -> dict[str, EntryRecord]:
    """Every ``feed_entries`` row of a feed, by entry key."""
    return {
        row["entry_key"]: EntryRecord(
            key=row["entry_key"],
            url=row["url"],
            state=row["state"],
            reason=row["reason"],
            attempts=row["attempts"],
            first_seen_at=row["first_seen_at"],
            last_attempt_at=row["last_attempt_at"],
        )
        for row in db.query("SELECT * FROM feed_entries WHERE feed_id = ?", [feed_id])
    }


def record_feed_entries(
    db: Database,
    feed_id: int,
    *,
    now: str,
    listed: Iterable[str],
    attempted: Iterable[EntryNote] = (),
    waiting: Iterable[EntryNote] = (),
    skipped: Iterable[EntryNote] = (),
    gave_up: Iterable[EntryNote] = (),
) -> None:
    """What one reading of a feed found, entry by entry (keys in ``listed``).

    ``attempted``: about to be stored in this crawl; each is one more attempt, and stays
    "retrying" until the store settles it (:func:`settle_feed_entry`). ``waiting``: left for a
    later poll without an attempt. ``skipped``: cannot be used, with the reason. ``gave_up``: no
    longer tried. A listed entry in none of these is stored: its row goes. A "retrying" entry
    the feed no longer lists is given up; a skipped one is forgotten, and so is a given-up one
    after GAVE_UP_KEPT_DAYS. Run inside the transaction that records the feed's fetch.
    """
    attempted, waiting, skipped, gave_up = (
        tuple(notes) for notes in (attempted, waiting, skipped, gave_up)
    )
    noted = {note.key for notes in (attempted, waiting, skipped, gave_up) for note in notes}
    for note in attempted:
        db.execute(
            """
            INSERT INTO feed_entries
                (feed_id, entry_key, url, state, reason, attempts, first_seen_at, last_attempt_at)
            VALUES (:feed, :key, :url, 'retrying', :reason, 1, :now, :now)
            ON CONFLICT (feed_id, entry_key) DO UPDATE SET
                url = excluded.url, attempts = attempts + 1, last_attempt_at = :now,
                first_seen_at = CASE WHEN state = 'retrying' THEN first_seen_at ELSE :now END,
                reason = CASE WHEN state = 'retrying' THEN reason ELSE :reason END,
                state = 'retrying'
            """,
            {"feed": feed_id, "key": note.key, "url": note.url, "reason": note.reason, "now": now},
        )
    for note in waiting:
        db.execute(
            """
            INSERT INTO feed_entries
                (feed_id, entry_key, url, state, reason, attempts, first_seen_at, last_attempt_at)
            VALUES (:feed, :key, :url, 'retrying', :reason, 0, :now, :now)
            ON CONFLICT (feed_id, entry_key) DO UPDATE SET
                reason = CASE WHEN attempts = 0 THEN :reason ELSE reason END,
                state = 'retrying'
            """,
            {"feed": feed_id, "key": note.key, "url": note.url, "reason": note.reason, "now": now},
        )
    for note in skipped:
        db.execute(
            """
            INSERT INTO feed_entries
                (feed_id, entry_key, url, state, reason, attempts, first_seen_at, last_attempt_at)
            VALUES (:feed, :key, :url, 'skipped', :reason, 0, :now, :now)
            ON CONFLICT (feed_id, entry_key) DO UPDATE SET
                url = excluded.url, state = 'skipped', reason = :reason, last_attempt_at = :now
            """,
            {"feed": feed_id, "key": note.key, "url": note.url, "reason": note.reason, "now": now},
        )
    for note in gave_up:
        db.execute(
            """
            INSERT INTO feed_entries
                (feed_id, entry_key, url, state, reason, attempts, first_seen_at, last_attempt_at)
            VALUES (:feed, :key, :url, 'gave_up', :reason, 0, :now, :now)
            ON CONFLICT (feed_id, entry_key) DO UPDATE SET state = 'gave_up', reason = :reason
            """,
            {"feed": feed_id, "key": note.key, "url": note.url, "reason": note.reason, "now": now},
        )
    listed = list(listed)
    _forget_settled_entries(
        db, feed_id, now=now, listed=listed, stored=[k for k in listed if k not in noted]
    )


def _forget_settled_entries(
    db: Database, feed_id: int, *, now: str, listed: list[str], stored: list[str]
) -> None:
    params = {"feed": feed_id, "listed": json.dumps(listed), "now": now}
    db.execute(
        "DELETE FROM feed_entries WHERE feed_id = ? "
        "AND entry_key IN (SELECT value FROM json_each(?))",
        [feed_id, json.dumps(stored)],
    )
    db.execute(
        """
        UPDATE feed_entries SET state = 'gave_up',
            reason = 'the feed stopped listing it before it was stored; last: ' || reason
        WHERE feed_id = :feed AND state = 'retrying'
          AND entry_key NOT IN (SELECT value FROM json_each(:listed))
        """,
        params,
    )
    db.execute(
        """
        DELETE FROM feed_entries
        WHERE feed_id = :feed AND entry_key NOT IN (SELECT value FROM json_each(:listed))
          AND (state = 'skipped' OR (state = 'gave_up' AND last_attempt_at
               < strftime('%Y-%m-%dT%H:%M:%SZ', :now, :kept)))
        """,
        {**params, "kept": f"-{GAVE_UP_KEPT_DAYS} days"},
    )


def settle_feed_entry(db: Database, feed_id: int, key: str) -> None:
    """The entry is stored: it is no longer owed."""
    db.execute("DELETE FROM feed_entries WHERE feed_id = ? AND entry_key = ?", [feed_id, key])


def note_entry_failure(db: Database, feed_id: int, key: str, *, reason: str, now: str) -> None:
    """Why the entry being stored was not (it stays "retrying" for the next poll)."""
    db.execute(
        "UPDATE feed_entries SET reason = ?, last_attempt_at = ? "
        "WHERE feed_id = ? AND entry_key = ? AND state = 'retrying'",
        [reason, now, feed_id, key],
    )


# -- health, for people and probes --------------------------------------------------------------

Row = dict[str, Any]

# Every state a feed is counted in by feed_state_counts, each feed in exactly one.
FEED_STATES = ("ok", "failing", "silent", "backing_off", "retired")


def feed_state_counts(db: Database, now: datetime | str) -> dict[str, int]:
    """How many feeds are in each of :data:`FEED_STATES` at ``now`` (every key present).

    retired: no longer in the config. failing and silent: as last told on the [health]
    channels (marsad.crawler.health). backing_off: waiting after failures that have not made
    it failing yet. ok: the rest (a feed never fetched too). One query, for probes and metrics.
    """
    stamp = now if isinstance(now, str) else to_iso(now)
    counts = dict.fromkeys(FEED_STATES, 0)
    for row in db.query(
        """
        SELECT CASE
            WHEN retired_at IS NOT NULL THEN 'retired'
            WHEN health = 'failing' THEN 'failing'
            WHEN backoff_until > :now THEN 'backing_off'
            WHEN health = 'silent' THEN 'silent'
            ELSE 'ok' END AS state, count(*) AS n
        FROM feeds GROUP BY state
        """,
        {"now": stamp},
    ):
        counts[row["state"]] = int(row["n"])
    return counts


def feed_health(db: Database, *, needing_attention: bool = False) -> list[Row]:
    """Every feed's health from the ``feed_health`` view, with what people were last told
    (``health``: ok, failing or silent, and ``health_since``) and its interval and why
    (``poll_every``, ``poll_reason``): feeds failing or silent first, then those with entries
    not stored, never fetched, ok, and retired ones last. ``needing_attention``: only the
    failing, silent and incomplete ones."""
    return list(
        db.query(
            """
            SELECT h.*, f.health, f.health_since, f.poll_every, f.poll_reason, f.hint_reason
            FROM feed_health h JOIN feeds f ON f.id = h.feed_id
            WHERE NOT :only OR h.state IN ('failing', 'incomplete')
                OR (f.health != 'ok' AND h.state != 'retired')
            ORDER BY CASE WHEN f.health != 'ok' AND h.state != 'retired' THEN 0
                ELSE CASE h.state
                WHEN 'failing' THEN 0 WHEN 'incomplete' THEN 1 WHEN 'never fetched' THEN 2
                WHEN 'ok' THEN 3 ELSE 4 END END,
                h.consecutive_failures DESC, h.name
            """,
            {"only": int(needing_attention)},
        )
    )


def feed_entry_rows(db: Database, feed_name: str | None = None) -> list[Row]:
    """The entries not stored, of one feed or of all, with their feed's name: given up first,
    then retrying, then skipped; oldest first."""
    return list(
        db.query(
            """
            SELECT f.name AS feed, e.state, e.attempts, e.url, e.reason, e.first_seen_at,
                   e.last_attempt_at, e.entry_key
            FROM feed_entries e JOIN feeds f ON f.id = e.feed_id
            WHERE :name IS NULL OR f.name = :name
            ORDER BY CASE e.state WHEN 'gave_up' THEN 0 WHEN 'retrying' THEN 1 ELSE 2 END,
                f.name, e.first_seen_at, e.entry_key
            """,
            {"name": feed_name},
        )
    )
