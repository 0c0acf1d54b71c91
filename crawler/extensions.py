"""Extensions: the feed ledger records every feed fetch outcome in the store."""

from __future__ import annotations

from typing import TYPE_CHECKING

from marsad.crawler.shared import shared_store
from marsad.crawler.signals import FeedOutcome, feed_fetched
from marsad.storage.feeds import record_feed_failed, record_feed_fetched

if TYPE_CHECKING:
    from scrapy.crawler import Crawler
    from sqlite_utils import Database


class FeedLedger:
    """Writes each :data:`~marsad.crawler.signals.feed_fetched` outcome to the feed's row
    (validators, body hash, health, back-off) and counts ``marsad/feeds_<outcome>``.

    The outcome is recorded when the spider sends it, before the feed's articles reach the item
    pipeline.
    """

    def __init__(self, crawler: Crawler, store: Database) -> None:
        self.crawler = crawler
        self.store = store
        crawler.signals.connect(self.record, signal=feed_fetched)

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> FeedLedger:
        return cls(crawler, shared_store(crawler.settings))

    def record(self, outcome: FeedOutcome) -> None:
        if outcome.outcome == "failed":
            record_feed_failed(
                self.store,
                outcome.feed_id,
                now=outcome.at,
                status=outcome.status,
                error=outcome.error or "failed",
                backoff_until=outcome.backoff_until or outcome.at,
            )
        else:
            record_feed_fetched(
                self.store,
                outcome.feed_id,
                now=outcome.at,
                status=outcome.status or 0,
                etag=outcome.etag,
                last_modified=outcome.last_modified,
                body_hash=outcome.body_hash,
                new_items=outcome.new_items,
            )
        self.crawler.stats.inc_value(f"marsad/feeds_{outcome.outcome}")
