"""The item pipeline: every crawled article goes through marsad.ingest into the store."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from marsad.crawler.items import ArticleItem
from marsad.crawler.problems import ARTICLE_NOT_STORED, report_problem
from marsad.crawler.shared import shared_rules, shared_store
from marsad.crawler.signals import Problem
from marsad.ingest import ingest_article

if TYPE_CHECKING:
    from scrapy.crawler import Crawler
    from sqlite_utils import Database

    from marsad.alerts.matching import RuleIndex

logger = logging.getLogger(__name__)


class StorePipeline:
    """Stores, matches and alerts on each article, on the caller's store connection.

    Counts go into the crawl's stats under ``marsad/``; a failure to store one article is a
    problem reported and counted, and does not stop the others.
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
        return item

    def _ingest(self, item: ArticleItem) -> None:
        try:
            result = ingest_article(self.store, item.article, self.rules)
        except Exception as exc:  # one bad article must not lose the rest of the crawl
            message = f"feed {item.feed_name!r}: article {item.article.url}: cannot store: {exc!r}"
            problem = Problem(ARTICLE_NOT_STORED, message, item.feed_name)
            report_problem(self.crawler, problem, logger, exc_info=True)
            self._inc("articles_failed")
            return
        self._inc(f"articles_{result.status}")
        self._inc("alerts_queued", result.alerts_queued)

    def _inc(self, key: str, count: int = 1) -> None:
        if count:
            self.crawler.stats.inc_value(f"marsad/{key}", count)
