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
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from marsad.scheduler.reactor import run_on_reactor

if TYPE_CHECKING:
    from collections.abc import Callable

    from apscheduler.schedulers.asyncio import AsyncIOScheduler

    from marsad.alerts.delivery import DeliverySession
    from marsad.config import Config
    from marsad.crawler.poll import CrawlReport
    from marsad.scheduler.jobs import JobContext
    from marsad.scheduler.logs import FirstRound
    from marsad.scheduler.maintenance import PruneSchedule
    from marsad.scheduler.reload import ReloadPlan

log = logging.getLogger("marsad.daemon")

# How long a graceful stop waits for in-flight crawls and deliveries before stopping the
# crawler engine (which closes spiders cleanly; the outbox keeps anything not yet sent).
SHUTDOWN_GRACE_SECONDS = 60.0
FORCED_EXIT_CODE = 130


def run_daemon(config: Config, *, db_override: str | None = None) -> int:
    """Run the daemon until a signal stops it; 2 at once when another one watches the store.

    The store's daemon lock is taken before anything starts and held until the process ends.
    ``marsad crawl`` and ``marsad deliver`` need no lock: delivery claims each alert it sends.
    SIGHUP re-reads ``config.source_path`` (with ``db_override``, the ``--db`` it started with):
    :mod:`marsad.scheduler.reload`.
    """
    from marsad.storage.daemon_lock import DaemonLock, StoreInUse

    try:
        lock = DaemonLock.acquire(config.store_path)
    except StoreInUse as exc:
        print(f"marsad: {exc}", file=sys.stderr)
        return 2
    with lock:
        return run_on_reactor(lambda: _daemon_main(config, db_override=db_override))


def crawl_once(
    config: Config,
    *,
    force: bool = False,
    on_report: Callable[[CrawlReport], None] | None = None,
) -> int:
    """``marsad crawl``: every feed once (``force``: those backing off too), then delivery of
    what is due and of the digests of periods that have ended, on a reactor started for it;
    ``on_report`` is given the crawl's report; returns the crawl's exit code
    (``jobs.crawl_exit_code``)."""
    return run_on_reactor(lambda: _crawl_once_main(config, force=force, on_report=on_report))


async def build_context(
    config: Config, *, warm_workers: bool = False, crawls: bool = True
) -> JobContext:
    """The daemon's objects: its one store connection (feeds registered once, here), the
    compiled rules and the crawl engine, started; without ``crawls`` no engine (the cluster's
    writer stores what fetchers send)."""
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
        engine = CrawlEngine(db=db, rules=rules, crawl=config.crawl) if crawls else None
        if engine is not None:
            await engine.start(warm_workers=warm_workers)
    except BaseException:
        db.close()
        raise
    # The CLI refused to start with a channel's secret unset (marsad/cli/common.py).
    delivery = open_delivery(config.channels, config.delivery)
    return JobContext(config=config, engine=engine, db=db, rules=rules, delivery=delivery)


async def close_context(ctx: JobContext) -> None:
    try:
        if ctx.engine is not None:
            await ctx.engine.stop()
    finally:
        try:
            await ctx.delivery.aclose()
        finally:
            ctx.db.close()


async def _crawl_once_main(
    config: Config, *, force: bool, on_report: Callable[[CrawlReport], None] | None
) -> int:
    from marsad.scheduler.crosslingual import link_after_crawl, prepare_crawl
    from marsad.scheduler.digests import close_digests_job
    from marsad.scheduler.jobs import crawl_all, crawl_exit_code

    ctx = await build_context(config)
    try:
        # Linking on or off, said before the crawl (its alerts wait for their check), and the
        # linking pass after it, then delivery of what it let through (#17).
        prepare_crawl(ctx)
        report = await crawl_all(ctx, force=force)
        await link_after_crawl(ctx)
        # Digests of periods that have ended, closed after the crawl (their stories count the
        # outlets it found) and sent at once: a cron job running only `marsad crawl` sends
        # them as the daemon's digest job would.
        await close_digests_job(ctx)
    finally:
        await close_context(ctx)
    if on_report is not None:
        on_report(report)
    return crawl_exit_code(report)


async def _daemon_main(config: Config, *, db_override: str | None = None) -> int:
    from apscheduler.schedulers.asyncio import AsyncIOScheduler

    from marsad.scheduler.first_polls import first_poll_times
    from marsad.scheduler.logs import FirstRound
    from marsad.scheduler.maintenance import prune_schedule, prune_wanted
    from marsad.scheduler.schedule import (
        record_next_polls,
        schedule_crosslingual,
        schedule_delivery,
        schedule_digests,
        schedule_feeds,
        schedule_prune,
    )
    from marsad.scheduler.services import ProbeListenError, Services, start_services

    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    # Set by SIGHUP, cleared when a reload starts: one arriving during a reload is one more
    # reload after it, never one beside it.
    reload_wanted = asyncio.Event()
    # Before anything starts: a stop asked for while the daemon starts is a graceful one too,
    # and a reload asked for then is done once it runs (SIGHUP's default would end it).
    handle_stop_signals(
        stop,
        stopping="in-flight crawls and deliveries finish",
        forcing="undelivered alerts stay in the outbox",
    )
    loop.add_signal_handler(signal.SIGHUP, reload_wanted.set)
    try:
        prune_times = prune_schedule(os.environ)
    except ValueError as exc:
        log.error("%s", exc)
        return 2

    ctx = await build_context(config, warm_workers=True)
    if stop.is_set():
        await close_context(ctx)
        log.info("marsad stopped before it began polling")
        return 0
    scheduler = AsyncIOScheduler(event_loop=loop, timezone=UTC)
    start = datetime.now(UTC)
    # First polls are spread so a restart does not hit every site at once; the interval's
    # jitter keeps them from lining up again.
    schedule_feeds(scheduler, ctx, config.feeds, first_poll_times(config.feeds, start))
    schedule_delivery(scheduler, ctx, config, start)
    schedule_digests(scheduler, ctx, start)
    schedule_crosslingual(scheduler, ctx, start)
    if prune_wanted(config.retention):
        first_prune = start + timedelta(seconds=prune_times.first)
        schedule_prune(scheduler, ctx, first_prune, prune_times.every)
    record_next_polls(scheduler, ctx)
    first_round = FirstRound(feed.name for feed in config.feeds)
    _report_first_round(scheduler, first_round)
    scheduler.start()
    log.info(
        "marsad running: %d feeds, %d rules, %d channels, store %s",
        len(config.feeds),
        len(config.rules),
        len(config.channels),
        config.store_path,
    )
    services: Services | None = None
    exit_code = 0
    try:
        services = await start_services(ctx, scheduler)  # probes, metrics, systemd: READY=1
    except ProbeListenError as exc:  # a port written in [http] listen is taken: say so, stop
        log.error("%s", exc)
        exit_code = 2
        stop.set()  # the same graceful stop: the jobs already started finish first
    reloader = _Reloader(ctx, scheduler, db_override, first_round, prune_times)
    reloads = loop.create_task(reloader.serve(reload_wanted, stop))
    await stop.wait()
    ctx.stopping.set()
    # A reload under way ends first (it is short: no network I/O), so the jobs it adds are
    # paused and waited for with the others.
    await reloads

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
        await ctx.crawl_engine.stop()
        await asyncio.wait(pending, timeout=SHUTDOWN_GRACE_SECONDS)
    scheduler.shutdown(wait=False)
    # Delivery sessions a reload replaced close once the pass on them ends (passes stop
    # claiming once ctx.stopping is set).
    await reloader.closed()
    if services is not None:
        await services.stop()
    await close_context(ctx)
    log.info("marsad stopped")
    return exit_code


def handle_stop_signals(stop: asyncio.Event, *, stopping: str, forcing: str) -> None:
    """SIGTERM or SIGINT sets ``stop`` (a graceful stop: ``stopping`` says what finishes); a
    second one exits at once (``forcing`` says what is kept)."""
    seen = 0

    def on_signal(signum: int) -> None:
        nonlocal seen
        seen += 1
        name = signal.Signals(signum).name
        if seen == 1:
            log.info("%s: stopping; %s (again to force)", name, stopping)
            stop.set()
        else:
            log.warning("%s again: forcing exit; %s", name, forcing)
            os._exit(FORCED_EXIT_CODE)

    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, on_signal, signum)


def _report_first_round(scheduler: AsyncIOScheduler, first_round: FirstRound) -> None:
    """Log the first round's progress (feeds polled once / all) as its polls end."""
    from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_EXECUTED, JobExecutionEvent

    from marsad.scheduler.schedule import feed_job_id

    prefix = feed_job_id("")

    def on_poll(event: JobExecutionEvent) -> None:
        if first_round.finished or not event.job_id.startswith(prefix):
            return
        line = first_round.polled(event.job_id.removeprefix(prefix))
        if line is not None:
            log.info("%s", line)

    scheduler.add_listener(on_poll, EVENT_JOB_EXECUTED | EVENT_JOB_ERROR)


class _Reloader:
    """Applies SIGHUP's reloads (:func:`marsad.scheduler.reload.plan_reload`), one at a time."""

    def __init__(
        self,
        ctx: JobContext,
        scheduler: AsyncIOScheduler,
        db_override: str | None,
        first_round: FirstRound,
        prune_times: PruneSchedule,
    ) -> None:
        self.ctx = ctx
        self.scheduler = scheduler
        self.db_override = db_override
        self.first_round = first_round
        self.prune_times = prune_times
        self._closing: set[asyncio.Task[None]] = set()

    async def serve(self, wanted: asyncio.Event, stop: asyncio.Event) -> None:
        """Reload each time ``wanted`` is set, until ``stop`` is."""
        while not stop.is_set():
            waits = {asyncio.ensure_future(wanted.wait()), asyncio.ensure_future(stop.wait())}
            _, pending = await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
            for waiting in pending:
                waiting.cancel()
            if stop.is_set():
                return
            wanted.clear()
            try:
                self.reload()
            except Exception as exc:  # the daemon goes on; what was applied stays applied
                log.exception("SIGHUP: reload failed part-way: %s", exc)

    def reload(self) -> None:
        """Read the config file again and apply what changed, or say in one line why not."""
        from marsad.config import ConfigError, load_config
        from marsad.scheduler.reload import plan_reload, reload_problem

        running = self.ctx.config
        if running.source_path is None:
            log.warning("SIGHUP: no config file to re-read; going on as before")
            return
        try:
            read = load_config(running.source_path, db_override=self.db_override)
        except ConfigError as exc:
            log.error("SIGHUP: config not reloaded, still running on the one before: %s", exc)
            return
        problem = reload_problem(read)
        if problem is not None:
            log.error("SIGHUP: config not reloaded, still running on the one before: %s", problem)
            return
        plan = plan_reload(running, read)
        self.apply(plan)
        if plan.needs_restart:
            log.warning("%s", plan.summary())
        else:
            log.info("%s", plan.summary())

    def apply(self, plan: ReloadPlan) -> None:
        """What can fail (compiling rules, the store) before anything changes; then the jobs,
        the engine's rules and the delivery session."""
        from marsad.alerts.delivery import open_delivery
        from marsad.alerts.matching import compile_rules
        from marsad.scheduler.first_polls import first_poll_times
        from marsad.scheduler.schedule import (
            DELIVERY_JOB_ID,
            schedule_feeds,
            unschedule_feeds,
        )
        from marsad.storage.feeds import (
            feed_states,
            record_next_poll,
            retire_feeds_except,
            upsert_feed,
        )
        from marsad.storage.transactions import write_transaction
        from marsad.times import utc_now

        ctx, config = self.ctx, plan.config
        rules = compile_rules(config.rules, alerts=config.alerts) if plan.rules_changed else None
        if plan.feeds_touched:
            # New feeds registered, changed URLs start fresh, removed feeds retired (and
            # without a next poll, which `marsad feeds` would show in the past): one
            # transaction, so a store that refuses leaves the old feeds running as they were.
            stamp = utc_now()
            with write_transaction(ctx.db):
                for feed in (*plan.feeds_added, *plan.feeds_changed):
                    upsert_feed(ctx.db, feed.name, feed.url, stamp)
                retire_feeds_except(ctx.db, [feed.name for feed in config.feeds], stamp)
                for state in feed_states(ctx.db, plan.feeds_removed).values():
                    record_next_poll(ctx.db, state.id, None)
        ctx.config = config

        if plan.feeds_touched:
            renewed = [*plan.feeds_added, *plan.feeds_changed]
            # A poll running for a removed or changed feed finishes; none starts after.
            unschedule_feeds(
                self.scheduler, [*plan.feeds_removed, *(f.name for f in plan.feeds_changed)]
            )
            now = datetime.now(UTC)
            schedule_feeds(self.scheduler, ctx, renewed, first_poll_times(renewed, now))
            self.first_round.add(f.name for f in plan.feeds_added)
            line = self.first_round.drop(plan.feeds_removed)
            if line is not None:
                log.info("%s", line)

        if rules is not None:
            if ctx.engine is not None:
                ctx.engine.replace_rules(rules)
            ctx.rules = rules

        if plan.delivery_changed:
            replaced = ctx.delivery
            ctx.delivery = open_delivery(config.channels, config.delivery)
            ctx.delivery.on_settled = replaced.on_settled  # the metrics count its sends too
            closing = asyncio.get_running_loop().create_task(self._close_after_pass(replaced))
            self._closing.add(closing)
            closing.add_done_callback(self._closing.discard)
        if plan.delivery_every_changed:
            from apscheduler.triggers.interval import IntervalTrigger

            self.scheduler.reschedule_job(
                DELIVERY_JOB_ID, trigger=IntervalTrigger(seconds=config.delivery.every)
            )
        if plan.retention_changed:
            self._reschedule_prune(config)

    def _reschedule_prune(self, config: Config) -> None:
        from marsad.scheduler.maintenance import PRUNE_JOB_ID, prune_wanted
        from marsad.scheduler.schedule import schedule_prune

        scheduled = self.scheduler.get_job(PRUNE_JOB_ID) is not None
        if prune_wanted(config.retention) and not scheduled:
            first = datetime.now(UTC) + timedelta(seconds=self.prune_times.first)
            schedule_prune(self.scheduler, self.ctx, first, self.prune_times.every)
        elif not prune_wanted(config.retention) and scheduled:
            self.scheduler.remove_job(PRUNE_JOB_ID)

    async def _close_after_pass(self, session: DeliverySession) -> None:
        # A pass takes the lock and reads ctx.delivery inside it: the next one uses the new
        # session, and the one running on the old session ends before the old one closes.
        async with self.ctx.delivery_lock:
            pass
        try:
            await session.aclose()
        except Exception as exc:  # its senders are gone either way
            log.warning("closing the replaced delivery session: %s: %s", type(exc).__name__, exc)

    async def closed(self) -> None:
        """Wait until the delivery sessions reloads replaced are closed."""
        if self._closing:
            await asyncio.wait(set(self._closing), timeout=SHUTDOWN_GRACE_SECONDS)
