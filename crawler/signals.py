"""The crawl's own signals, and what each carries.

Sent with ``crawler.signals.send_catch_log(signal, **kwargs)``; a receiver takes the keyword it
needs. Receivers are weak references: connect bound methods of objects that outlive the crawl.
"""

from __future__ import annotations

from dataclasses import dataclass

from marsad.storage.feeds import EntryNote

# A feed (any kind of source) was fetched, or failed to be: ``outcome=FeedOutcome``.
# Recorded in the store by marsad.crawler.extensions.FeedLedger.
feed_fetched = object()

# Something went wrong that the crawl survives: ``problem=Problem``. Already logged and counted
# (marsad.crawler.problems.report_problem); the runner collects the messages for its report.
problem_found = object()


@dataclass(frozen=True)
class FeedOutcome:
    """How one feed fetch went. ``outcome`` is "ok", "unchanged" or "failed"."""

    feed_id: int
    feed_name: str
    url: str
    outcome: str
    status: int | None
    at: str  # ISO-8601 UTC: when the answer (or the failure) came
    etag: str | None = None
    last_modified: str | None = None
    body_hash: str | None = None
    new_items: int = 0
    error: str | None = None
    backoff_until: str | None = None  # only for "failed"
    # Only when the feed was read ("ok"): the key of every entry it lists, and those not stored
    # already, by what happens to them (see marsad.storage.feeds.record_feed_entries).
    listed: tuple[str, ...] | None = None
    attempted: tuple[EntryNote, ...] = ()
    waiting: tuple[EntryNote, ...] = ()
    skipped: tuple[EntryNote, ...] = ()
    gave_up: tuple[EntryNote, ...] = ()


@dataclass(frozen=True)
class Problem:
    """A failure the crawl survives, named by ``kind`` (one of those in marsad.crawler.problems)."""

    kind: str
    message: str  # for people: names the feed, the URL and the reason
    feed_name: str | None = None
