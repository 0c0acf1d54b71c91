"""storage.feeds and storage.health on a real in-memory store: each feed in one state for the
probes, the first failure of a run kept, health transitions recorded once."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from sqlite_utils import Database

from marsad.storage.db import open_store
from marsad.storage.feeds import (
    FEED_STATES,
    feed_state_counts,
    record_feed_failed,
    record_feed_fetched,
    retire_feeds_except,
    upsert_feed,
)
from marsad.storage.health import insert_health_event
from marsad.storage.migrations import migrations
from marsad.storage.outbox import enqueue_notice
from marsad.storage.transactions import write_transaction

T0 = "2024-05-12T12:00:00Z"
T1 = "2024-05-12T12:10:00Z"
T2 = "2024-05-12T12:20:00Z"


def fetched(db: Database, feed_id: int, now: str) -> None:
    record_feed_fetched(
        db, feed_id, now=now, status=200, etag=None, last_modified=None, body_hash="h", new_items=0
    )


def failed(db: Database, feed_id: int, now: str, until: str) -> None:
    record_feed_failed(db, feed_id, now=now, status=403, error="HTTP 403", backoff_until=until)


def test_every_feed_is_counted_in_exactly_one_state(store: Database) -> None:
    with write_transaction(store):
        ids = {name: upsert_feed(store, name, f"http://{name}.example/rss", T0) for name in "abcde"}
        fetched(store, ids["a"], T0)
        failed(store, ids["b"], T1, until="2024-05-12T13:00:00Z")  # backing off, not failing
        failed(store, ids["c"], T1, until="2024-05-12T13:00:00Z")
        store.execute("UPDATE feeds SET health = 'failing' WHERE id = ?", [ids["c"]])
        store.execute("UPDATE feeds SET health = 'silent' WHERE id = ?", [ids["d"]])
        retire_feeds_except(store, ["a", "b", "c", "d"], T1)
    counts = feed_state_counts(store, T2)
    assert counts == {"ok": 1, "failing": 1, "silent": 1, "backing_off": 1, "retired": 1}
    assert tuple(counts) == FEED_STATES
    # Once the back-off has passed, a feed with failures below the threshold is ok again.
    assert feed_state_counts(store, "2024-05-12T14:00:00Z")["backing_off"] == 0


def test_the_first_failure_of_a_run_is_kept_until_a_success(store: Database) -> None:
    with write_transaction(store):
        feed_id = upsert_feed(store, "a", "http://a.example/rss", T0)
        failed(store, feed_id, T0, until=T1)
        failed(store, feed_id, T1, until=T2)
    row = next(store.query("SELECT failures_since FROM feeds WHERE id = ?", [feed_id]))
    assert row["failures_since"] == T0
    with write_transaction(store):
        fetched(store, feed_id, T2)
    row = next(store.query("SELECT failures_since FROM feeds WHERE id = ?", [feed_id]))
    assert row["failures_since"] is None


def test_migration_0013_rebuilds_the_outbox_keeping_alerts_and_their_deliveries(
    tmp_path: Path,
) -> None:
    """A store from before 0013: its alerts become article alerts (ids, deliveries and views
    kept; those already dead count as told), and a health alert needs no article."""
    path = tmp_path / "old.db"
    old = Database(sqlite3.connect(path))
    old.execute("PRAGMA foreign_keys = ON")
    everything = migrations._migrations
    try:
        migrations._migrations = [m for m in everything if m.name < "0013"]
        migrations.apply(old)
    finally:
        migrations._migrations = everything
    old.execute("INSERT INTO stories (id, first_seen, last_seen) VALUES (1, ?, ?)", [T0, T0])
    old.execute(
        "INSERT INTO articles (id, canonical_url, url, source, extraction, body_hash, story_id, "
        "fetched_at) VALUES (1, 'http://a/1', 'http://a/1', 'a', 'feed', 'h', 1, ?)",
        [T0],
    )
    for alert_id, status in ((5, "dead"), (6, "sent")):
        old.execute(
            "INSERT INTO alerts (id, article_id, story_id, rule, channel, idempotency_key, "
            "payload, status, next_attempt_at, created_at) VALUES (?, 1, 1, ?, 'ops', ?, '{}', "
            "?, ?, ?)",
            [alert_id, f"r{alert_id}", f"k{alert_id}", status, T0, T0],
        )
        old.execute(
            "INSERT INTO deliveries (alert_id, attempted_at, ok, duration_ms) VALUES (?, ?, 0, 1)",
            [alert_id, T0],
        )
    old.conn.commit()
    old.close()

    db = open_store(path)
    try:
        alerts = list(db.query("SELECT id, kind, dead_noticed FROM alerts ORDER BY id"))
        assert alerts == [
            {"id": 5, "kind": "article", "dead_noticed": 1},
            {"id": 6, "kind": "article", "dead_noticed": 0},
        ]
        assert [r["alert_id"] for r in db.query("SELECT alert_id FROM deliveries")] == [5, 6]
        assert list(db.query("PRAGMA foreign_key_check")) == []
        assert len(list(db.query("SELECT * FROM alert_deliveries"))) == 2
        with write_transaction(db):
            event = insert_health_event(
                db,
                subject="feed",
                name="a",
                event="failing",
                since=T0,
                detail="HTTP 403",
                facts={},
                created_at=T1,
            )
            queued = enqueue_notice(
                db,
                health_event_id=event,
                rule="health/feed/failing",
                channel="ops",
                idempotency_key="hk",
                payload={"kind": "health"},
                created_at=T1,
            )
        assert queued is not None
        with pytest.raises(sqlite3.IntegrityError):  # an article alert still needs its article
            db.execute(
                "INSERT INTO alerts (rule, channel, idempotency_key, payload, next_attempt_at, "
                "created_at) VALUES ('r', 'ops', 'x', '{}', ?, ?)",
                [T1, T1],
            )
    finally:
        db.close()
