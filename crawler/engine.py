"""The crawl engine: one long-lived Scrapy crawler for the life of the process.

The daemon (and ``marsad crawl``) starts one :class:`CrawlEngine` and hands it polls: "fetch
these feeds now" (:meth:`CrawlEngine.crawl`), which returns when every feed of the poll has been
read and every article it led to is stored or reported. Many polls run at once on the one
crawler, so all feeds of a site share its downloader slot: the per-site delay and concurrency
hold across feeds, robots.txt is fetched once per site (and kept for a day), connections are
kept alive, and nothing is set up per poll but the feed's own request. Pages become articles in
worker processes (:mod:`marsad.crawler.workers`); the store has one writer, this process.

The hand-off is narrow on purpose: due feeds in (:class:`~marsad.crawler.spiders.base.FeedJob`),
articles out to the pipeline, so the queue of due feeds can later live outside the process.
A change of the ``[crawl]`` politeness settings needs a new engine (a restart).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from scrapy import signals
from scrapy.crawler import AsyncCrawlerRunner, Crawler
from scrapy.utils.misc import load_object

from marsad.crawler.pipelines import rules_replaced
from marsad.crawler.poll import CrawlReport, Poll, empty_report
from marsad.crawler.runner import crawler_settings, due_jobs
from marsad.crawler.shared import share
from marsad.crawler.signals import Problem, problem_found
from marsad.crawler.spiders import SPIDERS
from marsad.crawler.spiders.base import FeedJob, SourceSpider
from marsad.crawler.workers import PageWorkers, auto_workers

if TYPE_CHECKING:
    from sqlite_utils import Database

    from marsad.alerts.matching import RuleIndex
    from marsad.crawler.config import CrawlConfig, FeedConfig

logger = logging.getLogger(__name__)

# How long the crawler may take to start (it opens the spider, its middlewares and the store's
# components: well under a second).
START_SECONDS = 30.0
STALL_MIN_SECONDS = 600.0
STALL_TIMEOUTS = 10


class EngineStopped(RuntimeError):
    """The engine is not running (not started, stopped, or its crawler failed)."""


class CrawlEngine:
    """``engine = CrawlEngine(db=..., rules=..., crawl=...); await engine.start()``, then
    ``await engine.crawl(feeds)`` as often as needed, concurrently too; ``await engine.stop()``.

    ``db`` is the caller's open store (feeds registered: :func:`~marsad.crawler.runner.
    register_feeds`); ``spiders`` maps each feed ``kind`` to the import path of the spider
    class whose ``read_source`` reads it; ``workers`` is the number of worker processes (None:
    one per core, :func:`~marsad.crawler.workers.auto_workers`; 0: in this process).
    """

    def __init__(
        self,
        *,
        db: Database | None,
        rules: RuleIndex,
        crawl: CrawlConfig,
        spiders: Mapping[str, str] = SPIDERS,
        workers: int | None = None,
        components: Mapping[str, Any] | None = None,
    ) -> None:
        self.db = db
        # Settings that replace the store's components (a fetcher's pipeline and extensions
        # hand items and outcomes on instead of writing them: marsad.scheduler.cluster).
        self.components = dict(components or {})
        self.rules = rules
        self.crawl_config = crawl
        self.kinds = dict(spiders)
        count = crawl.workers if workers is None else workers
        self.workers = PageWorkers(auto_workers() if count is None else count)
        self._crawler: Crawler | None = None
        self._task: asyncio.Task[None] | None = None
        self._polls: set[Poll] = set()
        self._opened: asyncio.Future[None] | None = None
        # A poll in which nothing moved for this long has lost a unit of work (a bug, not a
        # slow site: every request ends within its timeout, retries and redirects included).
        self.stall_seconds = max(STALL_MIN_SECONDS, STALL_TIMEOUTS * crawl.download_timeout)

    @property
    def crawler(self) -> Crawler:
        if self._crawler is None:
            raise EngineStopped("the crawl engine is not started")
        return self._crawler

    async def start(self, *, warm_workers: bool = False) -> None:
        """Start the crawler (its spider waits, idle, for polls); ``warm_workers`` starts the
        worker processes now rather than at the first page."""
        settings = crawler_settings(self.crawl_config)
        settings.setdict(self.components, priority="cmdline")
        share(settings, store=self.db, rules=self.rules, workers=self.workers)
        readers = {kind: load_object(path) for kind, path in self.kinds.items()}
        for kind, reader in readers.items():
            if not (isinstance(reader, type) and issubclass(reader, SourceSpider)):
                raise ValueError(f"the reader of kind {kind!r} is not a SourceSpider: {reader!r}")
        runner = AsyncCrawlerRunner(settings)
        crawler = Crawler(SourceSpider, runner.settings)
        self._opened = asyncio.get_running_loop().create_future()
        crawler.signals.connect(self._spider_opened, signal=signals.spider_opened)
        crawler.signals.connect(self._spider_closed, signal=signals.spider_closed)
        crawler.signals.connect(self._problem, signal=problem_found)
        self._crawler = crawler
        if warm_workers:
            self.workers.start()
        self._task = runner.crawl(crawler, readers=readers)
        await asyncio.wait({self._task, self._opened}, return_when=asyncio.FIRST_COMPLETED)
        # The spider opens before the engine runs, and an engine stopped before it runs would
        # start afterwards and never stop: wait until it runs (a few turns of the loop).
        deadline = asyncio.get_running_loop().time() + START_SECONDS
        while (
            not self._task.done()
            and not crawler.engine.running
            and asyncio.get_running_loop().time() < deadline
        ):
            await asyncio.sleep(0.005)
        if self._task.done() or not crawler.engine.running:
            self._crawler = None
            error = self._task.exception() if self._task.done() else None
            raise EngineStopped(f"the crawler did not start: {error!r}") from error

    async def crawl(
        self,
        feeds: Sequence[FeedConfig],
        *,
        now: datetime | None = None,
        force: bool = False,
    ) -> CrawlReport:
        """One poll of ``feeds`` (those not backing off at ``now``, or all with ``force``): fetch
        each, store what it lists; returns when all of it is stored or reported."""
        if self.db is None:
            raise EngineStopped("an engine without the store runs the jobs it is given (run_jobs)")
        jobs, skipped = due_jobs(self.db, feeds, now or datetime.now(UTC), force=force)
        return await self.run_jobs(jobs, skipped)

    async def run_jobs(self, jobs: Sequence[FeedJob], skipped: int = 0) -> CrawlReport:
        """One poll of these jobs (due feeds with their state); returns when every feed has been
        read and every article it led to is handed on (stored, or for a fetcher, sent)."""
        if not jobs:
            return empty_report(skipped)
        unknown = sorted({job.feed.kind for job in jobs} - set(self.kinds))
        if unknown:
            raise ValueError(f"no spider for kind {', '.join(map(repr, unknown))}")
        spider = self._crawler.spider if self._crawler is not None else None
        if not isinstance(spider, SourceSpider) or self._task is None or self._task.done():
            raise EngineStopped("the crawl engine is not running")
        poll = Poll(job.feed.name for job in jobs)
        self._polls.add(poll)
        try:
            poll.open()  # until every job is submitted
            for job in jobs:
                spider.submit(job, poll)
            poll.close()
            if not await poll.wait(self.stall_seconds):
                message = (
                    f"poll of {', '.join(sorted(poll.feed_names))} stalled: nothing happened in "
                    f"{self.stall_seconds:.0f}s with {poll.open_units} requests or articles open; "
                    "given up (its entries not stored are fetched on the next poll)"
                )
                logger.error("%s", message)
                poll.errors.append(message)
        finally:
            self._polls.discard(poll)
        return poll.report(skipped)

    def replace_rules(self, rules: RuleIndex) -> None:
        """Match every article stored from now on against ``rules`` (a reload of the config):
        an article in flight is matched by the old rules or the new, each as a whole."""
        self.rules = rules
        if self._crawler is not None:
            self._crawler.signals.send_catch_log(rules_replaced, rules=rules)

    async def stop(self) -> None:
        """Close the spider (requests not yet sent are dropped: their entries are still owed in
        the store), wait for the crawler to end and stop the workers."""
        try:
            if self._crawler is not None and self._task is not None and not self._task.done():
                await self._crawler.stop_async()
            if self._task is not None:
                await asyncio.gather(self._task, return_exceptions=True)
        finally:
            for poll in list(self._polls):
                poll.abandon()
            self.workers.close()

    # -- signals (bound methods: receivers are weak references) ----------------------------

    def _spider_opened(self, spider: Any) -> None:
        if self._opened is not None and not self._opened.done():
            self._opened.set_result(None)

    def _spider_closed(self, spider: Any, reason: str) -> None:
        if self._polls:
            logger.info("crawl engine closed (%s) with %d polls open", reason, len(self._polls))
        for poll in list(self._polls):
            poll.abandon()

    def _problem(self, problem: Problem) -> None:
        for poll in self._polls:
            if poll.concerns(problem.feed_name):
                poll.errors.append(problem.message)
