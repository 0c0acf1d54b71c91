"""``marsad run --role fetcher``: fetch the feeds of the sites this process owns; no store.

The process runs the same long-lived crawl engine as the daemon, with the store's components
replaced: :class:`RelayPipeline` and :class:`OutcomeRelay` hand every article, entry not stored
and feed outcome to the writer's stream (in the order the spider made them, so a feed's outcome
is before its articles), and :class:`SiteLeaseMiddleware` takes a site's lease in Redis before
each download, so a site moving to this fetcher is not fetched here and by its former owner
within one download delay.

A job is acknowledged (and deleted from this fetcher's stream) only when its poll is over and
everything it led to is in the writer's stream: a fetcher killed at any moment leaves its
unfinished jobs in its stream, and the scheduler hands them to the fetchers left.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from scrapy.exceptions import NotConfigured

from marsad.crawler.items import ArticleItem, EntryNotStored
from marsad.crawler.pipelines import release_item
from marsad.crawler.shared import Shared
from marsad.crawler.signals import FeedOutcome, feed_fetched
from marsad.scheduler.cluster import codec, messages
from marsad.scheduler.cluster.link import (
    JOBS_GROUP,
    Keys,
    connect_sync,
    ensure_group,
    until_done,
)
from marsad.scheduler.intervals import take_note
from marsad.times import utc_now

if TYPE_CHECKING:
    from redis.asyncio import Redis
    from scrapy import Request
    from scrapy.crawler import Crawler
    from scrapy.http import Response

    from marsad.config import Config
    from marsad.crawler.engine import CrawlEngine

log = logging.getLogger("marsad.fetcher")

RELAY_SETTING = "MARSAD_RELAY"
# Polls one fetcher runs at once (each a feed and the pages it leads to): more are left in its
# stream, where the scheduler can hand them on if this process dies.
MAX_POLLS = 256
# The most messages sent to Redis in one round trip.
RELAY_BATCH = 200
# How long a graceful stop waits for the polls under way before leaving the rest in the stream.
STOP_GRACE_SECONDS = 30.0
# The longest a download waits for another fetcher's lease on its site (at least 20 delays)
# before it goes ahead: a fetcher's own slot keeps its delay whatever happens.
LEASE_WAIT_SECONDS = 30.0


def fetcher_ident() -> str:
    """This process's id in the cluster: host and process id (a restart is a new fetcher)."""
    return f"{socket.gethostname()}-{os.getpid()}"


class Relay:
    """Sends messages to the writer's stream in the order they were handed over; each sender
    can await its message being in Redis (outages are waited out: nothing is dropped)."""

    def __init__(self, redis: Redis, keys: Keys, ident: str) -> None:
        self.redis = redis
        self.keys = keys
        self.ident = ident
        self._queue: asyncio.Queue[tuple[dict[Any, Any], asyncio.Future[None]]] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self.sent = 0

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    def send(self, kind: str, message: object) -> asyncio.Future[None]:
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait((messages.encode(kind, message), done))
        return done

    async def _run(self) -> None:
        while True:
            batch = [await self._queue.get()]
            while len(batch) < RELAY_BATCH and not self._queue.empty():
                batch.append(self._queue.get_nowait())

            async def publish(batch: list[tuple[dict[Any, Any], Any]] = batch) -> None:
                pipe = self.redis.pipeline(transaction=False)
                for fields, _ in batch:
                    pipe.xadd(self.keys.items, fields)
                await pipe.execute()

            try:
                await until_done("sending to the writer", publish)
            except Exception as exc:  # not an outage: each sender hears of it
                log.exception("cannot send %d messages to the writer", len(batch))
                for _, done in batch:
                    if not done.done():
                        done.set_exception(exc)
                continue
            self.sent += len(batch)
            for _, done in batch:
                if not done.done():
                    done.set_result(None)

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)


def _relay(crawler: Crawler) -> Relay:
    holder = crawler.settings.get(RELAY_SETTING)
    value = holder.value if isinstance(holder, Shared) else holder
    if not isinstance(value, Relay):
        raise NotConfigured(f"{RELAY_SETTING} is not set: only a fetcher uses this component")
    return value


class RelayPipeline:
    """The fetcher's item pipeline: each article or entry not stored goes to the writer; its
    unit of the poll closes once it is in Redis."""

    def __init__(self, crawler: Crawler, relay: Relay) -> None:
        self.crawler = crawler
        self.relay = relay

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> RelayPipeline:
        return cls(crawler, _relay(crawler))

    async def process_item(self, item: Any) -> Any:
        if not isinstance(item, ArticleItem | EntryNotStored):
            return item
        try:
            if isinstance(item, ArticleItem):
                message: object = messages.ArticleMessage(
                    article=item.article,
                    feed_name=item.feed_name,
                    entry_key=item.entry_key,
                    prepared=item.prepared,
                )
                kind = messages.ARTICLE
            else:
                message = messages.NotStoredMessage(
                    item.feed_id, item.feed_name, item.entry_key, item.reason
                )
                kind = messages.NOT_STORED
            await self.relay.send(kind, message)
        finally:
            release_item(self.crawler, item)
        return item


class OutcomeRelay:
    """Sends each feed outcome to the writer (which records it as the daemon's ledger does),
    before any article of the feed: the order of the relay's queue."""

    def __init__(self, crawler: Crawler, relay: Relay) -> None:
        self.crawler = crawler
        self.relay = relay
        crawler.signals.connect(self.record, signal=feed_fetched)

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> OutcomeRelay:
        return cls(crawler, _relay(crawler))

    def record(self, outcome: FeedOutcome, poll: Any = None) -> None:
        self.relay.send(messages.OUTCOME, messages.OutcomeMessage(outcome))
        self.crawler.stats.inc_value(f"marsad/feeds_{outcome.outcome}")
        if poll is not None:
            poll.count(f"feeds_{outcome.outcome}")


# Take the site's lease, or renew it when it is this fetcher's, in one step: a GET then a SET
# could renew a lease another fetcher took in between. Returns 0 when taken, else the
# milliseconds the other fetcher's lease has left.
_LEASE_SCRIPT = """
local holder = redis.call('GET', KEYS[1])
if holder == false or holder == ARGV[1] then
    redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
    return 0
end
local left = redis.call('PTTL', KEYS[1])
if left < 1 then return 1 end
return left
"""


class SiteLeaseMiddleware:
    """A fetcher's lease on a site's host in Redis, so that two fetchers never fetch one site
    within the download delay, even while the site moves between them (the old owner finishing
    what it had, the new one starting). Taken before each download and held until one delay
    after its answer; a lease held by another fetcher is waited out (up to ``LEASE_WAIT``
    seconds, then the download goes ahead: this fetcher's own slot still spaces its requests)."""

    def __init__(self, relay: Relay, delay: float) -> None:
        self.relay = relay
        self.delay_ms = max(1, int(delay * 1000))
        self.wait_limit = max(LEASE_WAIT_SECONDS, 20 * delay)
        self._script = relay.redis.register_script(_LEASE_SCRIPT)

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> SiteLeaseMiddleware:
        delay = crawler.settings.getfloat("DOWNLOAD_DELAY")
        if delay <= 0:
            raise NotConfigured("no download delay: no site lease")
        return cls(_relay(crawler), delay)

    async def process_request(self, request: Request) -> None:
        host = urlsplit(request.url).hostname or ""
        key = self.relay.keys.site(host)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.wait_limit
        while True:
            try:
                # While in flight the lease lasts the download's timeout; its answer renews it.
                hold = self.delay_ms + int(request.meta.get("download_timeout", 180) * 1000)
                left = int(await self._script(keys=[key], args=[self.relay.ident, hold]))
            except Exception as exc:  # Redis unreachable: the slot's own delay still holds
                log.debug("site lease for %s not taken: %s", host, exc)
                return None
            if left == 0:
                return None
            if loop.time() + left / 1000 > deadline:
                log.info(
                    "site %s: another fetcher holds it for %.1fs more; fetching", host, left / 1000
                )
                return None
            await asyncio.sleep(left / 1000)

    async def process_response(self, request: Request, response: Response) -> Response:
        await self._release_after_delay(request)
        return response

    async def process_exception(self, request: Request, exception: BaseException) -> None:
        await self._release_after_delay(request)
        return None

    async def _release_after_delay(self, request: Request) -> None:
        """The lease from now on lasts one delay: the next fetcher waits that long after this
        answer, as this fetcher's own slot does."""
        host = urlsplit(request.url).hostname or ""
        try:
            await self._script(
                keys=[self.relay.keys.site(host)], args=[self.relay.ident, self.delay_ms]
            )
        except Exception as exc:
            log.debug("site lease for %s not renewed: %s", host, exc)


def fetcher_components() -> dict[str, Any]:
    """The crawler settings that make a crawl engine a fetcher."""
    from marsad.crawler import settings as base

    return {
        "ITEM_PIPELINES": {"marsad.scheduler.cluster.fetcher.RelayPipeline": 300},
        "EXTENSIONS": {
            **base.EXTENSIONS,
            "marsad.crawler.extensions.FeedLedger": None,
            "marsad.scheduler.cluster.fetcher.OutcomeRelay": 500,
        },
        "DOWNLOADER_MIDDLEWARES": {
            **base.DOWNLOADER_MIDDLEWARES,
            # After the guard (50) and robots.txt (100): a refused request takes no lease.
            "marsad.scheduler.cluster.fetcher.SiteLeaseMiddleware": 120,
        },
    }


class Fetcher:
    """One fetcher process: heartbeats, its stream of jobs, its polls."""

    def __init__(self, config: Config, redis: Redis, ident: str) -> None:
        assert config.cluster is not None
        self.config = config
        self.cluster = config.cluster
        self.redis = redis
        self.ident = ident
        self.keys = Keys(self.cluster.prefix)
        self.relay = Relay(redis, self.keys, ident)
        self.stream = self.keys.jobs(ident)
        self._polls: set[asyncio.Task[None]] = set()
        self._slots = asyncio.Semaphore(MAX_POLLS)
        self.polls_done = 0
        self.started = time.time()
        # Called after each heartbeat Redis answered (the role's /readyz).
        self.on_contact: Callable[[], None] | None = None
        self._loop_seen = time.monotonic()

    def components(self) -> dict[str, Any]:
        return {**fetcher_components(), RELAY_SETTING: Shared(self.relay)}

    async def run(self, engine: CrawlEngine, stop: asyncio.Event) -> None:
        self.relay.start()
        try:
            await until_done(
                "joining", lambda: ensure_group(self.redis, self.stream, JOBS_GROUP), stop
            )
        except asyncio.CancelledError:  # stopped while Redis was out of reach: nothing taken
            await self.relay.aclose()
            return
        except BaseException:  # a refused login: said by the caller
            await self.relay.aclose()
            raise
        beats = asyncio.get_running_loop().create_task(self._heartbeats(stop))
        log.info("fetcher %s: taking jobs from %s", self.ident, self.stream)
        try:
            await self._serve(engine, stop)
        finally:
            if self._polls:
                log.info("fetcher %s: waiting for %d polls", self.ident, len(self._polls))
                await asyncio.wait(set(self._polls), timeout=STOP_GRACE_SECONDS)
            beats.cancel()
            await asyncio.gather(beats, return_exceptions=True)
            try:  # leave at once: the scheduler hands what is left in the stream on now
                await self.redis.zrem(self.keys.fetchers, self.ident)
                await self.redis.delete(self.keys.role("fetcher", self.ident))
            except Exception as exc:
                log.warning("fetcher %s: could not say it leaves: %s", self.ident, exc)
            await self.relay.aclose()

    async def _serve(self, engine: CrawlEngine, stop: asyncio.Event) -> None:
        # Jobs this id took before (a restart under the same id) first, then new ones.
        cursor = "0"
        while not stop.is_set():
            await self._slots.acquire()
            self._slots.release()
            free = max(1, MAX_POLLS - len(self._polls))

            async def read(cursor: str = cursor, free: int = free) -> Any:
                from redis.exceptions import ResponseError

                try:
                    return await self.redis.xreadgroup(
                        JOBS_GROUP,
                        self.ident,
                        {self.stream: cursor},
                        count=min(free, 64),
                        block=500,
                    )
                except ResponseError as exc:
                    # NOGROUP: handed on between two reads; UNBLOCKED: during this one.
                    if "NOGROUP" not in str(exc) and "UNBLOCKED" not in str(exc):
                        raise
                    # The scheduler took this fetcher for gone (heartbeats late) and handed its
                    # jobs on: start a new stream; the heartbeat makes it an owner again.
                    log.warning(
                        "fetcher %s: its job stream was handed on; starting anew", self.ident
                    )
                    await ensure_group(self.redis, self.stream, JOBS_GROUP)
                    return []

            try:
                answer = await until_done("reading jobs", read, stop)
            except asyncio.CancelledError:
                return
            entries = answer[0][1] if answer else []
            if cursor != ">":
                # Reading what this id took before: on from the last one, new ones once done.
                if not entries:
                    cursor = ">"
                    continue
                last = entries[-1][0]
                cursor = last.decode() if isinstance(last, bytes) else last
            for entry_id, fields in entries:
                await self._slots.acquire()
                task = asyncio.get_running_loop().create_task(self._poll(engine, entry_id, fields))
                self._polls.add(task)
                task.add_done_callback(self._polls.discard)

    async def _poll(self, engine: CrawlEngine, entry_id: bytes, fields: dict[bytes, bytes]) -> None:
        try:
            try:
                kind, message = messages.decode(fields)
                if not isinstance(message, messages.JobMessage):
                    raise codec.CodecError(f"a {kind} message in a job stream")
            except codec.CodecError as exc:
                log.error(
                    "fetcher %s: job %s dropped: not a job of ours: %s", self.ident, entry_id, exc
                )
                await self._finish(entry_id)
                return
            job = message.job
            report = await engine.run_jobs([job])
            note = take_note(engine, job.feed.name)
            done = messages.PollDoneMessage(
                feed_name=job.feed.name,
                report=report,
                fetcher=self.ident,
                note=note,
                finished_at=utc_now(),
                errors=report.errors[:20],
            )
            await self.relay.send(messages.POLL_DONE, done)
            await self._finish(entry_id)
            self.polls_done += 1
        except Exception:
            # Left in the stream: taken again by this id's next start or handed on.
            log.exception("fetcher %s: job %s failed; left for another try", self.ident, entry_id)
        finally:
            self._slots.release()

    async def _finish(self, entry_id: bytes) -> None:
        async def ack() -> None:
            pipe = self.redis.pipeline(transaction=True)
            pipe.xack(self.stream, JOBS_GROUP, entry_id)
            pipe.xdel(self.stream, entry_id)
            await pipe.execute()

        await until_done("acknowledging a job", ack)

    def figures(self) -> dict[str, Any]:
        return {
            "role": "fetcher",
            "id": self.ident,
            "polls_running": len(self._polls),
            "polls_done": self.polls_done,
            "messages_sent": self.relay.sent,
            "started": self.started,
            "at": time.time(),
        }

    async def _heartbeats(self, stop: asyncio.Event) -> None:
        """Heartbeats from a thread of their own: a crawl keeping the event loop busy for
        seconds must not make the scheduler take a live fetcher for gone (its sites would then
        be polled by two fetchers). The loop only notes that it still runs; a loop that has not
        run for three ``fetcher_ttl`` stops the heartbeats (a wedged fetcher leaves)."""
        loop = asyncio.get_running_loop()
        self._loop_seen = time.monotonic()
        done = threading.Event()
        thread = threading.Thread(
            target=self._beat_thread, args=(loop, done), name="marsad-heartbeat", daemon=True
        )
        thread.start()
        try:
            while not stop.is_set():
                self._loop_seen = time.monotonic()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), self.cluster.heartbeat)
        finally:
            done.set()
            await asyncio.to_thread(thread.join, 10.0)

    def _beat_thread(self, loop: asyncio.AbstractEventLoop, done: threading.Event) -> None:
        client = connect_sync(self.cluster)
        said = False
        try:
            while not done.is_set():
                if time.monotonic() - self._loop_seen <= 3 * self.cluster.fetcher_ttl:
                    try:
                        pipe = client.pipeline(transaction=False)
                        pipe.zadd(self.keys.fetchers, {self.ident: time.time()})
                        pipe.set(
                            self.keys.role("fetcher", self.ident),
                            json.dumps(self.figures()),
                            ex=max(1, int(self.cluster.fetcher_ttl * 3)),
                        )
                        pipe.execute()
                    except Exception as exc:
                        if not said:
                            log.warning("fetcher %s: heartbeat not sent: %s", self.ident, exc)
                            said = True
                    else:
                        said = False
                        if self.on_contact is not None:
                            with contextlib.suppress(RuntimeError):  # the loop has closed
                                loop.call_soon_threadsafe(self.on_contact)
                done.wait(self.cluster.heartbeat)
        finally:
            client.close()
