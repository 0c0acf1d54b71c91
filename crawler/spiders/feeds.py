"""The feed spider: fetch each feed (conditionally), follow its new entries to their pages.

Store writes go through :class:`crawler.pipelines.StorePipeline` as items; the spider only reads
the store, to skip articles it already holds. Every failure becomes a named message (feed name,
URL, reason) in :attr:`FeedSpider.errors` and never stops the crawl.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import scrapy
from scrapy.exceptions import (
    DownloadCancelledError,
    DownloadTimeoutError,
    IgnoreRequest,
)
from scrapy.spidermiddlewares.httperror import HttpError

from marsad.alerts.matching import RuleIndex, compile_rules
from marsad.crawler.config import CrawlConfig, FeedConfig
from marsad.crawler.extract import extract_article, guess_language
from marsad.crawler.feeds import FeedEntry, FeedResult, parse_feed
from marsad.crawler.items import ArticleItem, FeedOutcome
from marsad.crawler.middlewares import PAUSE_STATUSES
from marsad.retry import exponential_backoff, retry_after_seconds
from marsad.storage.articles import known_guids, known_urls
from marsad.storage.db import open_store
from marsad.storage.models import FeedState, NewArticle
from marsad.times import to_iso
from marsad.urls import canonical_url

if TYPE_CHECKING:
    from scrapy.http import Response
    from sqlite_utils import Database
    from twisted.python.failure import Failure

logger = logging.getLogger(__name__)

# Servers lie about ETag/Last-Modified: every this many fetches, ask without them and let the
# body hash decide whether the feed changed.
UNCONDITIONAL_EVERY = 10
# The first back-off after a failure; it doubles with each further consecutive failure.
BACKOFF_BASE = 60.0


@dataclass(frozen=True)
class FeedJob:
    """A feed to fetch in this crawl, with its state as the store had it before the crawl."""

    feed: FeedConfig
    state: FeedState


def backoff_seconds(consecutive_failures: int, max_backoff: float) -> float:
    """Wait after the ``consecutive_failures``-th failure in a row (1 → BACKOFF_BASE)."""
    return exponential_backoff(consecutive_failures - 1, BACKOFF_BASE, max_backoff)


def conditional_headers(state: FeedState) -> dict[str, str]:
    if state.fetch_count % UNCONDITIONAL_EVERY == UNCONDITIONAL_EVERY - 1:
        return {}
    headers = {}
    if state.etag:
        headers["If-None-Match"] = state.etag
    if state.last_modified:
        headers["If-Modified-Since"] = state.last_modified
    return headers


class FeedSpider(scrapy.Spider):
    name = "feeds"

    def __init__(
        self,
        *,
        jobs: Sequence[FeedJob] = (),
        store_path: str | Path = ":memory:",
        crawl: CrawlConfig | None = None,
        rules: RuleIndex | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.jobs = tuple(jobs)
        self.store_path = store_path
        self.crawl_config = crawl or CrawlConfig()
        self.rules = rules if rules is not None else compile_rules(())
        self.errors: list[str] = []
        self._db: Database | None = None
        # Canonical URLs already followed in this crawl (two feeds may list one article).
        self._following: set[str] = set()

    def note_error(self, message: str) -> None:
        logger.warning(message)
        self.errors.append(message)

    async def start(self) -> AsyncIterator[Any]:
        # A reader of its own: the pipeline's connection does the writing.
        self._db = open_store(self.store_path, migrate=False)
        for job in self.jobs:
            yield scrapy.Request(
                job.feed.url,
                headers=conditional_headers(job.state),
                callback=self.parse_feed_response,
                errback=self.feed_failed,
                cb_kwargs={"job": job},
                meta={"handle_httpstatus_list": [304]},
                dont_filter=True,
            )

    def closed(self, reason: str) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None

    # -- feeds ---------------------------------------------------------------------------------

    def parse_feed_response(self, response: Response, job: FeedJob) -> Iterator[Any]:
        feed = job.feed
        if response.status == 304:
            yield self._outcome(job, "unchanged", 304)
            return
        digest = hashlib.sha256(response.body).hexdigest()
        etag = _header(response, "ETag")
        last_modified = _header(response, "Last-Modified")
        if digest == job.state.body_hash:
            yield self._outcome(job, "unchanged", response.status, etag, last_modified, digest)
            return
        try:
            result = parse_feed(
                response.body, response.url, content_type=_header(response, "Content-Type")
            )
        except Exception as exc:  # feedparser should not raise; if it does, one feed fails
            yield self._failed(job, response.status, f"cannot parse: {exc!r}")
            return
        if not result.is_feed:
            reason = result.bozo_message or "no entries and no feed format recognised"
            yield self._failed(job, response.status, f"not a feed ({reason})")
            return
        if result.bozo:
            self.note_error(
                f"feed {feed.name!r} ({feed.url}): malformed, kept the {len(result.entries)} "
                f"entries recovered: {result.bozo_message}"
            )
        new, known = self._split_entries(result)
        yield self._outcome(
            job, "ok", response.status, etag, last_modified, digest, new_items=len(new)
        )
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
        limit = self.crawl_config.max_articles_per_feed
        entries = [e for e in result.entries if e.link][:limit]
        urls = [canonical_url(e.link) for e in entries if e.link]
        guids = [e.guid for e in entries if e.guid]
        assert self._db is not None
        stored_urls = known_urls(self._db, urls)
        stored_guids = known_guids(self._db, guids)
        new: list[FeedEntry] = []
        known: list[FeedEntry] = []
        for entry, url in zip(entries, urls, strict=True):
            if url in stored_urls or (entry.guid and entry.guid in stored_guids):
                known.append(entry)
            elif url not in self._following:
                self._following.add(url)
                new.append(entry)
        return new, known

    def feed_failed(self, failure: Failure) -> Iterator[Any]:
        job: FeedJob = _cb_kwargs(failure)["job"]
        status = None
        retry_after = None
        response = _http_error_response(failure)
        if response is not None:
            status = response.status
            if status in PAUSE_STATUSES:
                retry_after = retry_after_seconds(
                    response.headers.get("Retry-After"), datetime.now(UTC)
                )
        yield self._failed(job, status, describe_failure(failure, self.crawl_config), retry_after)

    def _failed(
        self, job: FeedJob, status: int | None, reason: str, retry_after: float | None = None
    ) -> FeedOutcome:
        failures = job.state.consecutive_failures + 1
        wait = backoff_seconds(failures, self.crawl_config.max_backoff)
        if retry_after is not None:
            wait = max(wait, min(retry_after, self.crawl_config.max_backoff))
        until = datetime.now(UTC) + timedelta(seconds=wait)
        message = f"feed {job.feed.name!r} ({job.feed.url}): {reason}"
        self.note_error(f"{message}; failure {failures} in a row, next try after {to_iso(until)}")
        return FeedOutcome(
            feed_id=job.state.id,
            feed_name=job.feed.name,
            url=job.feed.url,
            outcome="failed",
            status=status,
            error=message,
            backoff_until=to_iso(until),
        )

    def _outcome(
        self,
        job: FeedJob,
        outcome: str,
        status: int,
        etag: str | None = None,
        last_modified: str | None = None,
        body_hash: str | None = None,
        *,
        new_items: int = 0,
    ) -> FeedOutcome:
        return FeedOutcome(
            feed_id=job.state.id,
            feed_name=job.feed.name,
            url=job.feed.url,
            outcome=outcome,
            status=status,
            etag=etag,
            last_modified=last_modified,
            body_hash=body_hash,
            new_items=new_items,
        )

    # -- articles ------------------------------------------------------------------------------

    def parse_article(self, response: Response, job: FeedJob, entry: FeedEntry) -> Iterator[Any]:
        try:
            extracted = extract_article(
                response.body, response.url, content_type=_header(response, "Content-Type")
            )
        except Exception as exc:  # a hostile page must not stop the crawl
            self.note_error(
                f"feed {job.feed.name!r}: article {entry.link}: extraction failed: {exc!r}; "
                "kept the feed's text"
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
        self.note_error(
            f"feed {job.feed.name!r}: article {entry.link}: "
            f"{describe_failure(failure, self.crawl_config)}; kept the feed's text"
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


def describe_failure(failure: Failure, crawl: CrawlConfig) -> str:
    """A short reason a download failed, for people reading the report."""
    response = _http_error_response(failure)
    if response is not None:
        wait = response.headers.get("Retry-After")
        extra = f" (Retry-After: {wait.decode('latin-1')})" if wait else ""
        return f"HTTP {response.status}{extra}"
    if failure.check(DownloadTimeoutError):
        return f"no complete answer within {crawl.download_timeout:g}s (timed out)"
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


def _header(response: Response, name: str) -> str | None:
    value = response.headers.get(name)
    return value.decode("latin-1") if value else None
