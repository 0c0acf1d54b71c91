"""What the daemon calls: build a long-lived crawler runner, run one crawl over some feeds.

The caller installs the asyncio reactor once, opens one store, registers its feeds
(:func:`register_feeds`) and compiles its rules once, then awaits :func:`crawl_feeds` as often as
it likes on the same runner (a Twisted reactor cannot be restarted). :func:`crawl_feeds` is the
one place that creates Crawlers: one per kind of source among the feeds due.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from scrapy.crawler import AsyncCrawlerRunner, Crawler
from scrapy.settings import Settings
from scrapy.utils.misc import load_object

from marsad.crawler.config import CrawlConfig, FeedConfig
from marsad.crawler.fetch_policy import is_due
from marsad.crawler.shared import share
from marsad.crawler.signals import Problem, problem_found
from marsad.crawler.spiders import SPIDERS
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
    # Articles the store refused (their entries are tried again on later polls).
    articles_failed: int = 0
    # Entries newly skipped (they cannot be used), and newly given up (never stored).
    entries_skipped: int = 0
    entries_gave_up: int = 0
    # Entries whose page failed for now and whose feed gives no text: tried on the next poll.
    entries_retrying: int = 0


def crawler_settings(crawl: CrawlConfig) -> Settings:
    """The project settings with the politeness limits of ``crawl`` applied."""
    settings = Settings()
    settings.setmodule("marsad.crawler.settings", priority="project")
    _apply_politeness(settings, crawl)
    return settings


def make_runner(crawl: CrawlConfig) -> AsyncCrawlerRunner:
    return AsyncCrawlerRunner(crawler_settings(crawl))


def register_feeds(db: Database, feeds: Sequence[FeedConfig], now: str) -> None:
    """Register the config's feeds in the store, once, at start: a feed whose URL changed
    starts fresh, and feeds the config no longer names are retired (kept, never failing)."""
    with write_transaction(db):
        for feed in feeds:
            upsert_feed(db, feed.name, feed.url, now)
        retired = retire_feeds_except(db, [feed.name for feed in feeds], now)
    if retired:
        logger.info("feeds no longer in the config, retired: %s", ", ".join(retired))


async def crawl_feeds(
    runner: AsyncCrawlerRunner,
    *,
    db: Database,
    feeds: Sequence[FeedConfig],
    rules: RuleIndex,
    crawl: CrawlConfig,
    spiders: Mapping[str, str] = SPIDERS,
    now: datetime | None = None,
    force: bool = False,
) -> CrawlReport:
    """Run one crawl over ``feeds`` (those not backing off at ``now``, or all of them with
    ``force``) and say what happened.

    ``db`` is the caller's open store, in which the feeds are registered; ``spiders`` maps each
    feed's ``kind`` to the import path of the spider that reads it.
    """
    jobs, skipped = _due_jobs(db, feeds, now or datetime.now(UTC), force=force)
    if not jobs:
        return CrawlReport(
            feeds_ok=0,
            feeds_failed=0,
            feeds_unchanged=0,
            feeds_skipped_backoff=skipped,
            articles_new=0,
            articles_copy=0,
            articles_known=0,
            alerts_queued=0,
            errors=(),
        )
    by_kind: dict[str, list[FeedJob]] = {}
    for job in jobs:
        by_kind.setdefault(job.feed.kind, []).append(job)
    unknown = sorted(set(by_kind) - set(spiders))
    if unknown:
        raise ValueError(f"no spider for kind {', '.join(map(repr, unknown))}")
    # Each crawl gets the runner's settings with this crawl's limits, so a config reload counts.
    settings = runner.settings.copy()
    _apply_politeness(settings, crawl)
    share(settings, store=db, rules=rules)
    crawlers = [
        (Crawler(load_object(spiders[kind]), settings), tuple(kind_jobs))
        for kind, kind_jobs in by_kind.items()
    ]
    problems = _Problems()
    for crawler, _ in crawlers:
        crawler.signals.connect(problems.receive, signal=problem_found)
    try:
        outcomes = await asyncio.gather(
            *(runner.crawl(crawler, jobs=kind_jobs) for crawler, kind_jobs in crawlers),
            return_exceptions=True,
        )
    finally:
        for crawler, _ in crawlers:
            crawler.signals.disconnect(problems.receive, signal=problem_found)
    errors = list(problems.messages)
    for (_, kind_jobs), outcome in zip(crawlers, outcomes, strict=True):
        if isinstance(outcome, Exception):  # the daemon keeps scheduling; the report says it
            logger.error("crawl of %d feeds failed", len(kind_jobs), exc_info=outcome)
            errors.append(f"crawl failed: {outcome!r}")
        elif isinstance(outcome, BaseException):
            raise outcome
    counts = _marsad_counts([crawler for crawler, _ in crawlers])

    def count(key: str) -> int:
        return int(counts.get(key, 0))

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
        articles_failed=count("articles_failed"),
        entries_skipped=count("entries_skipped"),
        entries_gave_up=count("entries_gave_up"),
        entries_retrying=count("entries_retrying"),
    )


class _Problems:
    """Collects the messages of the problem_found signal while the runner awaits the crawl.

    Signal receivers are weak references: this object is held by crawl_feeds until the crawl is
    over, so its bound method stays connected for exactly that long.
    """

    def __init__(self) -> None:
        self.messages: list[str] = []

    def receive(self, problem: Problem) -> None:
        self.messages.append(problem.message)


def _due_jobs(
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


def _marsad_counts(crawlers: Sequence[Crawler]) -> dict[str, Any]:
    """The ``marsad/`` stats of these crawlers, summed, without the prefix."""
    counts: dict[str, Any] = {}
    for crawler in crawlers:
        try:
            stats = crawler.stats.get_stats()
        except RuntimeError:  # the crawl failed before it had stats
            continue
        for key, value in stats.items():
            if key.startswith("marsad/") and isinstance(value, int | float):
                name = key.removeprefix("marsad/")
                counts[name] = counts.get(name, 0) + value
    return counts


def _apply_politeness(settings: Settings, crawl: CrawlConfig) -> None:
    from marsad.crawler.guard import ALLOW_PRIVATE_SETTING

    settings.setdict(
        {
            "USER_AGENT": crawl.user_agent,
            "ROBOTSTXT_OBEY": crawl.obey_robots,
            "DOWNLOAD_TIMEOUT": crawl.download_timeout,
            "DNS_TIMEOUT": crawl.download_timeout,
            "DOWNLOAD_MAXSIZE": crawl.max_page_bytes,
            "CONCURRENT_REQUESTS_PER_DOMAIN": crawl.concurrency_per_domain,
            "DOWNLOAD_DELAY": crawl.delay,
            MAX_ARTICLES_SETTING: crawl.max_articles_per_feed,
            MAX_BACKOFF_SETTING: crawl.max_backoff,
            ALLOW_PRIVATE_SETTING: list(crawl.allow_private),
        },
        priority="project",
    )
