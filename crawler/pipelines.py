"""The item pipeline: every crawled article goes through crawler.ingest into the store."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from marsad.crawler.items import ArticleItem, FeedOutcome
from marsad.crawler.spiders.feeds import FeedSpider
from marsad.ingest import ingest_article
from marsad.storage.db import open_store
from marsad.storage.feeds import record_feed_failed, record_feed_fetched
from marsad.times import utc_now

if TYPE_CHECKING:
    from scrapy.crawler import Crawler
    from sqlite_utils import Database

logger = logging.getLogger(__name__)


class StorePipeline:
    """Owns the store's write connection for the length of one crawl.

    Counts go into the crawl's stats under ``marsad/``; a failure to store one article is
    reported on the spider and does not stop the others.
    """

    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler
        self.db: Database | None = None

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> StorePipeline:
        return cls(crawler)

    @property
    def spider(self) -> FeedSpider:
        spider = self.crawler.spider
        if not isinstance(spider, FeedSpider):
            raise TypeError(f"StorePipeline works with FeedSpider, not {type(spider).__name__}")
        return spider

    def open_spider(self) -> None:
        self.db = open_store(self.spider.store_path)

    def close_spider(self) -> None:
        if self.db is not None:
            self.db.close()
            self.db = None

    def process_item(self, item: Any) -> Any:
        if isinstance(item, ArticleItem):
            self._ingest(item)
        elif isinstance(item, FeedOutcome):
            self._record(item)
        return item

    def _ingest(self, item: ArticleItem) -> None:
        assert self.db is not None
        spider = self.spider
        try:
            result = ingest_article(self.db, item.article, spider.rules)
        except Exception as exc:  # one bad article must not lose the rest of the crawl
            logger.exception("cannot store %s", item.article.url)
            spider.note_error(
                f"feed {item.feed_name!r}: article {item.article.url}: cannot store: {exc!r}"
            )
            self._inc("articles_failed")
            return
        self._inc(f"articles_{result.status}")
        self._inc("alerts_queued", result.alerts_queued)

    def _record(self, item: FeedOutcome) -> None:
        assert self.db is not None
        now = utc_now()
        if item.outcome == "failed":
            record_feed_failed(
                self.db,
                item.feed_id,
                now=now,
                status=item.status,
                error=item.error or "failed",
                backoff_until=item.backoff_until or now,
            )
        else:
            record_feed_fetched(
                self.db,
                item.feed_id,
                now=now,
                status=item.status or 0,
                etag=item.etag,
                last_modified=item.last_modified,
                body_hash=item.body_hash,
                new_items=item.new_items,
            )
        self._inc(f"feeds_{item.outcome}")

    def _inc(self, key: str, count: int = 1) -> None:
        if self.crawler.stats is not None and count:
            self.crawler.stats.inc_value(f"marsad/{key}", count)
