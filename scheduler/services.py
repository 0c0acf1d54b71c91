"""What runs beside the daemon's jobs: the probes' HTTP server, its metrics, the scheduler's
heartbeat, the event loop's lag, the runtime file and systemd's notifications.

``services = await start_services(ctx, scheduler)`` once polling has begun (the scheduler is
started): ``READY=1``. When the daemon begins to stop (``ctx.stopping``): ``STOPPING=1``, and
/readyz says so. ``await services.stop()`` at the end of the shutdown closes the server and
removes the runtime file.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from apscheduler.jobstores.base import JobLookupError
from apscheduler.triggers.interval import IntervalTrigger

from marsad.scheduler.metrics import DaemonMetrics, ReadyCollector
from marsad.scheduler.probes import Probes, ProbeServer, probe_app
from marsad.scheduler.systemd import Notifier, watchdog_seconds
from marsad.storage.status import remove_runtime, store_identity, write_runtime
from marsad.times import to_iso

if TYPE_CHECKING:
    from pathlib import Path

    from apscheduler.schedulers.asyncio import AsyncIOScheduler
    from scrapy.crawler import Crawler

    from marsad.scheduler.jobs import JobContext

log = logging.getLogger("marsad.services")

TICK_JOB_ID = "probes:tick"
# How often the loop's lag is measured (the timer's lateness is the lag).
LAG_EVERY = 0.5


class ProbeListenError(RuntimeError):
    """The probes cannot listen where ``[http] listen`` says (the message says why)."""


@dataclass
class Services:
    probes: Probes
    metrics: DaemonMetrics
    notifier: Notifier
    server: ProbeServer | None
    scheduler: AsyncIOScheduler
    store_path: Path
    tasks: list[asyncio.Task[None]] = field(default_factory=list)
    watchdog: threading.Thread | None = None
    finished: threading.Event = field(default_factory=threading.Event)

    async def stop(self) -> None:
        """Stop pinging, stop serving, remove the runtime file (idempotent)."""
        self.begin_stopping()
        self.finished.set()
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        with contextlib.suppress(JobLookupError):  # the scheduler may be shut down already
            self.scheduler.remove_job(TICK_JOB_ID)
        if self.server is not None:
            await asyncio.to_thread(self.server.stop)
        if self.watchdog is not None:
            await asyncio.to_thread(self.watchdog.join, 5)
        remove_runtime(self.store_path, os.getpid())

    def begin_stopping(self) -> None:
        if not self.probes.stopping:
            self.probes.stopping = True
            self.notifier.notify("STOPPING=1", "STATUS=stopping: in-flight work finishes")


async def start_services(ctx: JobContext, scheduler: AsyncIOScheduler) -> Services:
    """Start everything beside the jobs; raises :class:`ProbeListenError` when the probes
    cannot listen where the config says."""
    loop = asyncio.get_running_loop()
    config = ctx.config
    store = config.store_path.resolve()
    probes = Probes(loop, store, config.http, store_inode=store_identity(store))
    metrics = DaemonMetrics(
        store, lambda: _crawler_of(ctx), channels=tuple(sorted(config.channels))
    )
    ctx.delivery.on_settled = metrics.delivery_settled
    metrics.registry.register(ReadyCollector(probes.ready))
    server = serve_probes(
        config.http.listen, config.http.listen_given, probe_app(probes, metrics.registry)
    )
    # The heartbeat /readyz asks after: a job like the others, so it stops when they do.
    every = max(0.25, min(5.0, config.http.scheduler_stale / 4))
    scheduler.add_job(
        _tick,
        IntervalTrigger(seconds=every),
        args=[probes],
        id=TICK_JOB_ID,
        name="probes heartbeat",
        max_instances=1,
        coalesce=True,
        misfire_grace_time=None,
        next_run_time=datetime.now(UTC),
        replace_existing=True,
    )
    services = Services(
        probes=probes,
        metrics=metrics,
        notifier=Notifier.from_environ(),
        server=server,
        scheduler=scheduler,
        store_path=store,
    )
    services.tasks.append(loop.create_task(_measure_lag(metrics)))
    services.tasks.append(loop.create_task(_when_stopping(ctx.stopping, services)))
    if server is not None:
        server.start()
        log.info("probes at %s/healthz, /readyz and /metrics", server.url)
    runtime = {
        "pid": os.getpid(),
        "started_at": to_iso(datetime.now(UTC)),
        "store": str(store),
        "probe_url": server.url if server is not None else None,
    }
    try:
        write_runtime(store, runtime)
    except OSError as exc:  # `marsad status` then says "starting or stopping"; polling goes on
        log.warning("cannot write the runtime file beside the store: %s", exc)
    services.notifier.notify("READY=1", f"STATUS=polling {len(config.feeds)} feeds")
    period = watchdog_seconds()
    if period and services.notifier.enabled:
        services.watchdog = threading.Thread(
            target=_watchdog, args=(services, period / 2), name="marsad-watchdog", daemon=True
        )
        services.watchdog.start()
    return services


def serve_probes(listen: tuple[str, int] | None, given: bool, app: object) -> ProbeServer | None:
    if listen is None:
        return None
    host, port = listen
    shown = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    try:
        return ProbeServer(host, port, app)  # type: ignore[arg-type]
    except OSError as exc:
        if not given and port != 0:
            server = ProbeServer(host, 0, app)  # type: ignore[arg-type]
            log.warning(
                "probes: the default %s is taken (%s; another marsad on this host?): serving on "
                "%s instead; give each daemon its own [http] listen",
                shown,
                exc.strerror or exc,
                server.url,
            )
            return server
        raise ProbeListenError(
            f"http.listen = {shown!r}: cannot listen there: {exc.strerror or exc} "
            '(another daemon on that port? give each its own, or "off")'
        ) from exc


def _crawler_of(ctx: JobContext) -> Crawler | None:
    try:
        return ctx.crawl_engine.crawler
    except Exception:  # stopped, not started, or none (the cluster's writer)
        return None


async def _tick(probes: Probes) -> None:
    # A reload's new delivery session keeps the metrics hook (scheduler.daemon); the ready
    # collector was registered once at start.
    probes.ticked()


async def _measure_lag(metrics: DaemonMetrics) -> None:
    loop = asyncio.get_running_loop()
    while True:
        asked = loop.time()
        await asyncio.sleep(LAG_EVERY)
        metrics.loop_lagged(max(0.0, loop.time() - asked - LAG_EVERY))


async def _when_stopping(stopping: asyncio.Event, services: Services) -> None:
    await stopping.wait()
    services.begin_stopping()


def _watchdog(services: Services, interval: float) -> None:
    """Ping systemd's watchdog every ``interval`` while /readyz would pass: a daemon that is not
    ready for longer than WatchdogSec= is restarted."""
    failing = False
    while not services.finished.wait(interval):
        result = services.probes.ready()
        if result.ok:
            services.notifier.notify("WATCHDOG=1")
            if failing:
                log.info("ready again: watchdog pings resume")
            failing = False
        elif not failing and not services.probes.stopping:
            failed = [
                f"{name}: {c.get('detail')}" for name, c in result.checks.items() if not c["ok"]
            ]
            log.warning("not ready (%s): no watchdog ping", "; ".join(failed))
            failing = True
