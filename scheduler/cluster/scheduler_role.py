"""``marsad run --role scheduler``: which feeds are due, and to which fetcher each goes.

It reads the store (never writes it: the writer records every poll, and the feed's next poll
with it) and Redis. Each tick it hands on the work of fetchers that left, then sends each due
feed not already under way (``P:inflight:<feed>``, set here, cleared by the writer once the
poll is stored, expiring after the engine's stall time in case the poll's end never comes) to
the fetcher that owns its site (:mod:`.partition`), with what the store knows of its entries.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from marsad.crawler.engine import STALL_MIN_SECONDS, STALL_TIMEOUTS
from marsad.crawler.runner import due_jobs
from marsad.scheduler.cluster import codec, messages
from marsad.scheduler.cluster.link import Keys, as_text, until_done
from marsad.scheduler.cluster.partition import owner, site_of
from marsad.scheduler.first_polls import first_poll_times
from marsad.storage.feeds import feeds_due, known_entries
from marsad.times import to_iso

if TYPE_CHECKING:
    from redis.asyncio import Redis
    from sqlite_utils import Database

    from marsad.config import Config
    from marsad.crawler.spiders.base import FeedJob

log = logging.getLogger("marsad.cluster.scheduler")

TICK_SECONDS = 1.0
# The most due feeds sent in one tick (the rest are due still at the next).
MAX_SENT_PER_TICK = 2000


class ClusterScheduler:
    def __init__(self, config: Config, db: Database, redis: Redis, ident: str) -> None:
        assert config.cluster is not None
        self.config = config
        self.cluster = config.cluster
        self.db = db
        self.redis = redis
        self.ident = ident
        self.keys = Keys(self.cluster.prefix)
        self.feeds = {feed.name: feed for feed in config.feeds}
        self.inflight_seconds = int(
            max(STALL_MIN_SECONDS, STALL_TIMEOUTS * config.crawl.download_timeout)
        )
        # A feed never polled is first due at a time spread over its interval (a start does
        # not hit every site at once); the writer sets its next poll after that.
        self.first_due = first_poll_times(config.feeds, datetime.now(UTC), random.Random())
        self.sent = 0
        self.moved = 0
        self.live: list[str] = []
        self._said_alone = False
        # When fetchers were first seen: fetchers started together join within a heartbeat or
        # two, and sending at the first one would give it every site until the next poll.
        self._first_live_at: float | None = None
        # Called after each heartbeat Redis answered (the role's /readyz).
        self.on_contact: Callable[[], None] | None = None

    async def run(self, stop: asyncio.Event) -> None:
        log.info("scheduler %s: %d feeds", self.ident, len(self.feeds))
        while not stop.is_set():
            try:
                await until_done("scheduling", self.tick, stop)
            except asyncio.CancelledError:
                return
            except Exception:
                log.exception("scheduler tick failed; trying again")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), TICK_SECONDS)

    async def tick(self, now: datetime | None = None) -> int:
        """Hand on the work of fetchers that left, then send what is due; returns how many
        feeds were sent."""
        now = now or datetime.now(UTC)
        live, gone = await self._fetchers()
        self.live = live
        await self._beat()
        if not live:
            if not self._said_alone:
                log.warning("no fetcher alive: nothing is sent until one joins")
                self._said_alone = True
            return 0
        self._said_alone = False
        for fetcher in gone:
            await self.hand_on(fetcher, live)
        if self._first_live_at is None:
            self._first_live_at = time.monotonic()
        if time.monotonic() - self._first_live_at < 2 * self.cluster.heartbeat:
            return 0
        return await self._send_due(now, live)

    async def _fetchers(self) -> tuple[list[str], list[str]]:
        cutoff = time.time() - self.cluster.fetcher_ttl
        live = await self.redis.zrangebyscore(self.keys.fetchers, cutoff, "+inf")
        gone = await self.redis.zrangebyscore(self.keys.fetchers, "-inf", f"({cutoff}")
        return sorted(map(as_text, live)), sorted(map(as_text, gone))

    async def _send_due(self, now: datetime, live: list[str]) -> int:
        stamp = to_iso(now)
        due = [
            name
            for name, next_poll in feeds_due(self.db, stamp).items()
            if name in self.feeds and (next_poll is not None or self.first_due[name] <= now)
        ][:MAX_SENT_PER_TICK]
        if not due:
            return 0
        # Under way already (their poll not stored yet): skipped without a write.
        pipe = self.redis.pipeline(transaction=False)
        for name in due:
            pipe.exists(self.keys.inflight(name))
        under_way = await pipe.execute()
        waiting = [name for name, busy in zip(due, under_way, strict=True) if not busy]
        if not waiting:
            return 0
        jobs, _ = due_jobs(self.db, [self.feeds[name] for name in waiting], now)
        sent = 0
        for job in jobs:
            if await self._send(job, stamp, live):
                sent += 1
        self.sent += sent
        return sent

    async def _send(self, job: FeedJob, stamp: str, live: list[str]) -> bool:
        fetcher = owner(site_of(job.feed.url), live)
        assert fetcher is not None
        name = job.feed.name
        if not await self.redis.set(
            self.keys.inflight(name), fetcher, nx=True, ex=self.inflight_seconds
        ):
            return False
        job = replace(job, known=known_entries(self.db, job.state.id))
        await self.redis.xadd(
            self.keys.jobs(fetcher), messages.encode(messages.JOB, messages.JobMessage(job, stamp))
        )
        return True

    async def hand_on(self, gone: str, live: list[str]) -> int:
        """Move what fetcher ``gone`` left in its stream to the owners of those sites among
        ``live``, and forget it: one MULTI, so a scheduler killed half-way moves nothing."""
        stream = self.keys.jobs(gone)
        entries = await self.redis.xrange(stream) or []
        pipe = self.redis.pipeline(transaction=True)
        moved = 0
        for _, fields in entries:
            try:
                kind, message = messages.decode(fields)
            except codec.CodecError as exc:
                log.error("a job left by %s dropped: not a job of ours: %s", gone, exc)
                continue
            if not isinstance(message, messages.JobMessage):
                continue
            target = owner(site_of(message.job.feed.url), live)
            assert target is not None
            moved_message = messages.JobMessage(message.job, message.sent_at, message.moves + 1)
            pipe.xadd(self.keys.jobs(target), messages.encode(kind, moved_message))
            pipe.set(self.keys.inflight(message.job.feed.name), target, ex=self.inflight_seconds)
            moved += 1
        pipe.delete(stream)
        pipe.zrem(self.keys.fetchers, gone)
        await pipe.execute()
        self.moved += moved
        log.warning(
            "fetcher %s left (no heartbeat for %.0fs): %d of its jobs handed on to %s",
            gone,
            self.cluster.fetcher_ttl,
            moved,
            ", ".join(live),
        )
        return moved

    def figures(self) -> dict[str, Any]:
        return {
            "role": "scheduler",
            "id": self.ident,
            "feeds": len(self.feeds),
            "fetchers": self.live,
            "jobs_sent": self.sent,
            "jobs_moved": self.moved,
            "fetchers_alive": len(self.live),
            "at": time.time(),
        }

    async def _beat(self) -> None:
        await self.redis.set(
            self.keys.role("scheduler", self.ident),
            json.dumps(self.figures()),
            ex=max(1, int(self.cluster.fetcher_ttl * 3)),
        )
        if self.on_contact is not None:
            self.on_contact()
