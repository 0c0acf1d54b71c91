"""storage.feeds on a real in-memory store: a feed's state follows its URL, feeds leave the config
retired, and the entries owed by a feed are recorded, settled and given up as a feed is read."""

from __future__ import annotations

from sqlite_utils import Database

from marsad.storage.feeds import (
    EntryNote,
    entry_records,
    feed_health,
    feed_states,
    record_feed_entries,
    record_feed_failed,
    record_feed_fetched,
    reset_feed,
    retire_feeds_except,
    retrying_entry_counts,
    settle_feed_entry,
    upsert_feed,
)
from marsad.storage.transactions import write_transaction

T0 = "2024-05-12T12:00:00Z"
T1 = "2024-05-12T12:10:00Z"


def failing(db: Database, feed_id: int) -> None:
    record_feed_fetched(
        db, feed_id, now=T0, status=200, etag='"v1"', last_modified=None, body_hash="h", new_items=1
    )
    record_feed_failed(
        db, feed_id, now=T1, status=500, error="HTTP 500", backoff_until="2024-05-12T18:00:00Z"
    )
    record_feed_entries(
        db, feed_id, now=T1, listed=["a"], attempted=[EntryNote("a", "http://x/a", "pending")]
    )


def test_a_feed_whose_url_changes_starts_fresh_and_keeps_its_history(store: Database) -> None:
    with write_transaction(store):
        feed_id = upsert_feed(store, "sahel", "http://old.example/rss", T0)
        failing(store, feed_id)
        assert upsert_feed(store, "sahel", "http://old.example/rss", T1) == feed_id
    same = feed_states(store, ["sahel"])["sahel"]
    assert (same.consecutive_failures, same.etag, same.body_hash) == (1, '"v1"', "h")

    with write_transaction(store):
        assert upsert_feed(store, "sahel", "http://new.example/rss", T1) == feed_id
    moved = feed_states(store, ["sahel"])["sahel"]
    assert moved.url == "http://new.example/rss"
    assert (moved.consecutive_failures, moved.backoff_until, moved.etag, moved.body_hash) == (
        0,
        None,
        None,
        None,
    )
    row = next(store.query("SELECT * FROM feeds WHERE id = ?", [feed_id]))
    assert (row["last_error"], row["last_fetch_at"], row["items_total"]) == (None, None, 1)
    assert entry_records(store, feed_id) == {}


def test_feeds_not_in_the_config_are_retired_once_and_come_back(store: Database) -> None:
    with write_transaction(store):
        for name in ("a", "b", "c"):
            upsert_feed(store, name, f"http://{name}.example/rss", T0)
        assert retire_feeds_except(store, ["a"], T0) == ["b", "c"]
        assert retire_feeds_except(store, ["a"], T1) == []  # already retired: kept as it was
        upsert_feed(store, "b", "http://b.example/rss", T1)
    retired = {r["name"]: r["retired_at"] for r in store.query("SELECT * FROM feeds")}
    assert retired == {"a": None, "b": None, "c": T0}
    health = {row["name"]: row["state"] for row in feed_health(store)}
    assert health == {"a": "never fetched", "b": "never fetched", "c": "retired"}


def test_reset_forgets_failures_validators_and_entries_owed(store: Database) -> None:
    with write_transaction(store):
        feed_id = upsert_feed(store, "sahel", "http://sahel.example/rss", T0)
        failing(store, feed_id)
        assert reset_feed(store, "sahel")
        assert not reset_feed(store, "nowhere")
    state = feed_states(store, ["sahel"])["sahel"]
    assert (state.consecutive_failures, state.backoff_until, state.etag, state.body_hash) == (
        0,
        None,
        None,
        None,
    )
    assert entry_records(store, feed_id) == {}
    assert next(store.query("SELECT items_total FROM feeds"))["items_total"] == 1


def test_entries_owed_are_attempted_settled_and_given_up_as_the_feed_is_read(
    store: Database,
) -> None:
    feed_id = upsert_feed(store, "sahel", "http://sahel.example/rss", T0)
    note = EntryNote
    record_feed_entries(
        store,
        feed_id,
        now=T0,
        listed=["a", "b", "c", "d", "js"],
        attempted=[note("a", "http://x/a", "pending"), note("b", "http://x/b", "pending")],
        waiting=[note("c", "http://x/c", "waiting: over the limit")],
        skipped=[note("js", "javascript:x", "not an http(s) link")],
    )
    records = entry_records(store, feed_id)
    assert {k: (r.state, r.attempts) for k, r in records.items()} == {
        "a": ("retrying", 1),
        "b": ("retrying", 1),
        "c": ("retrying", 0),
        "js": ("skipped", 0),
    }
    assert retrying_entry_counts(store, [feed_id, 999]) == {feed_id: 3}
    settle_feed_entry(store, feed_id, "a")
    store.execute("UPDATE feed_entries SET reason = 'cannot store: locked' WHERE entry_key = 'b'")

    # Read again: b is tried once more (its first failure's reason kept), c at last, js still
    # skipped; d was stored meanwhile by another route (listed, in no note): nothing owed.
    record_feed_entries(
        store,
        feed_id,
        now=T1,
        listed=["b", "c", "d", "js"],
        attempted=[note("b", "http://x/b", "pending"), note("c", "http://x/c", "pending")],
        skipped=[note("js", "javascript:x", "not an http(s) link")],
    )
    records = entry_records(store, feed_id)
    assert (records["b"].attempts, records["b"].reason, records["b"].first_seen_at) == (
        2,
        "cannot store: locked",
        T0,
    )
    assert (records["c"].attempts, records["c"].state) == (1, "retrying")
    assert sorted(records) == ["b", "c", "js"]

    # The feed stops listing them: b and c are given up (said why), js forgotten.
    record_feed_entries(store, feed_id, now="2024-05-12T13:00:00Z", listed=["z"])
    records = entry_records(store, feed_id)
    assert sorted(records) == ["b", "c"]
    assert all(r.state == "gave_up" for r in records.values())
    assert records["b"].reason.startswith("the feed stopped listing it before it was stored")
    assert "cannot store: locked" in records["b"].reason
    (health,) = feed_health(store)
    assert (health["state"], health["entries_gave_up"]) == ("never fetched", 2)
    record_feed_fetched(
        store,
        feed_id,
        now=T1,
        status=200,
        etag=None,
        last_modified=None,
        body_hash="h",
        new_items=0,
    )
    (health,) = feed_health(store, needing_attention=True)
    assert health["state"] == "incomplete"

    # Given-up entries no longer listed are forgotten after a month.
    record_feed_entries(store, feed_id, now="2024-06-20T00:00:00Z", listed=["z"])
    assert entry_records(store, feed_id) == {}
    (health,) = feed_health(store)
    assert health["state"] == "ok"
    assert feed_health(store, needing_attention=True) == []


def test_feed_health_lists_failing_first_and_retired_last(store: Database) -> None:
    with write_transaction(store):
        ids = {name: upsert_feed(store, name, f"http://{name}.example/", T0) for name in "abcd"}
        for name in "abcd":
            record_feed_fetched(
                store,
                ids[name],
                now=T0,
                status=200,
                etag=None,
                last_modified=None,
                body_hash=None,
                new_items=0,
            )
        record_feed_failed(store, ids["d"], now=T1, status=500, error="x", backoff_until=T1)
        record_feed_failed(store, ids["a"], now=T1, status=500, error="x", backoff_until=T1)
        record_feed_entries(
            store, ids["c"], now=T1, listed=["k"], attempted=[EntryNote("k", None, "pending")]
        )
        retire_feeds_except(store, ["b", "c", "d"], T1)
    order = [(row["name"], row["state"]) for row in feed_health(store)]
    assert order == [("d", "failing"), ("c", "incomplete"), ("b", "ok"), ("a", "retired")]
    assert [row["name"] for row in feed_health(store, needing_attention=True)] == ["d", "c"]
