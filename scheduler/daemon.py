"""``marsad run`` and ``marsad crawl``: build the objects, register the jobs, run.

One process, Scrapy's asyncio reactor started once, one crawl engine for the process's life (one
crawler: every feed of a site shares its downloader slot; :mod:`marsad.crawler.engine`), and an
APScheduler AsyncIOScheduler (its jobs are coroutines on the reactor's loop; in a thread pool Scrapy
silently scrapes nothing) with one job per feed plus a delivery job. One daemon per store: it
holds a lock beside the store for its whole life (:mod:`storage.daemon_lock`).
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from marsad.scheduler.reactor import run_on_reactor

if TYPE_CHECKING:
    from collections.abc import Callable

    from marsad.config import Config
    from marsad.crawler.poll import CrawlReport
    from marsad.scheduler.jobs import JobContext

log = logging.getLogger("marsad.daemon")

# How long a graceful stop waits for in-flight crawls and deliveries before stopping the
# crawler engine (which closes spiders cleanly; the outbox keeps anything not yet sent).
SHUTDOWN_GRACE_SECONDS = 60.0
FORCED_EXIT_CODE = 130


def run_daemon(config: Config) -> int:
    """Run the daemon until a signal stops it; 2 at once when another one watches the store.

    The store's daemon lock is taken before anything starts and held until the process ends.
    ``marsad crawl`` and ``marsad deliver`` need no lock: delivery claims each alert it sends.
    """
    from marsad.storage.daemon_lock import DaemonLock, StoreInUse

    try:
        lock = DaemonLock.acquire(config.store_path)
    except StoreInUse as exc:
        print(f"marsad: {exc}", file=sys.stderr)
        return 2
    with lock:
        return run_on_reactor(lambda: _daemon_main(config))


def crawl_once(
    config: Config,
    *,
    force: bool = False,
    on_report: Callable[[CrawlReport], None] | None = None,
) -> int:
    """``marsad crawl``: every feed once (``force``: those backing off too), then delivery of
    what is due, on a reactor started for it; ``on_report`` is given the crawl's report; returns
    the crawl's exit code (``jobs.crawl_exit_code``)."""
    return run_on_reactor(lambda: _crawl_once_main(config, force=force, on_report=on_report))


async def _build_context(config: Config, *, warm_workers: bool = False) -> JobContext:
    """The daemon's objects: its one store connection (feeds registered once, here), the
    compiled rules and the crawl engine, started."""
    from marsad.alerts.delivery import open_delivery
    from marsad.alerts.matching import compile_rules
    from marsad.crawler.engine import CrawlEngine
    from marsad.crawler.runner import register_feeds
    from marsad.scheduler.jobs import JobContext
    from marsad.storage.db import open_store
    from marsad.times import utc_now

    db = open_store(config.store_path)
    try:
        register_feeds(db, config.feeds, utc_now())
        rules = compile_rules(config.rules, alerts=config.alerts)
        engine = CrawlEngine(db=db, rules=rules, crawl=config.crawl)
        await engine.start(warm_workers=warm_workers)
    except BaseException:
        db.close()
        raise
    # The CLI refused to start with a channel's secret unset (marsad/cli/common.py).
    delivery = open_delivery(config.channels, config.delivery)
    return JobContext(config=config, engine=engine, db=db, rules=rules, delivery=delivery)


async def _close_context(ctx: JobContext) -> None:
    try:
        await ctx.engine.stop()
    finally:
        try:
            await ctx.delivery.aclose()
        finally:
            ctx.db.close()


async def _crawl_once_main(
    config: Config, *, force: bool, on_report: Callable[[CrawlReport], None] | None
) -> int:
    from marsad.scheduler.jobs import crawl_all, crawl_exit_code

    ctx = await _build_context(config)
    try:
        report = await crawl_all(ctx, force=force)
    finally:
        await _close_context(ctx)
    if on_report is not None:
        on_report(report)
    return crawl_exit_code(report)


async def _daemon_main(config: Config) -> int:
    from apscheduler.schedulers.asyncio import AsyncIOScheduler

    from marsad.scheduler.first_polls import first_poll_times
    from marsad.scheduler.schedule import record_next_polls, schedule_delivery, schedule_feeds

    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    signals_seen = 0

    def on_signal(signum: int) -> None:
        nonlocal signals_seen
        signals_seen += 1
        name = signal.Signals(signum).name
        if signals_seen == 1:
            log.info("%s: stopping; in-flight crawls and deliveries finish (again to force)", name)
            stop.set()
        else:
            log.warning("%s again: forcing exit; undelivered alerts stay in the outbox", name)
            os._exit(FORCED_EXIT_CODE)

    # Before anything starts: a stop asked for while the daemon starts is a graceful one too.
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, on_signal, signum)

    ctx = await _build_context(config, warm_workers=True)
    if stop.is_set():
        await _close_context(ctx)
        log.info("marsad stopped before it began polling")
        return 0
    scheduler = AsyncIOScheduler(event_loop=loop, timezone=UTC)
    start = datetime.now(UTC)
    # First polls are spread so a restart does not hit every site at once; the interval's
    # jitter keeps them from lining up again.
    schedule_feeds(scheduler, ctx, config.feeds, first_poll_times(config.feeds, start))
    schedule_delivery(scheduler, ctx, config, start)
    record_next_polls(scheduler, ctx)
    scheduler.start()
    log.info(
        "marsad running: %d feeds, %d rules, %d channels, store %s",
        len(config.feeds),
        len(config.rules),
        len(config.channels),
        config.store_path,
    )
    await stop.wait()
    ctx.stopping.set()

    # Order matters: pause scheduling, let in-flight jobs finish, only then stop
    # the crawler engine and shut the scheduler down; the reverse cancels a crawl mid-run.
    scheduler.pause()
    pending = set(ctx.inflight)
    if pending:
        log.info("waiting for %d in-flight jobs", len(pending))
        _, pending = await asyncio.wait(pending, timeout=SHUTDOWN_GRACE_SECONDS)
    if pending:
        log.warning(
            "%d jobs still running after %.0fs: stopping crawls",
            len(pending),
            SHUTDOWN_GRACE_SECONDS,
        )
        await ctx.engine.stop()
        await asyncio.wait(pending, timeout=SHUTDOWN_GRACE_SECONDS)
    scheduler.shutdown(wait=False)
    await _close_context(ctx)
    log.info("marsad stopped")
    return 0
