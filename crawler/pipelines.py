"""The item pipeline: every crawled article goes through marsad.ingest into the store."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from marsad.crawler.items import ArticleItem, EntryNotStored
from marsad.crawler.problems import ARTICLE_NOT_STORED, report_problem
from marsad.crawler.shared import shared_rules, shared_store
from marsad.crawler.signals import Problem
from marsad.ingest import ingest_article
from marsad.storage.feeds import note_entry_failure, settle_feed_entry
from marsad.storage.transactions import write_transaction
from marsad.times import utc_now

if TYPE_CHECKING:
    from scrapy.crawler import Crawler
    from sqlite_utils import Database

    from marsad.alerts.matching import RuleIndex

logger = logging.getLogger(__name__)


class StorePipeline:
    """Stores, matches and alerts on each article, on the caller's store connection.

    Counts go into the crawl's stats under ``marsad/``; a failure to store one article is a
    problem reported and counted, and does not stop the others. An article stored settles its
    feed entry in the same transaction; one that fails leaves the entry owed (with the reason),
    so a later poll tries it again.
    """

    def __init__(self, crawler: Crawler, store: Database, rules: RuleIndex) -> None:
        self.crawler = crawler
        self.store = store
        self.rules = rules

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> StorePipeline:
        return cls(crawler, shared_store(crawler.settings), shared_rules(crawler.settings))

    def process_item(self, item: Any) -> Any:
        if isinstance(item, ArticleItem):
            self._ingest(item)
        elif isinstance(item, EntryNotStored):
            self._inc("entries_retrying")
            self._note_failure(item.feed_id, item.entry_key, item.reason)
        return item

    def _ingest(self, item: ArticleItem) -> None:
        feed_id = item.article.feed_id
        try:
            with write_transaction(self.store):
                result = ingest_article(self.store, item.article, self.rules)
                if item.entry_key is not None and feed_id is not None:
                    settle_feed_entry(self.store, feed_id, item.entry_key)
        except Exception as exc:  # one bad article must not lose the rest of the crawl
            message = f"feed {item.feed_name!r}: article {item.article.url}: cannot store: {exc!r}"
            problem = Problem(ARTICLE_NOT_STORED, message, item.feed_name)
            report_problem(self.crawler, problem, logger, exc_info=True)
            self._inc("articles_failed")
            if item.entry_key is not None and feed_id is not None:
                self._note_failure(feed_id, item.entry_key, f"cannot store: {exc!r}")
            return
        self._inc(f"articles_{result.status}")
        self._inc("alerts_queued", result.alerts_queued)

    def _note_failure(self, feed_id: int, key: str, reason: str) -> None:
        try:
            with write_transaction(self.store):
                note_entry_failure(self.store, feed_id, key, reason=reason, now=utc_now())
        except Exception:  # the entry stays owed with its earlier reason; nothing is lost
            logger.warning("cannot note why an entry was not stored", exc_info=True)

    def _inc(self, key: str, count: int = 1) -> None:
        if count:
            self.crawler.stats.inc_value(f"marsad/{key}", count)
