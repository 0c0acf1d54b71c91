"""What the crawl counts for the daemon's metrics, in the crawler's own stats collector.

The engine's one crawler lives as long as the process, so its stats are the process's running
totals: :mod:`marsad.scheduler.metrics` reads them at each scrape. Counted here, under
``marsad/``:

- ``fetches/<result>``: how each feed fetch ended (:data:`FETCH_RESULTS`). A read feed, a 304,
  an unchanged body and an unreadable one come from the ``feed_fetched`` signal; a download that
  failed is classified where the spider's errback has its failure (:func:`note_failed_fetch`).
- ``copies/<layer>``: copies stored, by the copy-detection layer that found them
  (:func:`note_copy`).

Download times are a histogram (:attr:`CrawlTelemetry.fetch_seconds`), not a stat. Nothing is
labelled per feed: the number of series must not grow with the number of feeds.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from prometheus_client import Histogram
from scrapy import signals
from scrapy.exceptions import (
    CannotResolveHostError,
    DownloadCancelledError,
    DownloadConnectionRefusedError,
    DownloadFailedError,
    DownloadTimeoutError,
    IgnoreRequest,
    ResponseDataLossError,
)
from scrapy.spidermiddlewares.httperror import HttpError
from twisted.internet.error import (
    ConnectError,
    ConnectionClosed,
    DNSLookupError,
    TCPTimedOutError,
)
from twisted.internet.error import TimeoutError as TwistedTimeoutError

from marsad.crawler.guard import RequestRefused
from marsad.crawler.middlewares import RobotsTxtUnavailable
from marsad.crawler.signals import FeedOutcome, feed_fetched
from marsad.storage.status import copy_layer

if TYPE_CHECKING:
    from scrapy import Request
    from scrapy.crawler import Crawler
    from sqlite_utils import Database
    from twisted.python.failure import Failure

# How a feed fetch ended. "refused": the address policy would not connect; "not_sent": held back
# (the site asked to wait with Retry-After); "too_large": cut off at [crawl] max_page_bytes.
FETCH_RESULTS = (
    "ok",
    "not_modified",
    "same_hash",
    "http_error",
    "parse_error",
    "timeout",
    "dns",
    "robots",
    "refused",
    "connection",
    "not_sent",
    "too_large",
    "error",
)
FETCHES_PREFIX = "marsad/fetches/"
COPIES_PREFIX = "marsad/copies/"
# Scrapy's own message when RobotsTxtMiddleware refuses a request (an IgnoreRequest like others).
_ROBOTS_FORBIDDEN = "Forbidden by robots.txt"
# Where the download of a request began (time.monotonic()), set when it reaches the downloader.
_STARTED_META = "marsad_download_started"
# Seconds: a loopback answer takes milliseconds, a slow site seconds, a timeout [crawl]'s.
DURATION_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 60.0)


def classify_failure(failure: Failure) -> str:
    """Which of :data:`FETCH_RESULTS` a failed download is."""
    error = failure.value
    if isinstance(error, HttpError):
        return "http_error"
    if isinstance(error, CannotResolveHostError | DNSLookupError):
        return "dns"
    if isinstance(error, DownloadTimeoutError | TwistedTimeoutError | TCPTimedOutError):
        return "timeout"
    if isinstance(error, TimeoutError):
        return "timeout"
    if isinstance(error, RequestRefused):
        return "refused"
    if isinstance(error, RobotsTxtUnavailable) or (
        isinstance(error, IgnoreRequest) and str(error) == _ROBOTS_FORBIDDEN
    ):
        return "robots"
    if isinstance(error, DownloadCancelledError):
        return "too_large"
    if isinstance(error, IgnoreRequest):
        return "not_sent"
    if isinstance(
        error,
        DownloadConnectionRefusedError
        | DownloadFailedError
        | ResponseDataLossError
        | ConnectError
        | ConnectionClosed,
    ):
        return "connection"
    return "error"


def result_of(outcome: FeedOutcome) -> str | None:
    """The result of a feed fetch the spider sent as ``feed_fetched``; None for a failed
    download, which :func:`note_failed_fetch` counted with its cause."""
    if outcome.outcome == "ok":
        return "ok"
    if outcome.outcome == "unchanged":
        return "not_modified" if outcome.status == 304 else "same_hash"
    # A failure with an answer below 400 was fetched but could not be read.
    if outcome.status is not None and outcome.status < 400:
        return "parse_error"
    return None


def note_failed_fetch(crawler: Crawler, failure: Failure) -> None:
    """Count a feed download that failed (the spider's errback), by its cause."""
    crawler.stats.inc_value(FETCHES_PREFIX + classify_failure(failure))


def note_copy(crawler: Crawler, store: Database, article_id: int) -> None:
    """Count a copy just stored by the layer that found it (one read by primary key)."""
    crawler.stats.inc_value(COPIES_PREFIX + (copy_layer(store, article_id) or "unknown"))


class CrawlTelemetry:
    """A Scrapy extension: counts feed fetch results, and times downloads by kind ("feed",
    "page", "other": robots.txt and the documents a sitemap index lists)."""

    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler
        # Not registered anywhere: the daemon's registry collects it (scheduler.metrics), and
        # a second crawler in one process (tests) does not clash with the first.
        self.fetch_seconds = Histogram(
            "marsad_fetch_duration_seconds",
            "How long downloads took, by kind (feed, page, other).",
            ["kind"],
            buckets=DURATION_BUCKETS,
            registry=None,
        )
        for kind in ("feed", "page", "other"):
            self.fetch_seconds.labels(kind)
        crawler.signals.connect(self.feed_fetched, signal=feed_fetched)
        crawler.signals.connect(self.reached_downloader, signal=signals.request_reached_downloader)
        crawler.signals.connect(self.left_downloader, signal=signals.request_left_downloader)

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> CrawlTelemetry:
        return cls(crawler)

    def feed_fetched(self, outcome: FeedOutcome) -> None:
        result = result_of(outcome)
        if result is not None:
            self.crawler.stats.inc_value(FETCHES_PREFIX + result)

    def reached_downloader(self, request: Request) -> None:
        request.meta[_STARTED_META] = time.monotonic()

    def left_downloader(self, request: Request) -> None:
        # The handler's own measure when there was an answer (its time on the wire, without the
        # wait for the site's slot); else since the request reached the downloader.
        seconds = request.meta.get("download_latency")
        if seconds is None:
            started = request.meta.get(_STARTED_META)
            if started is None:
                return
            seconds = time.monotonic() - started
        self.fetch_seconds.labels(_kind(request)).observe(float(seconds))


def _kind(request: Request) -> str:
    callback: Any = request.callback
    name = getattr(callback, "__name__", None)
    if name == "parse_source":
        return "feed"
    if name == "parse_article":
        return "page"
    return "other"


def telemetry_of(crawler: Crawler) -> CrawlTelemetry | None:
    """The crawler's telemetry extension, if it has one enabled."""
    extensions = getattr(crawler, "extensions", None)
    for extension in getattr(extensions, "middlewares", ()):
        if isinstance(extension, CrawlTelemetry):
            return extension
    return None
