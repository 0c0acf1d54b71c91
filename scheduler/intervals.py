"""Adaptive polling after each poll: what the poll told (the spider's
:class:`~marsad.crawler.polling.ReadingNote`), the feed's history in the store, and the new
interval (marsad.crawler.polling) recorded with its reason; the feed's job is rescheduled to it
by :mod:`marsad.scheduler.schedule`.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from marsad.crawler.polling import (
    WEEK,
    Hint,
    Interval,
    PollFacts,
    ReadingNote,
    longest,
    next_interval,
    next_stretch,
    short_duration,
)
from marsad.storage.health import arrivals_between, polling_rows, record_polling
from marsad.storage.transactions import write_transaction
from marsad.times import from_iso, to_iso

if TYPE_CHECKING:
    from sqlite_utils import Database

    from marsad.config import Config
    from marsad.crawler.config import FeedConfig
    from marsad.crawler.engine import CrawlEngine

log = logging.getLogger("marsad.polling")


def take_note(engine: CrawlEngine, feed_name: str) -> ReadingNote | None:
    """What the feed's last successful fetch noted (once: it is taken), if any."""
    try:
        spider = engine.crawler.spider
    except Exception:  # the engine is not running: nothing was fetched
        return None
    notes = getattr(spider, "polling_notes", None)
    return notes.pop(feed_name, None) if isinstance(notes, dict) else None


def starting_interval(feed: FeedConfig) -> Interval:
    if not feed.adaptive:
        return Interval(feed.every, "fixed")
    return Interval(feed.every, f"{short_duration(feed.every)}: starting point (every)")


def adapt(
    db: Database, config: Config, feed: FeedConfig, note: ReadingNote | None, now: datetime
) -> Interval | None:
    """The feed's interval after a poll at ``now`` that noted ``note`` (None: it failed or was
    not fetched, and its interval stays), recorded in the store."""
    if note is None:
        return None
    row = polling_rows(db, [feed.name]).get(feed.name)
    if row is None:
        return None
    stamp = to_iso(now)
    first_reading = row.watched_since is None
    watched = row.watched_since or stamp
    window = min(WEEK, (now - from_iso(watched)).total_seconds())
    counted_from = max(watched, to_iso(now - timedelta(seconds=WEEK)))
    stretch = next_stretch(row.stretch, note, first_reading=first_reading)
    # The feed's own elements are read only when its body is: a 304 keeps what it said.
    feed_hint = note.feed_hint
    if not note.read and row.hint_every is not None:
        feed_hint = Hint(row.hint_every, row.hint_reason or "hint")
    facts = PollFacts(
        every=feed.every,
        adaptive=feed.adaptive,
        arrivals=arrivals_between(db, row.id, counted_from, stamp),
        window=window,
        stretch=stretch,
        hint=longest(feed_hint, note.header_hint),
    )
    interval = next_interval(facts, config.polling)
    hint_every = feed_hint.seconds if feed_hint is not None else None
    hint_reason = feed_hint.source if feed_hint is not None else None
    decided = (interval.seconds, interval.reason, stretch, hint_every, hint_reason)
    stored = (row.poll_every, row.poll_reason, row.stretch, row.hint_every, row.hint_reason)
    # A fixed feed, or one at its longest stretch, decides what it decided last time: no write
    # (most polls are of unchanged feeds, and a write transaction is most of their bookkeeping).
    if first_reading or decided != stored:
        with write_transaction(db):
            record_polling(
                db,
                row.id,
                poll_every=interval.seconds,
                poll_reason=interval.reason,
                stretch=stretch,
                hint_every=hint_every,
                hint_reason=hint_reason,
                watched_since=stamp,
            )
    if row.poll_every is not None and abs(row.poll_every - interval.seconds) >= 1:
        log.info("feed %s: polled every %s", feed.name, interval.reason)
    return interval
