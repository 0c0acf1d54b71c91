"""The daemon's schedule: one APScheduler job per feed and one for delivery.

Kept apart from :mod:`marsad.scheduler.daemon` so that what changes a feed's job (its first
poll, its interval, adding or dropping it on a reload) lives in one place.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_EXECUTED, JobExecutionEvent
from apscheduler.triggers.interval import IntervalTrigger

from marsad.crawler.polling import Interval
from marsad.scheduler.intervals import starting_interval
from marsad.scheduler.jobs import deliver_pending, poll_feed
from marsad.storage.feeds import feed_states, record_next_poll
from marsad.storage.health import record_interval, stored_intervals
from marsad.storage.transactions import write_transaction
from marsad.times import to_iso

if TYPE_CHECKING:
    from collections.abc import Sequence
    from datetime import datetime

    from apscheduler.schedulers.asyncio import AsyncIOScheduler

    from marsad.config import Config
    from marsad.crawler.config import FeedConfig
    from marsad.scheduler.jobs import JobContext

DELIVERY_JOB_ID = "deliver"


def feed_job_id(feed_name: str) -> str:
    return f"feed:{feed_name}"


def schedule_feeds(
    scheduler: AsyncIOScheduler,
    ctx: JobContext,
    feeds: Sequence[FeedConfig],
    firsts: dict[str, datetime],
) -> None:
    """One job per feed, first run at ``firsts[name]``, then at the feed's interval: the one
    it adapted to before a restart (an adaptive feed), else its ``every``; `marsad feeds` shows
    the interval, why, and the next poll."""
    names = [f.name for f in feeds]
    ids = {name: state.id for name, state in feed_states(ctx.db, names).items()}
    learned = stored_intervals(ctx.db, names)
    for feed in feeds:
        interval = starting_interval(feed)
        if feed.adaptive and feed.name in learned:
            interval = Interval(learned[feed.name], "")
        elif feed.name in ids:
            with write_transaction(ctx.db):
                record_interval(ctx.db, ids[feed.name], interval.seconds, interval.reason)
        job = scheduler.add_job(
            poll_feed,
            _trigger(interval.seconds),
            args=[ctx, feed],
            id=feed_job_id(feed.name),
            name=f"poll {feed.name}",
            max_instances=1,
            coalesce=True,
            misfire_grace_time=_grace(interval.seconds),
            next_run_time=firsts[feed.name],
        )
        if feed.name in ids and job.next_run_time is not None:
            record_next_poll(ctx.db, ids[feed.name], to_iso(job.next_run_time))


def _trigger(seconds: float) -> IntervalTrigger:
    # The jitter keeps feeds started together from polling together for ever.
    return IntervalTrigger(seconds=seconds, jitter=max(1, int(seconds * 0.1)))


def _grace(seconds: float) -> int:
    # A poll late by less than its interval is still wanted (APScheduler's default is 1 s).
    return max(1, int(seconds))


def schedule_delivery(
    scheduler: AsyncIOScheduler, ctx: JobContext, config: Config, start: datetime
) -> None:
    scheduler.add_job(
        deliver_pending,
        IntervalTrigger(seconds=config.delivery.every),
        args=[ctx],
        id=DELIVERY_JOB_ID,
        name="deliver pending alerts",
        max_instances=1,
        coalesce=True,
        # APScheduler's default grace is 1 s: a pass due while the loop was busy a moment
        # was skipped ("missed by 2.1 s"). A late pass is still wanted.
        misfire_grace_time=max(60, int(config.delivery.every) * 4),
        next_run_time=start,
    )


def schedule_digests(scheduler: AsyncIOScheduler, ctx: JobContext, start: datetime) -> None:
    """The digest job (:func:`marsad.scheduler.digests.close_digests_job`): every
    ``DIGEST_CHECK_SECONDS`` it closes the digest periods that have ended and sends them. It
    runs whatever the config says (a reload may give a channel a digest); with no digest
    channel it reads nothing."""
    from marsad.scheduler.digests import DIGEST_CHECK_SECONDS, DIGEST_JOB_ID, close_digests_job

    scheduler.add_job(
        close_digests_job,
        IntervalTrigger(seconds=DIGEST_CHECK_SECONDS),
        args=[ctx],
        id=DIGEST_JOB_ID,
        name="close ended digest periods",
        max_instances=1,
        coalesce=True,
        misfire_grace_time=max(60, int(DIGEST_CHECK_SECONDS) * 4),
        next_run_time=start,
        replace_existing=True,
    )


def record_next_polls(scheduler: AsyncIOScheduler, ctx: JobContext) -> None:
    """After each feed job runs, move it to the interval the poll decided
    (:func:`marsad.scheduler.intervals.adapt` stored it, ``ctx.decided_intervals`` holds it)
    and store when it runs next (`marsad feeds` shows it)."""

    # A feed's row id never changes (a reload re-registers it under the same name): looked up
    # once, not on every poll.
    feed_ids: dict[str, int] = {}

    def note_next_poll(event: JobExecutionEvent) -> None:
        if not event.job_id.startswith("feed:"):
            return
        job = scheduler.get_job(event.job_id)
        if job is None or job.next_run_time is None:
            return
        name = event.job_id.removeprefix("feed:")
        interval = ctx.decided_intervals.pop(name, None)
        if event.retval is not None:  # a poll ran (a CrawlReport): its interval may be new
            current = getattr(job.trigger, "interval", None)
            if interval is not None and (
                current is None or abs(current.total_seconds() - interval) >= 1
            ):
                job = scheduler.reschedule_job(event.job_id, trigger=_trigger(interval))
                job = scheduler.modify_job(event.job_id, misfire_grace_time=_grace(interval))
        if job.next_run_time is None:
            return
        if name not in feed_ids:
            feed_ids.update((n, state.id) for n, state in feed_states(ctx.db, [name]).items())
        if name in feed_ids:
            record_next_poll(ctx.db, feed_ids[name], to_iso(job.next_run_time))

    scheduler.add_listener(note_next_poll, EVENT_JOB_EXECUTED | EVENT_JOB_ERROR)


def unschedule_feeds(scheduler: AsyncIOScheduler, names: Sequence[str]) -> None:
    """Drop the jobs of these feeds (a poll running finishes; none starts after)."""
    for name in names:
        if scheduler.get_job(feed_job_id(name)) is not None:
            scheduler.remove_job(feed_job_id(name))


def schedule_prune(
    scheduler: AsyncIOScheduler, ctx: JobContext, first: datetime, every: float
) -> None:
    """The prune job (:func:`marsad.scheduler.maintenance.prune_job`): first at ``first``, then
    every ``every`` seconds; one run at a time, a late one still wanted (the loop was busy)."""
    from marsad.scheduler.maintenance import PRUNE_JOB_ID, prune_job

    scheduler.add_job(
        prune_job,
        IntervalTrigger(seconds=every),
        args=[ctx],
        id=PRUNE_JOB_ID,
        name="prune what [retention] says is old",
        max_instances=1,
        coalesce=True,
        misfire_grace_time=max(60, int(every)),
        next_run_time=first,
        replace_existing=True,
    )


def schedule_crosslingual(scheduler: AsyncIOScheduler, ctx: JobContext, start: datetime) -> None:
    """The cross-lingual linking job (:func:`marsad.scheduler.crosslingual.crosslingual_job`):
    every ``LINK_EVERY_SECONDS``, one run at a time, a late one still wanted. Whether linking
    is on is written to the store now, before the first poll, so the first alerts wait for
    their check; the job's worker process starts on the first run with work to do and stops
    when the scheduler shuts down."""
    from apscheduler.events import EVENT_SCHEDULER_SHUTDOWN

    from marsad.crosslingual.worker import LinkWorker
    from marsad.scheduler.crosslingual import (
        LINK_EVERY_SECONDS,
        LINK_JOB_ID,
        Linker,
        crosslingual_job,
    )

    linker = Linker(ctx.db, str(ctx.config.store_path), LinkWorker())
    linker.sync_state(ctx.config.crosslingual)
    scheduler.add_job(
        crosslingual_job,
        IntervalTrigger(seconds=LINK_EVERY_SECONDS),
        args=[ctx, linker],
        id=LINK_JOB_ID,
        name="link cross-lingual copies",
        max_instances=1,
        coalesce=True,
        misfire_grace_time=60,
        next_run_time=start,
        replace_existing=True,
    )
    scheduler.add_listener(lambda event: linker.worker.close(), EVENT_SCHEDULER_SHUTDOWN)
