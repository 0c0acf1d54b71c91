"""What every kind of source shares: fetch it conditionally, follow its new entries to their pages.

A kind of source is a subclass that says how a response's bytes become entries
(:meth:`SourceSpider.read_source`) and one entry in :data:`marsad.crawler.spiders.SPIDERS`.
The spider reads the store (to skip articles it already holds) on the caller's connection; it
writes nothing itself. Articles go to the item pipeline as items; each feed's outcome goes out
as the ``feed_fetched`` signal (recorded by the FeedLedger extension); every failure is a
problem (logged, counted, signalled) and never stops the crawl.

One spider serves the daemon's whole life (:mod:`marsad.crawler.engine`): feeds arrive one poll
at a time (:meth:`SourceSpider.submit`), every request carries its poll (:mod:`marsad.crawler.poll`)
and each callback closes the unit of work it was, so a poll knows when it is over. Pages become
articles in worker processes (:mod:`marsad.crawler.workers`).

Every entry a feed lists ends one of four ways: already stored (seen again), stored now (from
its page, or from the feed's own text when it has no link or its page fails), skipped with a
recorded reason (it cannot be used: a link that is not http(s), nothing to store), or owed: noted
in ``feed_entries`` before it is fetched and settled when it is stored, so a failed store or a
crawl that dies leaves it to the next poll, which reads the feed again even if its body did not
change (up to a bound: :func:`marsad.crawler.feeds.gives_up`).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Self, TypeVar

import scrapy
from scrapy import signals
from scrapy.exceptions import (
    DontCloseSpider,
)

from marsad.crawler.config import FeedConfig
from marsad.crawler.discovery import feed_links, looks_like_web_page, web_page_message
from marsad.crawler.extract import guess_language
from marsad.crawler.failures import describe_failure, http_error_response, is_transient
from marsad.crawler.feeds import (
    FeedEntry,
    FeedResult,
    content_url,
    entry_key,
    gives_up,
    link_problem,
)
from marsad.crawler.fetch_policy import (
    after_failure,
    body_hash,
    conditional_headers,
    requested_pause,
)
from marsad.crawler.items import ArticleItem, EntryNotStored
from marsad.crawler.poll import POLL_META, Poll
from marsad.crawler.polling import HINT_HEADERS, ReadingNote, header_hint
from marsad.crawler.problems import (
    ENTRY_GAVE_UP,
    ENTRY_SKIPPED,
    FEED_FAILED,
    FEED_MALFORMED,
    PAGE_FAILED,
    report_problem,
)
from marsad.crawler.shared import shared_store_or_none, shared_workers
from marsad.crawler.signals import FeedOutcome, Problem, feed_fetched
from marsad.crawler.telemetry import note_failed_fetch
from marsad.storage.articles import known_guids, known_urls
from marsad.storage.feeds import (
    NOT_STORED_YET,
    EntryNote,
    EntryRecord,
    KnownEntries,
    entry_records,
)
from marsad.storage.models import FeedState, NewArticle
from marsad.times import to_iso
from marsad.urls import canonical_url

if TYPE_CHECKING:
    from scrapy.crawler import Crawler
    from scrapy.http import Response
    from sqlite_utils import Database
    from twisted.python.failure import Failure

    from marsad.crawler.workers import PageWorkers

logger = logging.getLogger(__name__)

Item = TypeVar("Item", ArticleItem, EntryNotStored)

# Settings of ours (defaults in marsad.crawler.settings, values from CrawlConfig).
MAX_ARTICLES_SETTING = "MARSAD_MAX_ARTICLES_PER_FEED"
MAX_BACKOFF_SETTING = "MARSAD_MAX_BACKOFF"


@dataclass(frozen=True)
class FeedJob:
    """A feed to fetch in this crawl, with its state as the store had it before the crawl."""

    feed: FeedConfig
    state: FeedState
    # Entries it listed that are still to be stored: the feed is read again whatever its body.
    retrying: int = 0
    # For a fetcher without the store (marsad run --role fetcher): what the store knows of the
    # feed's entries, read by the scheduler that sent the job. None: ask the store.
    known: KnownEntries | None = None


class SourceUnreadable(ValueError):
    """A reader's word that a response is no source of its kind it can use: its message (one
    line) is the feed's error."""


@dataclass(frozen=True)
class SourceIndex(FeedResult):
    """A reading that goes on in other documents of the same source (a sitemap index's
    sitemaps). They are fetched in the same poll (at most :data:`MAX_MORE_SOURCES`, each
    within the download size limit), read by the same kind's reader, and their entries merged
    with this one's before any is planned. Such a source keeps no validators (a 304 of the index
    would hide its documents' changes): it is unchanged when all its documents are."""

    more_sources: tuple[str, ...] = ()


# The most documents one reading of a source may go on to (whatever its kind asks).
MAX_MORE_SOURCES = 50


@dataclass
class _Gathering:
    """The documents of one reading of a source, as they arrive (see :class:`SourceIndex`)."""

    job: FeedJob
    index: SourceIndex
    status: int
    at: str
    digest: str
    urls: tuple[str, ...]
    # url -> its reading, or why it has none; and each body's hash (or its failure).
    readings: dict[str, FeedResult | str] = field(default_factory=dict)
    digests: dict[str, str] = field(default_factory=dict)
    finished: bool = False

    def arrived(self, url: str, reading: FeedResult | str, digest: str) -> None:
        self.readings[url] = reading
        self.digests[url] = digest

    def take_if_complete(self) -> bool:
        """True once, when every document has arrived (the caller then reads them all)."""
        if self.finished or len(self.readings) < len(self.urls):
            return False
        self.finished = True
        return True


@dataclass
class EntryPlan:
    """What one reading of a feed does with each entry it lists."""

    listed: list[str] = field(default_factory=list)  # every entry's key
    seen_again: list[tuple[FeedEntry, str]] = field(default_factory=list)  # (entry, url) stored
    from_feed: list[tuple[FeedEntry, str, str]] = field(default_factory=list)  # (entry, key, url)
    # (entry, key, last chance): on its last chance an entry whose page fails keeps the feed's
    # text even when the feed has nothing but a title.
    to_fetch: list[tuple[FeedEntry, str, bool]] = field(default_factory=list)
    attempted: list[EntryNote] = field(default_factory=list)
    waiting: list[EntryNote] = field(default_factory=list)
    skipped: list[EntryNote] = field(default_factory=list)
    gave_up: list[EntryNote] = field(default_factory=list)
    first_seen: int = 0  # entries never seen before this reading


class SourceSpider(scrapy.Spider):
    """Fetches each job's URL (conditional GET, body hash), reads it into entries, stores the
    entries it already holds as sightings and follows the new ones to their pages.

    It stays open when idle: the engine hands it feeds to fetch with :meth:`submit` for as long
    as the daemon runs. A kind of source is a subclass that says how a response becomes entries
    (:meth:`read_source`); the engine's one spider reads each feed with its kind's ``readers``
    entry (that subclass's ``read_source``, called on this spider).
    """

    name = "marsad"

    def __init__(
        self,
        *,
        store: Database | None,
        workers: PageWorkers,
        readers: Mapping[str, type[SourceSpider]] | None = None,
        max_articles_per_feed: int,
        max_backoff: float,
        fetch_timeout: float,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.store = store
        self.workers = workers
        self.readers = dict(readers or {})
        self.max_articles_per_feed = max_articles_per_feed
        self.max_backoff = max_backoff
        # Not "download_timeout": Scrapy would read that as the deprecated per-spider setting.
        self.fetch_timeout = fetch_timeout
        # Canonical URLs being fetched now, until stored (two feeds may list one article).
        self._following: set[str] = set()
        # What each feed's last successful fetch tells its polling (hints, entries listed and
        # new), taken by the daemon's poll job once the poll is over (marsad.crawler.polling).
        self.polling_notes: dict[str, ReadingNote] = {}

    @classmethod
    def from_crawler(cls, crawler: Crawler, *args: Any, **kwargs: Any) -> Self:
        settings = crawler.settings
        spider = super().from_crawler(
            crawler,
            *args,
            store=shared_store_or_none(settings),
            workers=shared_workers(settings),
            max_articles_per_feed=settings.getint(MAX_ARTICLES_SETTING),
            max_backoff=settings.getfloat(MAX_BACKOFF_SETTING),
            fetch_timeout=settings.getfloat("DOWNLOAD_TIMEOUT"),
            **kwargs,
        )
        crawler.signals.connect(spider.stay_open, signal=signals.spider_idle)
        crawler.signals.connect(spider.request_dropped, signal=signals.request_dropped)
        return spider

    def read_source(self, response: Response, job: FeedJob) -> FeedResult:
        """The entries of a source's (changed) response: read by its kind's reader."""
        reader = self.readers.get(job.feed.kind)
        if reader is None or reader.read_source is SourceSpider.read_source:
            raise ValueError(f"no reader for kind {job.feed.kind!r}")
        return reader.read_source(self, response, job)

    def now(self) -> datetime:
        return datetime.now(UTC)

    async def start(self) -> AsyncIterator[Any]:
        # Nothing at start: feeds come from the engine, poll by poll.
        return
        yield

    def stay_open(self) -> None:
        """Idle is normal between polls; only the engine closes this spider."""
        raise DontCloseSpider

    def submit(self, job: FeedJob, poll: Poll) -> None:
        """Fetch ``job``'s feed as part of ``poll`` (on the engine's one crawler)."""
        poll.open()
        request = scrapy.Request(
            job.feed.url,
            # Entries still owed: the feed is read in full (a 304 would not list them).
            headers={} if job.retrying else conditional_headers(job.state),
            callback=self.parse_source,
            errback=self.source_failed,
            cb_kwargs={"job": job},
            meta={"handle_httpstatus_list": [304], POLL_META: poll},
            dont_filter=True,
        )
        self.crawler.engine.crawl(request)

    def request_dropped(self, request: scrapy.Request) -> None:
        """The scheduler refused a request: its unit of work is over (never fetched)."""
        poll = request.meta.get(POLL_META)
        if isinstance(poll, Poll):
            self._following.discard(canonical_url(request.url))
            poll.close()

    def release_following(self, url: str | None) -> None:
        """The article fetched from ``url`` is stored (or reported): another feed listing it
        now finds it in the store."""
        if url is not None:
            self._following.discard(url)

    def _opened(self, item: Item, poll: Poll) -> Item:
        """``item`` as a unit of ``poll``'s work, open until the pipeline is done with it."""
        poll.open()
        return replace(item, poll=poll)

    def _count(self, poll: Poll, key: str, value: int = 1) -> None:
        if value:
            self.crawler.stats.inc_value(f"marsad/{key}", value)
            poll.count(key, value)

    # -- sources -------------------------------------------------------------------------------

    def parse_source(self, response: Response, job: FeedJob) -> Iterator[Any]:
        poll: Poll = response.meta[POLL_META]
        try:
            yield from self._read_source(response, job, poll)
        finally:
            poll.close()

    def _read_source(self, response: Response, job: FeedJob, poll: Poll) -> Iterator[Any]:
        now = self.now()
        at = to_iso(now)
        headers = {name: response_header(response, name) for name in HINT_HEADERS}
        self.polling_notes[job.feed.name] = ReadingNote(header_hint=header_hint(headers, now))
        if response.status == 304:
            self._send(job, poll, "unchanged", 304, at)
            return
        digest = body_hash(response.body)
        etag = response_header(response, "ETag")
        last_modified = response_header(response, "Last-Modified")
        same_body = digest == job.state.body_hash
        if same_body and not job.retrying:
            self._send(job, poll, "unchanged", response.status, at, etag, last_modified, digest)
            return
        try:
            result = self.read_source(response, job)
        except SourceUnreadable as exc:
            self._failed(job, poll, response.status, str(exc), now)
            return
        except Exception as exc:  # a reader should not raise; if it does, one feed fails
            self._failed(job, poll, response.status, f"cannot parse: {exc!r}", now)
            return
        if not result.is_feed:
            self._failed(job, poll, response.status, not_a_source(response, result), now)
            return
        if isinstance(result, SourceIndex) and result.more_sources:
            yield from self._gather(job, poll, result, response.status, at, digest)
            return
        yield from self._read_entries(
            job, poll, result, response.status, at, etag, last_modified, digest, same_body, now
        )

    def _read_entries(
        self,
        job: FeedJob,
        poll: Poll,
        result: FeedResult,
        status: int,
        at: str,
        etag: str | None,
        last_modified: str | None,
        digest: str,
        same_body: bool,
        now: datetime,
    ) -> Iterator[Any]:
        feed = job.feed
        if result.bozo:
            self._problem(
                FEED_MALFORMED,
                f"feed {feed.name!r} ({feed.url}): malformed, kept the {len(result.entries)} "
                f"entries recovered: {result.bozo_message}",
                job,
            )
        plan = self._plan_entries(job, poll, result, now)
        self.polling_notes[feed.name] = replace(
            self.polling_notes.get(feed.name, ReadingNote()),
            feed_hint=result.hint,
            read=True,
            listed=len(plan.listed),
            new=plan.first_seen,
        )
        # Sent before the entries are yielded, so the outcome and the entries still owed are
        # recorded (one transaction) before any of them is stored.
        self._send(
            job,
            poll,
            "ok",
            status,
            at,
            etag,
            last_modified,
            digest,
            new_items=plan.first_seen,
            plan=plan,
        )
        if not same_body:  # read again only for entries owed: the others were seen already
            for entry, url in plan.seen_again:
                yield self._opened(ArticleItem(self._from_feed(job, entry, url), feed.name), poll)
        for entry, key, url in plan.from_feed:
            item = ArticleItem(self._from_feed(job, entry, url), feed.name, key)
            yield self._opened(item, poll)
        for entry, key, last_chance in plan.to_fetch:
            yield from self._follow(job, poll, entry, key, last_chance)

    # -- a reading in several documents (SourceIndex) -----------------------------------------

    def _gather(
        self, job: FeedJob, poll: Poll, index: SourceIndex, status: int, at: str, digest: str
    ) -> Iterator[Any]:
        """Fetch the documents ``index`` goes on to, each a unit of ``poll``'s work; the last
        to arrive reads them all (:meth:`_read_gathered`)."""
        urls = tuple(dict.fromkeys(index.more_sources))[:MAX_MORE_SOURCES]
        if len(set(index.more_sources)) > MAX_MORE_SOURCES:
            cut = f"more than {MAX_MORE_SOURCES} documents: read the first {MAX_MORE_SOURCES}"
            index = replace(index, unusable=(*index.unusable, cut))
        gathering = _Gathering(job, index, status, at, digest, urls)
        for url in urls:
            try:
                request = scrapy.Request(
                    url,
                    callback=self.parse_more,
                    errback=self.more_failed,
                    cb_kwargs={"gathering": gathering, "url": url},
                    meta={POLL_META: poll},
                    dont_filter=True,
                )
            except ValueError as exc:
                gathering.arrived(url, f"{url}: cannot request it: {exc}", f"bad:{url}")
                continue
            poll.open()
            yield request
        if gathering.take_if_complete():  # none could be requested
            yield from self._read_gathered(gathering, poll)

    def parse_more(self, response: Response, gathering: _Gathering, url: str) -> Iterator[Any]:
        poll: Poll = response.meta[POLL_META]
        try:
            reading: FeedResult | str
            try:
                reading = self.read_source(response, gathering.job)
            except SourceUnreadable as exc:
                reading = str(exc)
            except Exception as exc:  # one document costs only itself
                reading = f"{url}: cannot parse: {exc!r}"
            else:
                if not reading.is_feed:
                    reading = f"{url}: {not_a_source(response, reading)}"
                elif isinstance(reading, SourceIndex) and reading.more_sources:
                    nested = f"{url}: goes on to {len(reading.more_sources)} more: not followed"
                    reading = replace(reading, unusable=(*reading.unusable, nested))
            gathering.arrived(url, reading, body_hash(response.body))
            if gathering.take_if_complete():
                yield from self._read_gathered(gathering, poll)
        finally:
            poll.close()

    def more_failed(self, failure: Failure) -> Iterator[Any]:
        kwargs = _cb_kwargs(failure)
        gathering: _Gathering = kwargs["gathering"]
        poll = _poll(failure)
        try:
            reason = f"{kwargs['url']}: {describe_failure(failure, self.fetch_timeout)}"
            gathering.arrived(kwargs["url"], reason, f"failed:{reason}")
            if gathering.take_if_complete():
                yield from self._read_gathered(gathering, poll)
        finally:
            poll.close()

    def _read_gathered(self, gathering: _Gathering, poll: Poll) -> Iterator[Any]:
        """Every document has arrived: their entries, merged, are read as one reading."""
        job, index = gathering.job, gathering.index
        now = self.now()
        readings = [gathering.readings[url] for url in gathering.urls]
        read = [r for r in readings if isinstance(r, FeedResult)]
        failed = [r for r in readings if isinstance(r, str)]
        if not read and not index.entries:
            reason = f"none of the {len(readings)} documents it lists could be read: {failed[0]}"
            self._failed(job, poll, gathering.status, reason, now)
            return
        malformed = next((r for r in (index, *read) if r.bozo), None)
        merged = FeedResult(
            title=index.title,
            version=index.version,
            entries=tuple(entry for r in (index, *read) for entry in r.entries),
            bozo=malformed is not None,
            bozo_message=malformed.bozo_message if malformed is not None else None,
            unusable=(*index.unusable, *(note for r in read for note in r.unusable), *failed),
        )
        parts = [gathering.digest, *(gathering.digests[url] for url in gathering.urls)]
        digest = body_hash("\n".join(parts).encode("utf-8"))
        same = digest == job.state.body_hash
        if same and not job.retrying:
            self._send(job, poll, "unchanged", gathering.status, gathering.at, digest=digest)
            return
        yield from self._read_entries(
            job, poll, merged, gathering.status, gathering.at, None, None, digest, same, now
        )

    def _plan_entries(
        self, job: FeedJob, poll: Poll, result: FeedResult, now: datetime
    ) -> EntryPlan:
        """Sort a feed's entries: stored already, to store (fetching the page or from the feed's
        text), waiting for a later poll, skipped or given up. Reads the store; writes nothing."""
        plan = EntryPlan()
        records = self._records(job)
        candidates: list[tuple[FeedEntry, str, str]] = []
        empty = 0
        # A set beside the list: a sitemap index merges thousands of entries.
        listed: set[str] = set()
        for entry in result.entries:
            key = entry_key(entry)
            if key is None:
                empty += 1
                continue
            if key in listed:  # listed twice: once is enough
                continue
            listed.add(key)
            plan.listed.append(key)
            if entry.link is None:
                candidates.append((entry, key, content_url(entry, job.feed.url)))
                continue
            problem = link_problem(entry.link)
            if problem is not None:
                self._skip(job, poll, plan, records, EntryNote(key, entry.link, problem))
                continue
            candidates.append((entry, key, canonical_url(entry.link)))
        if empty:
            entries = "an entry" if empty == 1 else f"{empty} entries"
            note = EntryNote(
                "empty", None, f"{entries} with nothing to store (no link, GUID, title or text)"
            )
            plan.listed.append(note.key)
            self._skip(job, poll, plan, records, note)
        if result.unusable:
            unreadable = EntryNote("unreadable", None, "; ".join(result.unusable))
            plan.listed.append(unreadable.key)
            self._skip(job, poll, plan, records, unreadable)
        stored_urls, stored_guids = self._stored(job, candidates)
        for entry, key, url in candidates:
            if url in stored_urls or (entry.guid and entry.guid in stored_guids):
                plan.seen_again.append((entry, url))
            else:
                self._plan_unstored(job, poll, plan, records.get(key), entry, key, url, now)
        return plan

    def _records(self, job: FeedJob) -> dict[str, EntryRecord]:
        if job.known is not None:
            return {record.key: record for record in job.known.records}
        return entry_records(self._store(), job.state.id)

    def _stored(
        self, job: FeedJob, candidates: Sequence[tuple[FeedEntry, str, str]]
    ) -> tuple[set[str], set[str]]:
        """Which candidates' canonical URLs and GUIDs the store holds (or, for a fetcher, held
        for this feed when the job was sent: an entry stored through another feed since is
        fetched once more and found stored by the writer)."""
        if job.known is not None:
            return set(job.known.urls), set(job.known.guids)
        store = self._store()
        urls = known_urls(store, [url for _, _, url in candidates])
        guids = known_guids(store, [e.guid for e, _, _ in candidates if e.guid])
        return urls, guids

    def _store(self) -> Database:
        if self.store is None:
            raise RuntimeError("a job for a fetcher without the store must carry its known entries")
        return self.store

    def _plan_unstored(
        self,
        job: FeedJob,
        poll: Poll,
        plan: EntryPlan,
        record: EntryRecord | None,
        entry: FeedEntry,
        key: str,
        url: str,
        now: datetime,
    ) -> None:
        shown = entry.link or url
        if record is not None and record.state == "gave_up":
            plan.gave_up.append(EntryNote(key, record.url, record.reason))
            return
        if (
            record is not None
            and record.state == "retrying"
            and gives_up(record.attempts, record.first_seen_at, now)
        ):
            reason = (
                f"not stored after {record.attempts} attempts since {record.first_seen_at}; "
                f"last: {record.reason}"
            )
            plan.gave_up.append(EntryNote(key, shown, reason))
            self._count(poll, "entries_gave_up")
            self._problem(
                ENTRY_GAVE_UP, f"feed {job.feed.name!r}: entry {shown}: gave up: {reason}", job
            )
            return
        if entry.link is not None and url in self._following:
            # Another feed's poll fetches it now; this one finds it stored next time.
            plan.waiting.append(EntryNote(key, shown, "being fetched for another feed"))
            return
        if len(plan.attempted) >= self.max_articles_per_feed:
            reason = f"waiting: more than {self.max_articles_per_feed} entries to fetch in one poll"
            plan.waiting.append(EntryNote(key, shown, reason))
            return
        plan.attempted.append(EntryNote(key, shown, NOT_STORED_YET))
        retrying = record is not None and record.state == "retrying"
        if record is None:
            plan.first_seen += 1
        elif retrying and record.attempts:
            self._count(poll, "entries_retried")
        if entry.link is None:
            plan.from_feed.append((entry, key, url))
            return
        self._following.add(url)
        if record is not None and retrying:
            last_chance = gives_up(record.attempts + 1, record.first_seen_at, now)
        else:
            last_chance = gives_up(1, to_iso(now), now)
        plan.to_fetch.append((entry, key, last_chance))

    def _skip(
        self,
        job: FeedJob,
        poll: Poll,
        plan: EntryPlan,
        records: dict[str, EntryRecord],
        note: EntryNote,
    ) -> None:
        plan.skipped.append(note)
        known = records.get(note.key)
        if known is not None and known.state == "skipped" and known.reason == note.reason:
            return  # said when it was first skipped
        self._count(poll, "entries_skipped")
        self._problem(ENTRY_SKIPPED, f"feed {job.feed.name!r}: entry skipped: {note.reason}", job)

    def _follow(
        self, job: FeedJob, poll: Poll, entry: FeedEntry, key: str, last_chance: bool
    ) -> Iterator[Any]:
        assert entry.link is not None
        followed = canonical_url(entry.link)
        try:
            request = scrapy.Request(
                entry.link,
                callback=self.parse_article,
                errback=self.article_failed,
                cb_kwargs={"job": job, "entry": entry, "key": key, "last_chance": last_chance},
                meta={POLL_META: poll},
            )
        except ValueError as exc:  # a link Scrapy cannot request: the feed's text is kept
            self._problem(
                PAGE_FAILED,
                f"feed {job.feed.name!r}: article {entry.link}: cannot request it: {exc}; "
                "kept the feed's text",
                job,
            )
            item = ArticleItem(self._from_feed(job, entry), job.feed.name, key, followed=followed)
            yield self._opened(item, poll)
            return
        poll.open()
        yield request

    def source_failed(self, failure: Failure) -> None:
        job: FeedJob = _cb_kwargs(failure)["job"]
        poll = _poll(failure)
        try:
            note_failed_fetch(self.crawler, failure)  # by its cause (the metrics' fetch results)
            now = self.now()
            status = None
            requested = None
            response = http_error_response(failure)
            if response is not None:
                status = response.status
                requested = requested_pause(status, response.headers.get("Retry-After"), now)
            reason = describe_failure(failure, self.fetch_timeout)
            self._failed(job, poll, status, reason, now, requested)
        finally:
            poll.close()

    def _failed(
        self,
        job: FeedJob,
        poll: Poll,
        status: int | None,
        reason: str,
        now: datetime,
        requested: float | None = None,
    ) -> None:
        self.polling_notes.pop(job.feed.name, None)  # a failure backs off instead
        backoff = after_failure(
            job.state,
            now,
            max_backoff=self.max_backoff,
            requested=requested,
            every=job.feed.every,
        )
        message = f"feed {job.feed.name!r} ({job.feed.url}): {reason}"
        self._problem(
            FEED_FAILED,
            f"{message}; failure {backoff.failures} in a row, next try after {backoff.until}",
            job,
        )
        self._send(
            job, poll, "failed", status, to_iso(now), error=message, backoff_until=backoff.until
        )

    def _send(
        self,
        job: FeedJob,
        poll: Poll,
        outcome: str,
        status: int | None,
        at: str,
        etag: str | None = None,
        last_modified: str | None = None,
        digest: str | None = None,
        *,
        new_items: int = 0,
        error: str | None = None,
        backoff_until: str | None = None,
        plan: EntryPlan | None = None,
    ) -> None:
        self.crawler.signals.send_catch_log(
            feed_fetched,
            poll=poll,
            outcome=FeedOutcome(
                feed_id=job.state.id,
                feed_name=job.feed.name,
                url=job.feed.url,
                outcome=outcome,
                status=status,
                at=at,
                etag=etag,
                last_modified=last_modified,
                body_hash=digest,
                new_items=new_items,
                error=error,
                backoff_until=backoff_until,
                listed=tuple(plan.listed) if plan is not None else None,
                attempted=tuple(plan.attempted) if plan is not None else (),
                waiting=tuple(plan.waiting) if plan is not None else (),
                skipped=tuple(plan.skipped) if plan is not None else (),
                gave_up=tuple(plan.gave_up) if plan is not None else (),
            ),
        )

    def _problem(self, kind: str, message: str, job: FeedJob) -> None:
        report_problem(self.crawler, Problem(kind, message, job.feed.name), logger)

    # -- articles ------------------------------------------------------------------------------

    async def parse_article(
        self, response: Response, job: FeedJob, entry: FeedEntry, key: str, last_chance: bool
    ) -> AsyncIterator[Any]:
        poll: Poll = response.meta[POLL_META]
        try:
            async for item in self._read_article(response, job, poll, entry, key):
                yield item
        finally:
            poll.close()

    async def _read_article(
        self, response: Response, job: FeedJob, poll: Poll, entry: FeedEntry, key: str
    ) -> AsyncIterator[Any]:
        assert entry.link is not None
        followed = canonical_url(entry.link)
        from_feed = self._from_feed(job, entry)
        try:
            # In a worker process: extraction and the pure part of ingest.
            page = await self.workers.article_from_page(
                response.body,
                response.url,
                response_header(response, "Content-Type"),
                from_feed,
            )
        except Exception as exc:  # a hostile page must not stop the crawl
            self._problem(
                PAGE_FAILED,
                f"feed {job.feed.name!r}: article {entry.link}: extraction failed: {exc!r}; "
                "kept the feed's text",
                job,
            )
            page = None
        else:
            if page is None:
                logger.info(
                    "%s: no article text found on %s; kept the feed's text",
                    job.feed.name,
                    entry.link,
                )
        if page is None:
            yield self._opened(ArticleItem(from_feed, job.feed.name, key, followed=followed), poll)
            return
        item = ArticleItem(
            page.article, job.feed.name, key, followed=followed, prepared=page.prepared
        )
        yield self._opened(item, poll)

    def article_failed(self, failure: Failure) -> Iterator[Any]:
        kwargs = _cb_kwargs(failure)
        job: FeedJob = kwargs["job"]
        entry: FeedEntry = kwargs["entry"]
        poll = _poll(failure)
        followed = canonical_url(entry.link) if entry.link else None
        try:
            reason = describe_failure(failure, self.fetch_timeout)
            about = f"feed {job.feed.name!r}: article {entry.link}: {reason}"
            if not entry.text and is_transient(failure) and not kwargs["last_chance"]:
                # The feed gives nothing but a title: better the page on a later poll.
                self._problem(PAGE_FAILED, f"{about}; tried again on the next poll", job)
                owed = EntryNotStored(
                    job.state.id, job.feed.name, kwargs["key"], reason, followed=followed
                )
                yield self._opened(owed, poll)
                return
            self._problem(PAGE_FAILED, f"{about}; kept the feed's text", job)
            item = ArticleItem(
                self._from_feed(job, entry), job.feed.name, kwargs["key"], followed=followed
            )
            yield self._opened(item, poll)
        finally:
            poll.close()

    def _from_feed(self, job: FeedJob, entry: FeedEntry, url: str | None = None) -> NewArticle:
        """The article as the feed tells it; ``url`` files an entry without a link
        (:func:`~marsad.crawler.feeds.content_url`)."""
        link = entry.link or url
        assert link is not None
        return NewArticle(
            url=link,
            canonical_url=canonical_url(entry.link) if entry.link else link,
            source=job.feed.source,
            title=entry.title,
            text=entry.text,
            published=entry.published,
            guid=entry.guid,
            feed_id=job.state.id,
            author=entry.author,
            language=guess_language(f"{entry.title}\n{entry.text}"),
            extraction="feed",
        )


def _poll(failure: Failure) -> Poll:
    request: scrapy.Request = failure.request  # type: ignore[attr-defined]
    poll = request.meta[POLL_META]
    assert isinstance(poll, Poll)
    return poll


def _cb_kwargs(failure: Failure) -> dict[str, Any]:
    # Scrapy sets the failed request on the failure it passes to an errback.
    request: scrapy.Request = failure.request  # type: ignore[attr-defined]
    return request.cb_kwargs


def response_header(response: Response, name: str) -> str | None:
    value = response.headers.get(name)
    return value.decode("latin-1") if value else None


def not_a_source(response: Response, result: FeedResult) -> str:
    """Why a response that is not a feed cannot be read: for an HTML page, the feeds it links."""
    content_type = response_header(response, "Content-Type")
    if looks_like_web_page(response.body, content_type):
        return web_page_message(feed_links(response.body, response.url))
    reason = result.bozo_message or "no entries and no feed format recognised"
    return f"not a feed ({reason})"
