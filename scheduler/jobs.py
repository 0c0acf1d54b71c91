"""The daemon's jobs: plain coroutines that take what they need as arguments.

APScheduler's asyncio executor awaits them on the reactor's loop; they must stay ``async def``
(a plain function would be sent to a thread, where Scrapy silently scrapes nothing).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from marsad.alerts.delivery import DrainReport
from marsad.crawler.config import FeedConfig
from marsad.crawler.poll import CrawlReport
from marsad.scheduler.health import check_delivery, check_feeds
from marsad.scheduler.intervals import adapt, take_note

if TYPE_CHECKING:
    from sqlite_utils import Database

    from marsad.alerts.delivery import DeliverySession
    from marsad.alerts.matching import RuleIndex
    from marsad.config import Config
    from marsad.crawler.engine import CrawlEngine

log = logging.getLogger("marsad.jobs")

# How long one delivery job may go on claiming alerts (its sends in flight then settle): a
# backlog of thousands is sent over several runs rather than holding up shutdown.
DRAIN_SECONDS = 300.0


@dataclass
class JobContext:
    """What every job shares for the life of the daemon."""

    config: Config
    # The one crawler, started once, every poll on it; None for the cluster's writer, which
    # stores what fetchers send (marsad.scheduler.cluster.writer).
    engine: CrawlEngine | None
    db: Database  # the daemon's one store connection, open for its whole life
    rules: RuleIndex  # compiled once, at start
    delivery: DeliverySession  # its senders (HTTP clients, TLS) kept for the daemon's life
    # One delivery pass at a time in this process: claims keep passes from sending an alert
    # twice; this keeps the process's sends in flight within one pass's bounds, which the
    # claims' lease is derived from.
    delivery_lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    # Set when the daemon is asked to stop: a delivery running claims nothing more.
    stopping: asyncio.Event = field(default_factory=asyncio.Event)
    inflight: set[asyncio.Task[Any]] = field(default_factory=set)
    # The interval (s) each feed's last poll decided, until the schedule's listener moves the
    # feed's job to it (marsad.scheduler.schedule.record_next_polls).
    decided_intervals: dict[str, float] = field(default_factory=dict)

    @property
    def crawl_engine(self) -> CrawlEngine:
        if self.engine is None:
            raise RuntimeError("this process has no crawl engine (the cluster's writer)")
        return self.engine


async def poll_feed(ctx: JobContext, feed: FeedConfig) -> CrawlReport | None:
    """Crawl one feed, then deliver whatever it queued without waiting for the next pass."""
    report: CrawlReport | None = None
    with _tracked(ctx):
        try:
            report = await ctx.crawl_engine.crawl([feed])
        except Exception:
            log.exception("feed %s (%s): crawl failed", feed.name, feed.url)
            return None
        # An unchanged feed's poll (most of them) at DEBUG: 750 feeds every 30 s would write two
        # million lines a day that say nothing; `marsad feeds` shows each feed's last fetch.
        log.log(
            logging.INFO if _eventful(report) else logging.DEBUG,
            "feed %s: %d new, %d copies, %d known, %d not stored (retried next poll), "
            "%d alerts queued%s",
            feed.name,
            report.articles_new,
            report.articles_copy,
            report.articles_known,
            report.articles_failed,
            report.alerts_queued,
            # Each problem had its own line where it arose: counted here, not repeated.
            f"; {len(report.errors)} problems (logged above)" if report.errors else "",
        )
        told = after_poll(ctx, [feed], datetime.now(UTC))
        if report.alerts_queued or told:
            await deliver_pending(ctx)
    return report


def _eventful(report: CrawlReport) -> bool:
    """Whether a poll found, failed or queued anything worth an INFO line."""
    return bool(
        report.articles_new
        or report.articles_copy
        or report.articles_failed
        or report.alerts_queued
        or report.errors
        or report.feeds_failed
    )


def after_poll(ctx: JobContext, feeds: Sequence[FeedConfig], now: datetime) -> int:
    """Each feed's new interval (from what its fetch noted) and health after a poll at ``now``;
    how many health events it told. A failure here is logged: the poll's articles are stored."""
    try:
        for feed in feeds:
            interval = adapt(ctx.db, ctx.config, feed, take_note(ctx.crawl_engine, feed.name), now)
            if interval is not None:
                ctx.decided_intervals[feed.name] = interval.seconds
        return len(check_feeds(ctx.db, ctx.config, feeds, now))
    except Exception:
        log.exception("health and intervals of %d feeds not updated", len(feeds))
        return 0


async def crawl_all(ctx: JobContext, *, force: bool = False) -> CrawlReport:
    """Crawl every feed at once, then deliver in one pass (``marsad crawl --once``); ``force``
    fetches the feeds that back off too.

    All feeds in one poll (the engine spreads the requests per site), then delivery, so each
    alert already counts every outlet this run found for its story.
    """
    report = await ctx.crawl_engine.crawl(ctx.config.feeds, force=force)
    log.info(
        "crawl: %d feeds ok, %d unchanged, %d failed, %d backing off; %d new articles, "
        "%d copies, %d already stored, %d not stored (retried next time); %d entries skipped, "
        "%d given up, %d left for the next poll; %d alerts queued",
        report.feeds_ok,
        report.feeds_unchanged,
        report.feeds_failed,
        report.feeds_skipped_backoff,
        report.articles_new,
        report.articles_copy,
        report.articles_known,
        report.articles_failed,
        report.entries_skipped,
        report.entries_gave_up,
        report.entries_retrying,
        report.alerts_queued,
    )
    if report.errors:  # each had its own line where it arose
        log.info("crawl: %d problems (logged above)", len(report.errors))
    after_poll(ctx, ctx.config.feeds, datetime.now(UTC))
    await deliver_pending(ctx)
    return report


# `marsad crawl` exit codes, for cron jobs and scripts (2 is click's and ours for a usage or
# config error). Listed in the command's --help.
CRAWL_OK = 0  # every feed fetched (changed or not) and every entry it lists stored or skipped
CRAWL_ALL_FAILED = 1  # every feed that was due failed
CRAWL_PARTIAL = 3  # some feeds failed, or some entries could not be stored (retried next run)
CRAWL_NOTHING_FETCHED = 4  # every feed backs off after failures: nothing fetched (--force)


def crawl_exit_code(report: CrawlReport) -> int:
    """What one ``marsad crawl`` run tells its caller (see the CRAWL_* codes)."""
    attempted = report.feeds_ok + report.feeds_unchanged + report.feeds_failed
    if attempted == 0:
        return CRAWL_NOTHING_FETCHED if report.feeds_skipped_backoff else CRAWL_ALL_FAILED
    if report.feeds_failed == attempted:
        return CRAWL_ALL_FAILED
    if (
        report.feeds_failed
        or report.articles_failed
        or report.entries_retrying
        or report.entries_gave_up
    ):
        return CRAWL_PARTIAL
    return CRAWL_OK


async def deliver_pending(ctx: JobContext) -> DrainReport | None:
    """Deliver until nothing is due (passes of at most ``PASS_LIMIT`` alerts, within
    ``DRAIN_SECONDS``: what is left is the next run's).

    Other processes on the store may deliver too: claims keep every alert to one sender. Within
    this process one drain runs at a time, and the session runs one pass at a time, so its sends
    in flight stay within a pass's bounds (they are what the claims' lease is derived from).
    """
    with _tracked(ctx):
        async with ctx.delivery_lock:
            try:
                report = await ctx.delivery.drain(ctx.db, deadline=DRAIN_SECONDS, stop=ctx.stopping)
                # Channels failing or recovered, dead letters: told at once, in the same drain.
                if _check_delivery(ctx) and not ctx.stopping.is_set():
                    report.add(await ctx.delivery.deliver_due(ctx.db, stop=ctx.stopping))
            except Exception:
                log.exception("delivery failed; pending alerts stay in the outbox")
                return None
        if report.sent or report.retried or report.dead or report.lost:
            backlog = report.backlog
            log.info(
                "delivery: %d sent, %d to retry, %d dead%s%s",
                report.sent,
                report.retried,
                report.dead,
                f", {report.lost} taken over by another delivery" if report.lost else "",
                f"; {backlog.due} still due" if backlog is not None and backlog.due else "",
            )
        return report


def _check_delivery(ctx: JobContext) -> int:
    try:
        return len(check_delivery(ctx.db, ctx.config, datetime.now(UTC)))
    except Exception:
        log.exception("delivery health not checked")
        return 0


class _tracked:
    """Registers the running task as in flight, so shutdown can wait for it."""

    def __init__(self, ctx: JobContext) -> None:
        self._ctx = ctx
        self._task: asyncio.Task[Any] | None = None

    def __enter__(self) -> None:
        self._task = asyncio.current_task()
        if self._task is not None:
            self._ctx.inflight.add(self._task)

    def __exit__(self, *exc: object) -> None:
        if self._task is not None:
            self._ctx.inflight.discard(self._task)
