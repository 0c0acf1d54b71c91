"""The daemon's daily prune: what ``[retention]`` says is old goes, a while after the start and
then once a day (:func:`marsad.scheduler.schedule.schedule_prune` registers the job).

The prune (:func:`marsad.storage.retention.prune_due`) is blocking and paced: short write
transactions (about a tenth of a second each) with pauses between them in which the daemon's
writer gets the lock. It runs in a thread on a store connection of its own (a connection is
never shared between threads), so the event loop keeps polling and delivering meanwhile. A stop
of the daemon stops it after the batch in flight; what it committed stays. It takes at most
:data:`~marsad.storage.retention.DAILY_BUDGET_SECONDS` a day; what is left waits for the next.

Its schedule can be shortened for tests and trials from the environment, in seconds
(:data:`FIRST_ENV`, :data:`EVERY_ENV`), read once at start.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING

from marsad.storage.retention import DAILY_BUDGET_SECONDS, KINDS, PruneReport, prune_due
from marsad.times import utc_now

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping
    from pathlib import Path

    from marsad.scheduler.jobs import JobContext
    from marsad.storage.retention import Retention

log = logging.getLogger("marsad.prune")

PRUNE_JOB_ID = "prune"
# The first prune waits this long after the start, so it does not compete with the first
# round of polls (nor run at every restart of a daemon that restarts often).
FIRST_SECONDS = 3600.0
EVERY_SECONDS = 86400.0
FIRST_ENV = "MARSAD_PRUNE_FIRST"
EVERY_ENV = "MARSAD_PRUNE_EVERY"


@dataclass(frozen=True)
class PruneSchedule:
    """When the daemon prunes: ``first`` seconds after it starts, then every ``every``."""

    first: float = FIRST_SECONDS
    every: float = EVERY_SECONDS


def prune_schedule(environ: Mapping[str, str]) -> PruneSchedule:
    """The schedule, with :data:`FIRST_ENV` and :data:`EVERY_ENV` (seconds) from ``environ``
    when set. Raises ValueError naming the variable when one is not a positive number."""

    def seconds(name: str, default: float) -> float:
        text = environ.get(name, "").strip()
        if not text:
            return default
        try:
            value = float(text)
        except ValueError:
            value = -1.0
        if not 0 < value <= 365 * 86400.0:
            raise ValueError(f"{name}: must be a number of seconds above 0, got {text!r}")
        return value

    return PruneSchedule(
        first=seconds(FIRST_ENV, FIRST_SECONDS), every=seconds(EVERY_ENV, EVERY_SECONDS)
    )


def prune_wanted(retention: Retention) -> bool:
    """False when every kind of history is kept for ever: then there is no prune job."""
    return any(getattr(retention, kind) is not None for kind in KINDS)


async def prune_job(ctx: JobContext) -> PruneReport | None:
    """One prune of what ``ctx.config.retention`` (as of now: a reload may change it) says is
    old, in a thread; one summary line in the log. Registered as in flight, so a graceful stop
    waits for it: it ends after the batch in flight once the daemon is stopping."""
    retention = ctx.config.retention
    if ctx.stopping.is_set() or not prune_wanted(retention):
        return None
    halt = threading.Event()
    task = asyncio.current_task()
    if task is not None:
        ctx.inflight.add(task)

    def should_stop() -> bool:
        # Read from the prune's thread: an Event's flag is one attribute, read whole.
        return halt.is_set() or ctx.stopping.is_set()

    try:
        report = await asyncio.to_thread(_prune, ctx.config.store_path, retention, should_stop)
    except Exception as exc:  # a store that fails now is tried again at the next prune
        log.warning("prune failed: %s: %s; tried again at the next prune", type(exc).__name__, exc)
        return None
    finally:
        # Cancelled (the scheduler shut down under it), the thread stops after its batch.
        halt.set()
        if task is not None:
            ctx.inflight.discard(task)
    log.info("%s", report.summary())
    return report


def _prune(path: Path, retention: Retention, should_stop: Callable[[], bool]) -> PruneReport:
    from marsad.storage.db import open_store

    db = open_store(path, migrate=False)
    try:
        return prune_due(
            db, retention, utc_now(), budget=DAILY_BUDGET_SECONDS, should_stop=should_stop
        )
    finally:
        db.close()
