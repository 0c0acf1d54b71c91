"""storage.feeds and storage.health on a real in-memory store: each feed in one state for the
probes, the first failure of a run kept, health transitions recorded once."""

from __future__ import annotations

from sqlite_utils import Database

from marsad.storage.feeds import (
    FEED_STATES,
    feed_state_counts,
    record_feed_failed,
    record_feed_fetched,
    retire_feeds_except,
    upsert_feed,
)
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
