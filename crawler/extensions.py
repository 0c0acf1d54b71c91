"""Extensions: the feed ledger records every feed fetch outcome in the store."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from marsad.crawler.problems import FEED_NOT_RECORDED, report_problem
from marsad.crawler.shared import shared_store
from marsad.crawler.signals import FeedOutcome, Problem, feed_fetched
from marsad.storage.feeds import record_feed_entries, record_feed_failed, record_feed_fetched
from marsad.storage.transactions import write_transaction

if TYPE_CHECKING:
    from scrapy.crawler import Crawler
    from sqlite_utils import Database

    from marsad.crawler.poll import Poll

logger = logging.getLogger(__name__)


class FeedLedger:
    """Writes each :data:`~marsad.crawler.signals.feed_fetched` outcome to the feed's row
    (validators, body hash, health, back-off) and counts ``marsad/feeds_<outcome>``.

    The outcome is recorded when the spider sends it, before the feed's articles reach the item
    pipeline, together with the entries it lists that are not stored yet (one transaction). So
    the body hash that makes the next poll "unchanged" is never saved without the entries still
    owed: if the crawl dies before they are stored, the next poll reads the feed again.
    """

    def __init__(self, crawler: Crawler, store: Database) -> None:
        self.crawler = crawler
        self.store = store
        crawler.signals.connect(self.record, signal=feed_fetched)

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> FeedLedger:
        return cls(crawler, shared_store(crawler.settings))

    def record(self, outcome: FeedOutcome, poll: Poll | None = None) -> None:
        try:
            with write_transaction(self.store):
                self._record(outcome)
        except Exception as exc:  # nothing saved: the next poll reads the feed as if new
            feed = f"feed {outcome.feed_name!r} ({outcome.url})"
            message = f"{feed}: cannot record the fetch: {exc!r}"
            problem = Problem(FEED_NOT_RECORDED, message, outcome.feed_name)
            report_problem(self.crawler, problem, logger, exc_info=True)
            return
        self.crawler.stats.inc_value(f"marsad/feeds_{outcome.outcome}")
        if poll is not None:
            poll.count(f"feeds_{outcome.outcome}")

    def _record(self, outcome: FeedOutcome) -> None:
        record_outcome(self.store, outcome)


def record_outcome(db: Database, outcome: FeedOutcome) -> None:
    """A feed fetch's outcome on the feed's row, with the entries it lists not stored yet (in
    the caller's transaction): the daemon's ledger, and the cluster's writer."""
    if outcome.outcome == "failed":
        record_feed_failed(
            db,
            outcome.feed_id,
            now=outcome.at,
            status=outcome.status,
            error=outcome.error or "failed",
            backoff_until=outcome.backoff_until or outcome.at,
        )
        return
    record_feed_fetched(
        db,
        outcome.feed_id,
        now=outcome.at,
        status=outcome.status or 0,
        etag=outcome.etag,
        last_modified=outcome.last_modified,
        body_hash=outcome.body_hash,
        new_items=outcome.new_items,
    )
    if outcome.listed is not None:
        record_feed_entries(
            db,
            outcome.feed_id,
            now=outcome.at,
            listed=outcome.listed,
            attempted=outcome.attempted,
            waiting=outcome.waiting,
            skipped=outcome.skipped,
            gave_up=outcome.gave_up,
        )
