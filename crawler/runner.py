"""What the daemon calls: build a long-lived crawler runner, run one crawl over some feeds.

The caller installs the asyncio reactor once and then awaits :func:`crawl_feeds` as often as it
likes on the same runner (a Twisted reactor cannot be restarted).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from scrapy.crawler import AsyncCrawlerRunner, Crawler
from scrapy.settings import Settings

from marsad.crawler.config import CrawlConfig, FeedConfig
from marsad.crawler.spiders.feeds import FeedJob, FeedSpider
from marsad.storage.db import open_store
from marsad.storage.feeds import get_feed_state, upsert_feed
from marsad.times import utc_now

if TYPE_CHECKING:
    from marsad.alerts.matching import RuleIndex

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class CrawlReport:
    feeds_ok: int
    feeds_failed: int
    feeds_unchanged: int
    feeds_skipped_backoff: int
    articles_new: int
    articles_copy: int
    articles_known: int
    alerts_queued: int
    errors: tuple[str, ...]


def crawler_settings(crawl: CrawlConfig) -> Settings:
    """The project settings with the politeness limits of ``crawl`` applied."""
    settings = Settings()
    settings.setmodule("marsad.crawler.settings", priority="project")
    _apply_politeness(settings, crawl)
    return settings


def make_runner(crawl: CrawlConfig) -> AsyncCrawlerRunner:
    return AsyncCrawlerRunner(crawler_settings(crawl))


async def crawl_feeds(
    runner: AsyncCrawlerRunner,
    *,
    feeds: Sequence[FeedConfig],
    store_path: Path,
    rules: RuleIndex,
    crawl: CrawlConfig,
) -> CrawlReport:
    """Run one crawl over ``feeds`` (those not backing off) and say what happened."""
    jobs, skipped = _due_jobs(feeds, store_path)
    if not jobs:
        return CrawlReport(0, 0, 0, skipped, 0, 0, 0, 0, ())
    # Each crawl gets the runner's settings with this crawl's limits, so a config reload counts.
    settings = runner.settings.copy()
    _apply_politeness(settings, crawl)
    crawler = Crawler(FeedSpider, settings)
    errors: list[str] = []
    try:
        await runner.crawl(
            crawler,
            jobs=jobs,
            store_path=store_path,
            crawl=crawl,
            rules=rules,
        )
    except Exception as exc:  # the daemon keeps scheduling; the report says what broke
        logger.exception("crawl of %d feeds failed", len(jobs))
        errors.append(f"crawl failed: {exc!r}")
    spider = getattr(crawler, "spider", None)
    if isinstance(spider, FeedSpider):
        errors[:0] = spider.errors
    stats = crawler.stats.get_stats() if crawler.stats is not None else {}

    def count(key: str) -> int:
        return int(stats.get(f"marsad/{key}", 0))

    return CrawlReport(
        feeds_ok=count("feeds_ok"),
        feeds_failed=count("feeds_failed"),
        feeds_unchanged=count("feeds_unchanged"),
        feeds_skipped_backoff=skipped,
        articles_new=count("articles_new"),
        articles_copy=count("articles_copy"),
        articles_known=count("articles_known"),
        alerts_queued=count("alerts_queued"),
        errors=tuple(errors),
    )


def _due_jobs(feeds: Sequence[FeedConfig], store_path: Path) -> tuple[tuple[FeedJob, ...], int]:
    """Register every feed; return those not backing off, and how many are."""
    now = utc_now()
    jobs: list[FeedJob] = []
    skipped = 0
    db = open_store(store_path)
    try:
        for feed in feeds:
            upsert_feed(db, feed.name, feed.url, now)
            state = get_feed_state(db, feed.name)
            assert state is not None
            # ISO-8601 UTC strings of one format compare in time order.
            if state.backoff_until and state.backoff_until > now:
                logger.info("feed %r backs off until %s", feed.name, state.backoff_until)
                skipped += 1
                continue
            jobs.append(FeedJob(feed=feed, state=state))
    finally:
        db.close()
    return tuple(jobs), skipped


def _apply_politeness(settings: Settings, crawl: CrawlConfig) -> None:
    settings.setdict(
        {
            "USER_AGENT": crawl.user_agent,
            "ROBOTSTXT_OBEY": crawl.obey_robots,
            "DOWNLOAD_TIMEOUT": crawl.download_timeout,
            "DNS_TIMEOUT": crawl.download_timeout,
            "DOWNLOAD_MAXSIZE": crawl.max_page_bytes,
            "CONCURRENT_REQUESTS_PER_DOMAIN": crawl.concurrency_per_domain,
            "DOWNLOAD_DELAY": crawl.delay,
        },
        priority="project",
    )
