"""What every kind of source shares: fetch it conditionally, follow its new entries to their pages.

A kind of source is a subclass that says how a response's bytes become entries
(:meth:`SourceSpider.read_source`) and one entry in :data:`marsad.crawler.spiders.SPIDERS`.
The spider reads the store (to skip articles it already holds) on the caller's connection; it
writes nothing itself. Articles go to the item pipeline as items; each feed's outcome goes out
as the ``feed_fetched`` signal (recorded by the FeedLedger extension); every failure is a
problem (logged, counted, signalled) and never stops the crawl.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Self

import scrapy
from scrapy.exceptions import DownloadCancelledError, DownloadTimeoutError, IgnoreRequest
from scrapy.spidermiddlewares.httperror import HttpError

from marsad.crawler.config import FeedConfig
from marsad.crawler.extract import extract_article, guess_language
from marsad.crawler.feeds import FeedEntry, FeedResult
from marsad.crawler.fetch_policy import (
    after_failure,
    body_hash,
    conditional_headers,
    requested_pause,
)
from marsad.crawler.items import ArticleItem
from marsad.crawler.problems import FEED_FAILED, FEED_MALFORMED, PAGE_FAILED, report_problem
from marsad.crawler.shared import shared_store
from marsad.crawler.signals import FeedOutcome, Problem, feed_fetched
from marsad.storage.articles import known_guids, known_urls
from marsad.storage.models import FeedState, NewArticle
from marsad.times import to_iso
from marsad.urls import canonical_url

if TYPE_CHECKING:
    from scrapy.crawler import Crawler
    from scrapy.http import Response
    from sqlite_utils import Database
    from twisted.python.failure import Failure

logger = logging.getLogger(__name__)

# Settings of ours (defaults in marsad.crawler.settings, values from CrawlConfig).
MAX_ARTICLES_SETTING = "MARSAD_MAX_ARTICLES_PER_FEED"
MAX_BACKOFF_SETTING = "MARSAD_MAX_BACKOFF"


@dataclass(frozen=True)
class FeedJob:
    """A feed to fetch in this crawl, with its state as the store had it before the crawl."""

    feed: FeedConfig
    state: FeedState


class SourceSpider(scrapy.Spider):
    """Fetches each job's URL (conditional GET, body hash), reads it into entries, stores the
    entries it already holds as sightings and follows the new ones to their pages."""

    def __init__(
        self,
        *,
        store: Database,
        jobs: Sequence[FeedJob] = (),
        max_articles_per_feed: int,
        max_backoff: float,
        fetch_timeout: float,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.store = store
        self.jobs = tuple(jobs)
        self.max_articles_per_feed = max_articles_per_feed
        self.max_backoff = max_backoff
        # Not "download_timeout": Scrapy would read that as the deprecated per-spider setting.
        self.fetch_timeout = fetch_timeout
        # Canonical URLs already followed in this crawl (two feeds may list one article).
        self._following: set[str] = set()

    @classmethod
    def from_crawler(cls, crawler: Crawler, *args: Any, **kwargs: Any) -> Self:
        settings = crawler.settings
        return super().from_crawler(
            crawler,
            *args,
            store=shared_store(settings),
            max_articles_per_feed=settings.getint(MAX_ARTICLES_SETTING),
            max_backoff=settings.getfloat(MAX_BACKOFF_SETTING),
            fetch_timeout=settings.getfloat("DOWNLOAD_TIMEOUT"),
            **kwargs,
        )

    def read_source(self, response: Response, job: FeedJob) -> FeedResult:
        """The entries of a source's (changed) response. Each kind says how."""
        raise NotImplementedError

    def now(self) -> datetime:
        return datetime.now(UTC)

    async def start(self) -> AsyncIterator[Any]:
        for job in self.jobs:
            yield scrapy.Request(
                job.feed.url,
                headers=conditional_headers(job.state),
                callback=self.parse_source,
                errback=self.source_failed,
                cb_kwargs={"job": job},
                meta={"handle_httpstatus_list": [304]},
                dont_filter=True,
            )

    # -- sources -------------------------------------------------------------------------------

    def parse_source(self, response: Response, job: FeedJob) -> Iterator[Any]:
        feed = job.feed
        now = self.now()
        at = to_iso(now)
        if response.status == 304:
            self._send(job, "unchanged", 304, at)
            return
        digest = body_hash(response.body)
        etag = response_header(response, "ETag")
        last_modified = response_header(response, "Last-Modified")
        if digest == job.state.body_hash:
            self._send(job, "unchanged", response.status, at, etag, last_modified, digest)
            return
        try:
            result = self.read_source(response, job)
        except Exception as exc:  # a reader should not raise; if it does, one feed fails
            self._failed(job, response.status, f"cannot parse: {exc!r}", now)
            return
        if not result.is_feed:
            reason = result.bozo_message or "no entries and no feed format recognised"
            self._failed(job, response.status, f"not a feed ({reason})", now)
            return
        if result.bozo:
            self._problem(
                FEED_MALFORMED,
                f"feed {feed.name!r} ({feed.url}): malformed, kept the {len(result.entries)} "
                f"entries recovered: {result.bozo_message}",
                job,
            )
        new, known = self._split_entries(result)
        # Sent before the entries are yielded, so the outcome is recorded before they are stored.
        self._send(job, "ok", response.status, at, etag, last_modified, digest, new_items=len(new))
        for entry in known:
            # Not fetched again; the pipeline records that this feed listed it.
            yield ArticleItem(self._from_feed(job, entry), feed.name)
        for entry in new:
            assert entry.link is not None
            yield scrapy.Request(
                entry.link,
                callback=self.parse_article,
                errback=self.article_failed,
                cb_kwargs={"job": job, "entry": entry},
            )

    def _split_entries(self, result: FeedResult) -> tuple[list[FeedEntry], list[FeedEntry]]:
        entries = [e for e in result.entries if e.link][: self.max_articles_per_feed]
        urls = [canonical_url(e.link) for e in entries if e.link]
        guids = [e.guid for e in entries if e.guid]
        stored_urls = known_urls(self.store, urls)
        stored_guids = known_guids(self.store, guids)
        new: list[FeedEntry] = []
        known: list[FeedEntry] = []
        for entry, url in zip(entries, urls, strict=True):
            if url in stored_urls or (entry.guid and entry.guid in stored_guids):
                known.append(entry)
            elif url not in self._following:
                self._following.add(url)
                new.append(entry)
        return new, known

    def source_failed(self, failure: Failure) -> None:
        job: FeedJob = _cb_kwargs(failure)["job"]
        now = self.now()
        status = None
        requested = None
        response = _http_error_response(failure)
        if response is not None:
            status = response.status
            requested = requested_pause(status, response.headers.get("Retry-After"), now)
        self._failed(job, status, describe_failure(failure, self.fetch_timeout), now, requested)

    def _failed(
        self,
        job: FeedJob,
        status: int | None,
        reason: str,
        now: datetime,
        requested: float | None = None,
    ) -> None:
        backoff = after_failure(job.state, now, max_backoff=self.max_backoff, requested=requested)
        message = f"feed {job.feed.name!r} ({job.feed.url}): {reason}"
        self._problem(
            FEED_FAILED,
            f"{message}; failure {backoff.failures} in a row, next try after {backoff.until}",
            job,
        )
        self._send(job, "failed", status, to_iso(now), error=message, backoff_until=backoff.until)

    def _send(
        self,
        job: FeedJob,
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
    ) -> None:
        self.crawler.signals.send_catch_log(
            feed_fetched,
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
            ),
        )

    def _problem(self, kind: str, message: str, job: FeedJob) -> None:
        report_problem(self.crawler, Problem(kind, message, job.feed.name), logger)

    # -- articles ------------------------------------------------------------------------------

    def parse_article(self, response: Response, job: FeedJob, entry: FeedEntry) -> Iterator[Any]:
        try:
            extracted = extract_article(
                response.body, response.url, content_type=response_header(response, "Content-Type")
            )
        except Exception as exc:  # a hostile page must not stop the crawl
            self._problem(
                PAGE_FAILED,
                f"feed {job.feed.name!r}: article {entry.link}: extraction failed: {exc!r}; "
                "kept the feed's text",
                job,
            )
            extracted = None
        if extracted is None:
            logger.info(
                "%s: no article text found on %s; kept the feed's text", job.feed.name, entry.link
            )
            yield ArticleItem(self._from_feed(job, entry), job.feed.name)
            return
        assert entry.link is not None
        yield ArticleItem(
            NewArticle(
                url=entry.link,
                canonical_url=canonical_url(entry.link),
                source=job.feed.source,
                # The feed's title is usually the cleaner one (no site name appended).
                title=entry.title or extracted.title or "",
                text=extracted.text,
                published=entry.published or extracted.published,
                guid=entry.guid,
                feed_id=job.state.id,
                author=extracted.author or entry.author,
                language=extracted.language,
                extraction="page",
            ),
            job.feed.name,
        )

    def article_failed(self, failure: Failure) -> Iterator[Any]:
        job: FeedJob = _cb_kwargs(failure)["job"]
        entry: FeedEntry = _cb_kwargs(failure)["entry"]
        self._problem(
            PAGE_FAILED,
            f"feed {job.feed.name!r}: article {entry.link}: "
            f"{describe_failure(failure, self.fetch_timeout)}; kept the feed's text",
            job,
        )
        yield ArticleItem(self._from_feed(job, entry), job.feed.name)

    def _from_feed(self, job: FeedJob, entry: FeedEntry) -> NewArticle:
        assert entry.link is not None
        return NewArticle(
            url=entry.link,
            canonical_url=canonical_url(entry.link),
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


def describe_failure(failure: Failure, download_timeout: float) -> str:
    """A short reason a download failed, for people reading the report."""
    response = _http_error_response(failure)
    if response is not None:
        wait = response.headers.get("Retry-After")
        extra = f" (Retry-After: {wait.decode('latin-1')})" if wait else ""
        return f"HTTP {response.status}{extra}"
    if failure.check(DownloadTimeoutError):
        return f"no complete answer within {download_timeout:g}s (timed out)"
    if failure.check(DownloadCancelledError):
        # Scrapy cancels a download that grows past DOWNLOAD_MAXSIZE; its message says so.
        return f"download cancelled: {failure.value}"
    if failure.check(IgnoreRequest):
        return f"not fetched: {failure.value}"
    return f"{failure.type.__name__ if failure.type else 'error'}: {failure.value}"


def _cb_kwargs(failure: Failure) -> dict[str, Any]:
    # Scrapy sets the failed request on the failure it passes to an errback.
    request: scrapy.Request = failure.request  # type: ignore[attr-defined]
    return request.cb_kwargs


def _http_error_response(failure: Failure) -> Response | None:
    return failure.value.response if isinstance(failure.value, HttpError) else None


def response_header(response: Response, name: str) -> str | None:
    value = response.headers.get(name)
    return value.decode("latin-1") if value else None
