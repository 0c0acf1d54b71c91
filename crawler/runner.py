"""What a crawl needs before it starts: the crawler's settings from the config, the feeds
registered in the store, and which of them are due.

The caller installs the asyncio reactor once, opens one store, registers its feeds
(:func:`register_feeds`) and compiles its rules once, then starts one
:class:`~marsad.crawler.engine.CrawlEngine` (a Twisted reactor cannot be restarted) and hands
it polls for as long as it lives.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING

from scrapy.settings import Settings

from marsad.crawler.config import CrawlConfig, FeedConfig
from marsad.crawler.fetch_policy import is_due
from marsad.crawler.spiders.base import MAX_ARTICLES_SETTING, MAX_BACKOFF_SETTING, FeedJob
from marsad.storage.feeds import (
    feed_states,
    retire_feeds_except,
    retrying_entry_counts,
    upsert_feed,
)
from marsad.storage.transactions import write_transaction

if TYPE_CHECKING:
    from sqlite_utils import Database

logger = logging.getLogger(__name__)


def crawler_settings(crawl: CrawlConfig) -> Settings:
    """The project settings with the politeness limits of ``crawl`` applied."""
    settings = Settings()
    settings.setmodule("marsad.crawler.settings", priority="project")
    _apply_politeness(settings, crawl)
    return settings


def register_feeds(db: Database, feeds: Sequence[FeedConfig], now: str) -> None:
    """Register the config's feeds in the store, once, at start: a feed whose URL changed
    starts fresh, and feeds the config no longer names are retired (kept, never failing)."""
    with write_transaction(db):
        for feed in feeds:
            upsert_feed(db, feed.name, feed.url, now)
        retired = retire_feeds_except(db, [feed.name for feed in feeds], now)
    if retired:
        logger.info("feeds no longer in the config, retired: %s", ", ".join(retired))


def due_jobs(
    db: Database, feeds: Sequence[FeedConfig], now: datetime, *, force: bool = False
) -> tuple[list[FeedJob], int]:
    """The feeds not backing off at ``now`` (all with ``force``) with their stored state and
    their entries still owed, and how many feeds back off."""
    states = feed_states(db, [feed.name for feed in feeds])
    missing = [feed.name for feed in feeds if feed.name not in states]
    if missing:
        raise ValueError(
            f"feeds not registered in the store (register_feeds first): {', '.join(missing)}"
        )
    retrying = retrying_entry_counts(db, [state.id for state in states.values()])
    jobs: list[FeedJob] = []
    skipped = 0
    for feed in feeds:
        state = states[feed.name]
        if not force and not is_due(state, now):
            logger.info("feed %r backs off until %s", feed.name, state.backoff_until)
            skipped += 1
            continue
        jobs.append(FeedJob(feed=feed, state=state, retrying=retrying.get(state.id, 0)))
    return jobs, skipped


def _apply_politeness(settings: Settings, crawl: CrawlConfig) -> None:
    from marsad.crawler.guard import ALLOW_PRIVATE_SETTING

    settings.setdict(
        {
            "USER_AGENT": crawl.user_agent,
            "ROBOTSTXT_OBEY": crawl.obey_robots,
            "DOWNLOAD_TIMEOUT": crawl.download_timeout,
            "DNS_TIMEOUT": crawl.download_timeout,
            "DOWNLOAD_MAXSIZE": crawl.max_page_bytes,
            "CONCURRENT_REQUESTS": crawl.concurrency,
            "CONCURRENT_REQUESTS_PER_DOMAIN": crawl.concurrency_per_domain,
            "DOWNLOAD_DELAY": crawl.delay,
            MAX_ARTICLES_SETTING: crawl.max_articles_per_feed,
            MAX_BACKOFF_SETTING: crawl.max_backoff,
            ALLOW_PRIVATE_SETTING: list(crawl.allow_private),
        },
        priority="project",
    )
