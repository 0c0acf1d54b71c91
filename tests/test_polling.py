"""Adaptive polling, pure (marsad.crawler.polling) and on a real store with injected time
(marsad.scheduler.intervals), and the hints a feed and its server give (parsed where the feed
and the response are read)."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import pytest
from sqlite_utils import Database

from marsad.config import Config, ConfigError, config_from_document
from marsad.crawler.config import FeedConfig, PollingConfig
from marsad.crawler.feeds import parse_feed
from marsad.crawler.polling import (
    STRETCH_MAX,
    Hint,
    PollFacts,
    ReadingNote,
    feed_hint,
    header_hint,
    next_interval,
    next_stretch,
)
from marsad.scheduler.intervals import adapt
from marsad.storage.db import open_store
from marsad.storage.feeds import record_feed_fetched, upsert_feed
from marsad.storage.health import polling_rows
from marsad.storage.transactions import write_transaction
from tests.feedserver import FeedServer

MARSAD = [sys.executable, "-c", "from marsad.cli import main; main()"]
NOW = datetime(2024, 5, 12, 12, 0, tzinfo=UTC)
MINUTE, HOUR, DAY = 60.0, 3600.0, 86400.0
BOUNDS = PollingConfig(min_interval=5 * MINUTE, max_interval=6 * HOUR, factor=1.0)


def interval(arrivals: int, window: float, **kw: object) -> tuple[float, str]:
    facts = PollFacts(every=10 * MINUTE, adaptive=True, arrivals=arrivals, window=window)
    result = next_interval(PollFacts(**{**facts.__dict__, **kw}), BOUNDS)  # type: ignore[arg-type]
    return result.seconds, result.reason


def test_every_is_the_starting_point_and_history_takes_over() -> None:
    assert interval(0, 0) == (600.0, "10m: starting point")
    # 200 new a day: about every 7 minutes (Miniflux: a day / 200, the prior two entries).
    seconds, reason = interval(200, DAY)
    assert 7 * MINUTE < seconds < 7.5 * MINUTE and reason == "7.2m: 200 new in 1d"
    # 9 in a week: 18 h by the rule, held to the maximum.
    assert interval(9, 7 * DAY) == (6 * HOUR, "6h: max (9 new in 7d)")
    # A flood is held to the minimum.
    assert interval(5000, 7 * DAY)[0] == 5 * MINUTE
    # An hour without news moves a 10-minute feed only so far.
    assert interval(0, HOUR)[0] == 40 * MINUTE


def test_the_feed_s_hints_are_never_undercut_up_to_the_maximum() -> None:
    ttl = Hint(2 * HOUR, "ttl 120m")
    assert interval(200, DAY, hint=ttl) == (2 * HOUR, "2h: ttl 120m")
    # A hint shorter than the interval changes nothing.
    assert interval(9, 7 * DAY, hint=ttl)[0] == 6 * HOUR
    # A week-long hint is honoured up to the maximum.
    assert interval(200, DAY, hint=Hint(7 * DAY, "ttl 10080m"))[0] == 6 * HOUR


def test_adaptive_false_keeps_every_and_bounds_widen_to_every() -> None:
    assert interval(200, DAY, adaptive=False) == (600.0, "fixed")
    # A feed asked for every 30s is not held to the 5-minute minimum.
    fast = next_interval(PollFacts(every=30.0, adaptive=True, arrivals=5000, window=DAY), BOUNDS)
    assert fast.seconds == 30.0


def test_polls_that_find_nothing_new_stretch_and_an_overflow_shrinks() -> None:
    quiet = ReadingNote(read=True, listed=20, new=0)
    stretch = 1.0
    for _ in range(20):
        stretch = next_stretch(stretch, quiet, first_reading=False)
    assert stretch == STRETCH_MAX
    # Something new: back to the rate alone.
    assert next_stretch(stretch, ReadingNote(read=True, listed=20, new=2), first_reading=False) == 1
    # Every listed entry new: entries may have been missed, poll sooner.
    flood = ReadingNote(read=True, listed=20, new=20)
    assert next_stretch(1.0, flood, first_reading=False) < 1.0
    # ... but not on the feed's first reading, when everything is new.
    assert next_stretch(1.0, flood, first_reading=True) == 1.0
    assert interval(200, DAY, stretch=2.0)[1] == "14.5m: 200 new in 1d, x2 (nothing new lately)"


def test_feed_hints_from_ttl_and_syndication() -> None:
    assert feed_hint("60", None, None) == Hint(3600.0, "ttl 60m")
    assert feed_hint(None, "hourly", "2") == Hint(1800.0, "sy:updatePeriod hourly/2")
    assert feed_hint("30", "daily", None) == Hint(DAY, "sy:updatePeriod daily/1")
    assert feed_hint("soon", "sometimes", None) is None
    body = (
        b'<?xml version="1.0"?><rss version="2.0" '
        b'xmlns:sy="http://purl.org/rss/1.0/modules/syndication/"><channel><title>t</title>'
        b"<ttl>45</ttl><item><title>a</title><guid>a</guid></item></channel></rss>"
    )
    assert parse_feed(body, "http://feeds.example/rss").hint == Hint(2700.0, "ttl 45m")


def test_header_hints_cache_control_expires_retry_after() -> None:
    assert header_hint({"cache-control": "public, max-age=900"}, NOW) == Hint(
        900.0, "Cache-Control max-age=900"
    )
    assert header_hint({"cache-control": "no-cache, max-age=900"}, NOW) is None
    expires = format_datetime(NOW + timedelta(minutes=20), usegmt=True)
    served = format_datetime(NOW, usegmt=True)
    assert header_hint({"expires": expires, "date": served}, NOW) == Hint(1200.0, "Expires")
    assert header_hint({"expires": "0"}, NOW) is None
    assert header_hint({"retry-after": "3600"}, NOW) == Hint(3600.0, "Retry-After 3600")
    both = header_hint({"cache-control": "max-age=60", "retry-after": "600"}, NOW)
    assert both is not None and both.seconds == 600.0


def test_the_interval_follows_the_store_s_arrivals_with_injected_time(store: Database) -> None:
    config = Config(store_path=":memory:", polling=BOUNDS)  # type: ignore[arg-type]
    feed = FeedConfig(name="busy", url="http://busy.example/rss", every=10 * MINUTE, source="b")
    with write_transaction(store):
        feed_id = upsert_feed(store, feed.name, feed.url, "2024-05-01T00:00:00Z")
    # The first reading (its backlog) ends the feed's start: its 20 entries do not count.
    first = adapt(store, config, feed, ReadingNote(read=True, listed=20, new=20), NOW)
    assert first is not None and first.seconds == 600.0
    # A day later, 96 more arrived (one every 15 minutes).
    for n in range(96):
        _arrive(store, feed_id, NOW + timedelta(minutes=15 * n + 1), n)
    later = NOW + timedelta(days=1)
    second = adapt(store, config, feed, ReadingNote(read=True, listed=20, new=1), later)
    # (1 d + the prior's 2 x 10 m) / (96 + 2) = 894 s.
    assert second is not None and second.reason == "14.9m: 96 new in 1d"
    # A 304 keeps the ttl its body gave; the header's hint counts for this answer.
    hinted = ReadingNote(
        read=True, listed=20, new=1, feed_hint=Hint(2 * HOUR, "ttl 120m"), header_hint=None
    )
    assert adapt(store, config, feed, hinted, later).reason == "2h: ttl 120m"  # type: ignore[union-attr]
    not_modified = ReadingNote(header_hint=Hint(60.0, "Cache-Control max-age=60"))
    kept = adapt(store, config, feed, not_modified, later + timedelta(hours=2))
    assert kept is not None and kept.reason == "2h: ttl 120m"
    row = polling_rows(store, ["busy"])["busy"]
    assert row.hint_reason == "ttl 120m" and row.poll_every == 2 * HOUR
    # A failed poll notes nothing: the interval stays.
    assert adapt(store, config, feed, None, later) is None


def _arrive(store: Database, feed_id: int, at: datetime, n: int) -> None:
    stamp = at.strftime("%Y-%m-%dT%H:%M:%SZ")
    with write_transaction(store):
        store.execute("INSERT INTO stories (first_seen, last_seen) VALUES (?, ?)", [stamp, stamp])
        story = store.execute("SELECT max(id) FROM stories").fetchone()[0]
        store.execute(
            "INSERT INTO articles (canonical_url, url, source, extraction, body_hash, story_id, "
            "fetched_at, feed_id) VALUES (?, ?, 'b', 'feed', ?, ?, ?, ?)",
            [f"http://busy.example/{n}"] * 2 + [f"h{n}", story, stamp, feed_id],
        )
        record_feed_fetched(
            store,
            feed_id,
            now=stamp,
            status=200,
            etag=None,
            last_modified=None,
            body_hash=f"b{n}",
            new_items=1,
        )


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ({"polling": {"min_interval": "1h", "max_interval": "5m"}}, "polling.max_interval"),
        ({"polling": {"factor": 0}}, "polling.factor"),
        ({"polling": {"often": 1}}, "polling.often: unknown key"),
        ({"health": {"channels": ["nowhere"]}}, "health.channels: no channel named 'nowhere'"),
        ({"health": {"failures": 0}}, "health.failures"),
        ({"health": {"silent_floor": "soon"}}, "health.silent_floor"),
        ({"feeds": [{"name": "a", "url": "http://a.example/", "adaptive": "yes"}]}, ".adaptive"),
        (
            {"feeds": [{"name": "a", "url": "http://a.example/", "expect_every": "x"}]},
            ".expect_every",
        ),
    ],
)
def test_a_bad_value_is_one_line_naming_the_key(table: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError) as raised:
        config_from_document(table)
    assert message in str(raised.value) and "\n" not in str(raised.value)


def test_health_and_polling_settings_are_read() -> None:
    config = config_from_document(
        {
            "channels": {"ops": {"type": "webhook", "url": "http://hooks.example/"}},
            "health": {"channels": ["ops"], "failures": 5, "silent_floor": "2h"},
            "polling": {"min_interval": "2m", "max_interval": "1d", "factor": 2},
            "feeds": [
                {"name": "a", "url": "http://a.example/", "adaptive": False, "expect_every": "1d"}
            ],
        }
    )
    assert config.health.channels == ("ops",) and config.health.failures == 5
    assert config.health.silent_floor == 2 * HOUR
    assert config.polling == PollingConfig(min_interval=120.0, max_interval=DAY, factor=2.0)
    assert (config.feeds[0].adaptive, config.feeds[0].expect_every) == (False, DAY)


@pytest.mark.slow  # a real `marsad crawl` (its start-up is most of it)
def test_marsad_crawl_reads_the_feed_s_ttl_and_stores_its_interval(tmp_path: Path) -> None:
    """Through the real spider: its note of the feed's <ttl> reaches the store."""
    with FeedServer() as server:
        url = server.serve(
            "/ttl.xml",
            '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>t</title>'
            "<ttl>90</ttl><item><title>خبر</title><guid>g1</guid>"
            "<description>نص الخبر</description></item></channel></rss>",
            "application/rss+xml; charset=utf-8",
        )
        config = tmp_path / "marsad.toml"
        config.write_text(
            f'[store]\npath = "store.db"\n[crawl]\nworkers = 0\nobey_robots = false\n'
            f'allow_private = ["127.0.0.0/8"]\n'
            f'[[feeds]]\nname = "ttl"\nurl = "{url}"\nevery = "10m"\n',
            encoding="utf-8",
        )
        result = subprocess.run(
            [*MARSAD, "crawl", "--config", str(config)],
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert result.returncode == 0, result.stdout + result.stderr
    db = open_store(tmp_path / "store.db")
    try:
        row = polling_rows(db, ["ttl"])["ttl"]
    finally:
        db.close()
    assert (row.hint_every, row.hint_reason) == (5400.0, "ttl 90m")
    assert (row.poll_every, row.poll_reason) == (5400.0, "1.5h: ttl 90m")
    assert row.watched_since is not None


def test_a_failing_feed_backs_off_from_its_interval_capped_and_is_tried_again() -> None:
    from marsad.crawler.fetch_policy import BACKOFF_BASE, after_failure
    from marsad.storage.models import FeedState

    state = FeedState(1, "a", "http://a.example/", None, None, None, 0, None, 0)
    waits = []
    for failures in range(12):
        state = FeedState(1, "a", "http://a.example/", None, None, None, failures, None, 0)
        waits.append(after_failure(state, NOW, max_backoff=HOUR, every=10.0).wait)
    # A feed polled every 10 s is tried again 10 s after its first failure, then 20, 40, ...
    assert waits[:4] == [10.0, 20.0, 40.0, 80.0]
    assert max(waits) == HOUR  # never given up: every hour at most
    assert after_failure(state, NOW, max_backoff=HOUR, every=3 * HOUR).wait == HOUR
    first = FeedState(1, "a", "http://a.example/", None, None, None, 0, None, 0)
    assert after_failure(first, NOW, max_backoff=HOUR, every=3 * HOUR).wait == BACKOFF_BASE
