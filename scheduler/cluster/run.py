"""``marsad run --role scheduler|fetcher|writer``: one role of the cluster in this process.

Each role runs until SIGTERM or SIGINT (a second one forces the exit): the fetcher stops taking
jobs, lets its polls under way finish (within a grace) and leaves, so what it did not start is
handed on at once; the writer finishes the batch it is storing; the scheduler stops sending.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from marsad.scheduler.reactor import run_on_reactor

if TYPE_CHECKING:
    from collections.abc import Callable

    from redis.asyncio import Redis

    from marsad.config import Config
    from marsad.scheduler.cluster.probes import RoleProbes
    from marsad.scheduler.probes import ProbeServer

log = logging.getLogger("marsad.cluster")

ROLES = ("scheduler", "fetcher", "writer")
# How long the scheduler waits for the writer to create the store and register the feeds.
STORE_WAIT_SECONDS = 600.0


def run_role(config: Config, role: str, *, ident: str | None = None) -> int:
    """Run ``role`` until a signal stops it; 2 on a configuration problem said in one line."""
    from marsad.scheduler.cluster.link import ClusterConfigError

    if config.cluster is None:
        where = f" in {config.source_path}" if config.source_path else ""
        print(
            f"marsad: --role {role} needs a [cluster] section with redis_url{where}",
            file=sys.stderr,
        )
        return 2
    if role == "writer":
        from marsad.storage.daemon_lock import DaemonLock, StoreInUse

        try:
            lock = DaemonLock.acquire(config.store_path)
        except StoreInUse as exc:
            print(f"marsad: {exc}", file=sys.stderr)
            return 2
        with lock:
            return run_on_reactor(lambda: _main(config, role, ident))
    try:
        return run_on_reactor(lambda: _main(config, role, ident))
    except ClusterConfigError as exc:
        print(f"marsad: {exc}", file=sys.stderr)
        return 2


async def _main(config: Config, role: str, ident: str | None) -> int:
    from marsad.scheduler.cluster.link import ClusterConfigError, connect, is_refused_login
    from marsad.scheduler.daemon import handle_stop_signals

    assert config.cluster is not None
    stop = asyncio.Event()
    handle_stop_signals(
        stop,
        stopping="the work under way finishes",
        forcing="what is not stored stays in Redis",
    )
    try:
        redis = connect(config.cluster)
    except ClusterConfigError as exc:
        log.error("%s", exc)
        return 2
    try:
        if role == "fetcher":
            return await _fetcher(config, redis, ident, stop)
        if role == "scheduler":
            return await _scheduler(config, redis, ident, stop)
        return await _writer(config, redis, stop)
    except Exception as exc:
        if not is_refused_login(exc):
            raise
        variable = config.cluster.password_env
        how = f"the password in ${variable}" if variable else "no password (cluster.password_env)"
        log.error("cluster.redis_url %s: redis refused %s: %s", config.cluster.redis_url, how, exc)
        return 2
    finally:
        await redis.aclose()


async def _fetcher(config: Config, redis: Redis, ident: str | None, stop: asyncio.Event) -> int:
    from marsad.alerts.matching import compile_rules
    from marsad.crawler.engine import CrawlEngine
    from marsad.scheduler.cluster.fetcher import Fetcher, fetcher_ident
    from marsad.scheduler.cluster.probes import RoleProbes

    fetcher = Fetcher(config, redis, ident or fetcher_ident())
    # No rules: articles are matched by the writer, as they are stored.
    engine = CrawlEngine(
        db=None,
        rules=compile_rules((), alerts=config.alerts),
        crawl=config.crawl,
        components=fetcher.components(),
    )
    await engine.start(warm_workers=True)
    probes = RoleProbes(asyncio.get_running_loop(), config, "fetcher")
    fetcher.on_contact = probes.contacted
    server = _probes(config, probes, fetcher.figures, engine)
    log.info("marsad fetcher %s running", fetcher.ident)
    try:
        await fetcher.run(engine, stop)
    finally:
        probes.stopping = True
        await engine.stop()
        if server is not None:
            await asyncio.to_thread(server.stop)
    log.info("marsad fetcher %s stopped", fetcher.ident)
    return 0


async def _scheduler(config: Config, redis: Redis, ident: str | None, stop: asyncio.Event) -> int:
    from marsad.scheduler.cluster.probes import RoleProbes
    from marsad.scheduler.cluster.scheduler_role import ClusterScheduler
    from marsad.storage.feeds import feed_states
    from marsad.storage.status import open_reader

    # The writer creates the store and registers the feeds; the scheduler only reads it.
    loop = asyncio.get_running_loop()
    deadline = loop.time() + STORE_WAIT_SECONDS
    names = [feed.name for feed in config.feeds]
    said = False
    while True:
        try:
            db = open_reader(config.store_path)
            if len(feed_states(db, names)) == len(names):
                break
            db.close()
        except Exception as exc:
            if not said:
                log.info("waiting for the writer to open %s: %s", config.store_path, exc)
                said = True
        if stop.is_set() or loop.time() > deadline:
            log.error(
                "the store %s has not got the config's feeds: is a writer running?",
                config.store_path,
            )
            return 2
        await asyncio.sleep(0.5)
    scheduler = ClusterScheduler(config, db, redis, ident or f"scheduler-{os.getpid()}")
    probes = RoleProbes(asyncio.get_running_loop(), config, "scheduler")
    scheduler.on_contact = probes.contacted
    server = _probes(config, probes, scheduler.figures, None)
    log.info("marsad scheduler running: %d feeds", len(config.feeds))
    try:
        await scheduler.run(stop)
    finally:
        probes.stopping = True
        db.close()
        if server is not None:
            await asyncio.to_thread(server.stop)
    log.info("marsad scheduler stopped")
    return 0


async def _writer(config: Config, redis: Redis, stop: asyncio.Event) -> int:
    from apscheduler.schedulers.asyncio import AsyncIOScheduler

    from marsad.scheduler.cluster.writer import ClusterWriter
    from marsad.scheduler.daemon import build_context, close_context
    from marsad.scheduler.jobs import deliver_pending
    from marsad.scheduler.maintenance import prune_schedule, prune_wanted
    from marsad.scheduler.schedule import (
        schedule_crosslingual,
        schedule_delivery,
        schedule_digests,
        schedule_prune,
    )
    from marsad.scheduler.services import ProbeListenError, start_services

    try:
        prune_times = prune_schedule(os.environ)
    except ValueError as exc:
        log.error("%s", exc)
        return 2
    ctx = await build_context(config, crawls=False)
    loop = asyncio.get_running_loop()
    scheduler = AsyncIOScheduler(event_loop=loop, timezone=UTC)
    start = datetime.now(UTC)
    schedule_delivery(scheduler, ctx, config, start)
    schedule_digests(scheduler, ctx, start)
    # Cross-lingual linking: the writer is the one process that writes the store.
    schedule_crosslingual(scheduler, ctx, start)
    if prune_wanted(config.retention):
        schedule_prune(
            scheduler, ctx, start + timedelta(seconds=prune_times.first), prune_times.every
        )
    scheduler.start()
    deliveries: set[asyncio.Task[object]] = set()

    def deliver_now() -> None:
        if not deliveries:  # one at a time; the next batch's alerts go with the job's pass
            task = loop.create_task(deliver_pending(ctx))
            deliveries.add(task)
            task.add_done_callback(deliveries.discard)

    writer = ClusterWriter(ctx, redis, on_alerts=deliver_now)
    exit_code = 0
    services = None
    try:
        services = await start_services(ctx, scheduler)
    except ProbeListenError as exc:
        log.error("%s", exc)
        exit_code = 2
        stop.set()
    log.info("marsad writer running: store %s", config.store_path)
    try:
        await writer.run(stop)
    finally:
        ctx.stopping.set()
        scheduler.pause()
        pending = set(ctx.inflight) | deliveries
        if pending:
            await asyncio.wait(pending, timeout=60.0)
        scheduler.shutdown(wait=False)
        if services is not None:
            await services.stop()
        await close_context(ctx)
    log.info("marsad writer stopped")
    return exit_code


def _probes(
    config: Config, probes: RoleProbes, figures: Callable[[], dict[str, Any]], engine: Any
) -> ProbeServer | None:
    """The role's probes, or None when ``[http] listen`` is off or cannot be had (logged: a
    fetcher without probes still fetches)."""
    from marsad.scheduler.cluster.probes import start_role_probes
    from marsad.scheduler.services import ProbeListenError

    def crawler() -> Any:
        try:
            return engine.crawler
        except Exception:
            return None

    try:
        server = start_role_probes(config, probes, figures, crawler if engine is not None else None)
    except ProbeListenError as exc:
        log.error("%s; going on without probes", exc)
        return None
    if server is not None:
        log.info("probes at %s/healthz, /readyz and /metrics", server.url)
    return server
