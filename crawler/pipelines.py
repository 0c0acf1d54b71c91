"""The item pipeline: every crawled article goes through marsad.ingest into the store.

Articles are committed in batches (up to :data:`BATCH_ARTICLES`, or whatever arrived within
:data:`BATCH_SECONDS` of the first): a commit per article was a sizeable share of a crawl's CPU.
Each article is a savepoint of its own inside the batch's transaction, so one the store refuses
is rolled back alone and reported, and its entry stays owed; a batch whose commit fails reports
every article in it as not stored. An alert is in the store within a second of its article.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from marsad.crawler.items import ArticleItem, EntryNotStored
from marsad.crawler.problems import ARTICLE_NOT_STORED, report_problem
from marsad.crawler.shared import shared_rules, shared_store
from marsad.crawler.signals import Problem
from marsad.crawler.telemetry import note_copy
from marsad.ingest import ingest_article
from marsad.storage.feeds import note_entry_failure, settle_feed_entry
from marsad.storage.transactions import write_transaction
from marsad.times import utc_now

if TYPE_CHECKING:
    from scrapy.crawler import Crawler
    from sqlite_utils import Database

    from marsad.alerts.matching import RuleIndex
    from marsad.crawler.poll import Poll
    from marsad.ingest import IngestResult

logger = logging.getLogger(__name__)

BATCH_ARTICLES = 50
BATCH_SECONDS = 0.2

# Sent (with ``rules=``, a RuleIndex) by CrawlEngine.replace_rules when the daemon reloads its
# config: each article is matched against the rules in force when its write runs, so an article
# in flight meets the old index or the new one, never parts of each.
rules_replaced = object()


@dataclass
class _Pending:
    write: Callable[[], Any]
    done: asyncio.Future[Any]


def release_item(crawler: Crawler, item: ArticleItem | EntryNotStored) -> None:
    """A pipeline is done with ``item`` (stored, handed on or reported): its URL may be fetched
    for another feed, and its unit of the poll closes."""
    release = getattr(crawler.spider, "release_following", None)
    if release is not None:
        release(item.followed)
    if item.poll is not None:
        item.poll.close()


class StorePipeline:
    """Stores, matches and alerts on each article, on the caller's store connection.

    Counts go into the crawl's stats under ``marsad/`` and into the item's poll; a failure to
    store one article is a problem reported and counted, and does not stop the others. An article
    stored settles its feed entry in the same savepoint; one that fails leaves the entry owed
    (with the reason), so a later poll tries it again.
    """

    def __init__(
        self,
        crawler: Crawler,
        store: Database,
        rules: RuleIndex,
        *,
        batch_articles: int = BATCH_ARTICLES,
        batch_seconds: float = BATCH_SECONDS,
    ) -> None:
        self.crawler = crawler
        self.store = store
        self.rules = rules
        self.batch_articles = batch_articles
        self.batch_seconds = batch_seconds
        self._pending: list[_Pending] = []
        self._timer: asyncio.TimerHandle | None = None

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> StorePipeline:
        pipeline = cls(crawler, shared_store(crawler.settings), shared_rules(crawler.settings))
        crawler.signals.connect(pipeline.use_rules, signal=rules_replaced)
        return pipeline

    def use_rules(self, rules: RuleIndex) -> None:
        """The rules articles are matched against from the next write on (a reload)."""
        self.rules = rules

    async def process_item(self, item: Any) -> Any:
        if isinstance(item, ArticleItem | EntryNotStored):
            try:
                if isinstance(item, ArticleItem):
                    await self._ingest(item)
                else:
                    self._inc(item.poll, "entries_retrying")
                    await self._note_failure(item.feed_id, item.entry_key, item.reason)
            finally:
                release_item(self.crawler, item)
        return item

    def close_spider(self) -> None:
        self._flush()

    async def _ingest(self, item: ArticleItem) -> None:
        feed_id = item.article.feed_id

        def write() -> IngestResult:
            result = ingest_article(self.store, item.article, self.rules, prepared=item.prepared)
            if item.entry_key is not None and feed_id is not None:
                settle_feed_entry(self.store, feed_id, item.entry_key)
            return result

        try:
            result: IngestResult = await self._batched(write)
        except Exception as exc:  # one bad article must not lose the rest of the crawl
            message = f"feed {item.feed_name!r}: article {item.article.url}: cannot store: {exc!r}"
            problem = Problem(ARTICLE_NOT_STORED, message, item.feed_name)
            report_problem(self.crawler, problem, logger, exc_info=True)
            self._inc(item.poll, "articles_failed")
            if item.entry_key is not None and feed_id is not None:
                await self._note_failure(feed_id, item.entry_key, f"cannot store: {exc!r}")
            return
        self._inc(item.poll, f"articles_{result.status}")
        self._inc(item.poll, "alerts_queued", result.alerts_queued)
        if result.status == "copy":
            note_copy(self.crawler, self.store, result.article_id)

    async def _note_failure(self, feed_id: int, key: str, reason: str) -> None:
        def write() -> None:
            note_entry_failure(self.store, feed_id, key, reason=reason, now=utc_now())

        try:
            await self._batched(write)
        except Exception:  # the entry stays owed with its earlier reason; nothing is lost
            logger.warning("cannot note why an entry was not stored", exc_info=True)

    def _batched(self, write: Callable[[], Any]) -> asyncio.Future[Any]:
        """``write`` done in the next batch's transaction; its result (or error) once committed."""
        loop = asyncio.get_running_loop()
        pending = _Pending(write, loop.create_future())
        self._pending.append(pending)
        if len(self._pending) >= self.batch_articles:
            self._flush()
        elif self._timer is None:
            self._timer = loop.call_later(self.batch_seconds, self._flush)
        return pending.done

    def _flush(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        batch, self._pending = self._pending, []
        if not batch:
            return
        outcomes: list[tuple[bool, Any]] = []
        try:
            with write_transaction(self.store):
                for pending in batch:
                    try:
                        with write_transaction(self.store):  # a savepoint: rolled back alone
                            outcomes.append((True, pending.write()))
                    except Exception as exc:
                        outcomes.append((False, exc))
        except Exception as exc:  # the commit failed: nothing of this batch is stored
            outcomes = [(False, exc)] * len(batch)
        for pending, (ok, value) in zip(batch, outcomes, strict=True):
            if pending.done.done():
                continue
            if ok:
                pending.done.set_result(value)
            else:
                pending.done.set_exception(value)

    def _inc(self, poll: Poll | None, key: str, count: int = 1) -> None:
        if count:
            self.crawler.stats.inc_value(f"marsad/{key}", count)
            if poll is not None:
                poll.count(key, count)
