"""``marsad run --role writer``: the store's one writer in a cluster.

It reads the fetchers' stream (``P:items``) in the ``writers`` consumer group and applies each
message as the daemon's own crawl would: a feed's outcome on its row (with the entries still
owed), an article through :func:`marsad.ingest.ingest_article` (matching, copies, alerts in the
same transaction), an entry whose page failed noted for the next poll. Messages are applied in
stream order, in batches of one transaction each (an article the store refuses is a savepoint
rolled back alone), and the batch's last stream id is committed with it: a writer killed at any
moment applies every message exactly once (on restart it reads its unacknowledged messages
again and skips those its last commit covered). A poll's end decides the feed's next poll and
health, and frees the feed for the scheduler.

It also runs what the daemon runs beside its polls: delivery (the only process that sends),
digests, retention and the store's probes and metrics.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from marsad.crawler.extensions import record_outcome
from marsad.ingest import ingest_article
from marsad.scheduler.cluster import codec, messages
from marsad.scheduler.cluster.link import ITEMS_GROUP, Keys, as_text, ensure_group, until_done
from marsad.scheduler.health import check_feeds
from marsad.scheduler.intervals import adapt
from marsad.storage.cluster import applied_position, record_position
from marsad.storage.feeds import (
    feed_states,
    note_entry_failure,
    record_next_poll,
    settle_feed_entry,
)
from marsad.storage.health import polling_rows
from marsad.storage.transactions import write_transaction
from marsad.times import to_iso, utc_now

if TYPE_CHECKING:
    from redis.asyncio import Redis

    from marsad.ingest import IngestResult
    from marsad.scheduler.jobs import JobContext

log = logging.getLogger("marsad.writer")

CONSUMER = "writer"
# Messages applied in one transaction (the daemon's pipeline commits 50 articles a batch).
BATCH = 50
# The share of its interval a feed's next poll is moved by at random, so that feeds started
# together do not poll together for ever (as the daemon's interval trigger's jitter).
JITTER = 0.1


@dataclass
class WriterCounts:
    applied: int = 0
    articles_new: int = 0
    articles_copy: int = 0
    articles_known: int = 0
    articles_failed: int = 0
    alerts_queued: int = 0
    polls: int = 0
    skipped_applied: int = 0
    dropped: int = 0


def stream_id_key(entry_id: str) -> tuple[int, int]:
    millis, _, seq = entry_id.partition("-")
    return int(millis), int(seq or 0)


class ClusterWriter:
    def __init__(
        self,
        ctx: JobContext,
        redis: Redis,
        *,
        on_alerts: Callable[[], None] | None = None,
        rng: random.Random | None = None,
    ) -> None:
        assert ctx.config.cluster is not None
        self.ctx = ctx
        self.redis = redis
        self.keys = Keys(ctx.config.cluster.prefix)
        self.counts = WriterCounts()
        self.on_alerts = on_alerts
        self.rng = rng or random.Random()
        self.started = time.time()
        self.position = applied_position(ctx.db, self.keys.items)
        # By name: every poll's end looks its feed up (a reload is a restart of the writer).
        self.feeds = {feed.name: feed for feed in ctx.config.feeds}

    async def run(self, stop: asyncio.Event) -> None:
        stream = self.keys.items
        try:
            await until_done("joining", lambda: ensure_group(self.redis, stream, ITEMS_GROUP), stop)
        except asyncio.CancelledError:  # stopped while Redis was out of reach: nothing read
            return
        beats = asyncio.get_running_loop().create_task(self._heartbeats(stop))
        # Messages this writer read before and did not acknowledge first, then new ones.
        cursor = "0"
        try:
            while not stop.is_set():

                async def read(cursor: str = cursor) -> Any:
                    from redis.exceptions import ResponseError

                    try:
                        return await self.redis.xreadgroup(
                            ITEMS_GROUP, CONSUMER, {stream: cursor}, count=BATCH * 4, block=500
                        )
                    except ResponseError as exc:
                        if "NOGROUP" not in str(exc):
                            raise
                        # Redis restarted without its data: the stream starts anew.
                        log.warning("the stream %s is gone (redis lost its data?): new", stream)
                        await ensure_group(self.redis, stream, ITEMS_GROUP)
                        return []

                try:
                    answer = await until_done("reading", read, stop)
                except asyncio.CancelledError:
                    return
                entries = [(as_text(i), f) for i, f in (answer[0][1] if answer else [])]
                if cursor != ">":  # what it read before, from the last one on; then new ones
                    if not entries:
                        cursor = ">"
                        continue
                    cursor = entries[-1][0]
                await self.apply(entries)
        finally:
            beats.cancel()
            await asyncio.gather(beats, return_exceptions=True)

    async def apply(self, entries: Sequence[tuple[str, Any]]) -> None:
        """Apply stream entries in order; acknowledge (and delete) each once it is committed."""
        batch: list[tuple[str, str, object]] = []
        for entry_id, fields in entries:
            if self.position is not None and stream_id_key(entry_id) <= stream_id_key(
                self.position
            ):
                self.counts.skipped_applied += 1
                await self._ack([entry_id])
                continue
            try:
                kind, message = messages.decode(fields)
            except codec.CodecError as exc:
                log.error("stream entry %s dropped: not a message of ours: %s", entry_id, exc)
                self.counts.dropped += 1
                await self._ack([entry_id])
                continue
            if isinstance(message, messages.PollDoneMessage):
                await self._commit(batch)
                batch = []
                await self._poll_done(entry_id, message)
                await self._ack([entry_id])
                continue
            batch.append((entry_id, kind, message))
            if len(batch) >= BATCH:
                await self._commit(batch)
                batch = []
        await self._commit(batch)

    async def _commit(self, batch: list[tuple[str, str, object]]) -> None:
        if not batch:
            return
        db = self.ctx.db
        failures: list[tuple[messages.ArticleMessage, Exception]] = []
        results: list[IngestResult] = []
        now = utc_now()
        with write_transaction(db):
            for _, _, message in batch:
                try:
                    with write_transaction(db):  # a savepoint: one refused article alone
                        result = self._apply_one(message, now)
                except Exception as exc:
                    if not isinstance(message, messages.ArticleMessage):
                        raise  # an outcome or a note the store refuses: the batch again later
                    failures.append((message, exc))
                    continue
                if result is not None:
                    results.append(result)
            record_position(db, self.keys.items, batch[-1][0], now)
        self.position = batch[-1][0]
        self.counts.applied += len(batch)
        for result in results:
            if result.status in ("new", "copy", "known"):
                setattr(
                    self.counts,
                    f"articles_{result.status}",
                    getattr(self.counts, f"articles_{result.status}") + 1,
                )
            self.counts.alerts_queued += result.alerts_queued
        for refused, error in failures:
            self.counts.articles_failed += 1
            article = refused.article
            log.error(
                "feed %r: article %s: cannot store: %r", refused.feed_name, article.url, error
            )
            if refused.entry_key is not None and article.feed_id is not None:
                with write_transaction(db):
                    note_entry_failure(
                        db,
                        article.feed_id,
                        refused.entry_key,
                        reason=f"cannot store: {error!r}",
                        now=now,
                    )
        if any(result.alerts_queued for result in results) and self.on_alerts is not None:
            self.on_alerts()
        await self._ack([entry_id for entry_id, _, _ in batch])
        await asyncio.sleep(0)  # let delivery and probes run between batches

    def _apply_one(self, message: object, now: str) -> IngestResult | None:
        db = self.ctx.db
        if isinstance(message, messages.OutcomeMessage):
            record_outcome(db, message.outcome)
            return None
        if isinstance(message, messages.ArticleMessage):
            article = message.article
            result = ingest_article(db, article, self.ctx.rules, prepared=message.prepared)
            if message.entry_key is not None and article.feed_id is not None:
                settle_feed_entry(db, article.feed_id, message.entry_key)
            return result
        if isinstance(message, messages.NotStoredMessage):
            note_entry_failure(
                db, message.feed_id, message.entry_key, reason=message.reason, now=now
            )
            return None
        raise codec.CodecError(f"{type(message).__name__} is not for the writer")

    async def _poll_done(self, entry_id: str, message: messages.PollDoneMessage) -> None:
        """The feed's next poll and health after its poll; then the scheduler may send it."""
        db, config = self.ctx.db, self.ctx.config
        feed = self.feeds.get(message.feed_name)
        now = datetime.now(UTC)
        told = 0
        if feed is not None:
            try:
                interval = adapt(db, config, feed, message.note, now)
                seconds = interval.seconds if interval is not None else self._interval(feed.name)
                seconds = seconds or feed.every
                next_poll = now + timedelta(seconds=seconds * (1 + self.rng.uniform(0, JITTER)))
                state = feed_states(db, [feed.name]).get(feed.name)
                with write_transaction(db):
                    if state is not None:
                        record_next_poll(db, state.id, to_iso(next_poll))
                    record_position(db, self.keys.items, entry_id, to_iso(now))
                told = len(check_feeds(db, config, [feed], now))
            except Exception:
                log.exception("feed %s: next poll and health not recorded", message.feed_name)
        self.position = entry_id
        self.counts.polls += 1
        if told and self.on_alerts is not None:
            self.on_alerts()
        await until_done(
            "freeing a feed", lambda: self.redis.delete(self.keys.inflight(message.feed_name))
        )

    def _interval(self, name: str) -> float | None:
        row = polling_rows(self.ctx.db, [name]).get(name)
        return row.poll_every if row is not None else None

    async def _ack(self, entry_ids: list[str]) -> None:
        if not entry_ids:
            return

        async def ack() -> None:
            pipe = self.redis.pipeline(transaction=True)
            pipe.xack(self.keys.items, ITEMS_GROUP, *entry_ids)
            pipe.xdel(self.keys.items, *entry_ids)
            await pipe.execute()

        # Not acknowledged (Redis gone now): read again at the next start, skipped as applied.
        await until_done("acknowledging", ack)

    async def _heartbeats(self, stop: asyncio.Event) -> None:
        assert self.ctx.config.cluster is not None
        cluster = self.ctx.config.cluster
        while not stop.is_set():
            try:
                backlog = await self.redis.xlen(self.keys.items)
                figures = {
                    "role": "writer",
                    "id": CONSUMER,
                    "backlog": backlog,
                    "position": self.position,
                    "started": self.started,
                    "at": time.time(),
                    **self.counts.__dict__,
                }
                await self.redis.set(
                    self.keys.role("writer", CONSUMER),
                    json.dumps(figures),
                    ex=max(1, int(cluster.fetcher_ttl * 3)),
                )
            except Exception as exc:
                log.debug("writer heartbeat not sent: %s", exc)
            try:
                await asyncio.wait_for(stop.wait(), cluster.heartbeat)
            except TimeoutError:
                continue
