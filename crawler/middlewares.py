"""Downloader middlewares: honour a server's Retry-After; keep each site's robots.txt for a day
(the crawl engine lives for months); say in one line, not a traceback, that a robots.txt could
not be fetched."""

from __future__ import annotations

import logging
import re
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from scrapy.downloadermiddlewares.robotstxt import RobotsTxtMiddleware
from scrapy.exceptions import IgnoreRequest
from scrapy.http.request import NO_CALLBACK
from scrapy.utils.httpobj import urlparse_cached
from twisted.internet.defer import Deferred
from twisted.python.failure import Failure

from marsad.crawler.failures import describe_failure
from marsad.crawler.fetch_policy import requested_pause

logger = logging.getLogger(__name__)

if TYPE_CHECKING:
    from scrapy import Request
    from scrapy.crawler import Crawler
    from scrapy.http import Response


class RetryAfterMiddleware:
    """After a 429/503 with Retry-After, send nothing more to that host during this crawl.

    The request that got the answer fails as usual (a feed then backs off at least that long);
    later requests to the host are dropped with IgnoreRequest instead of being sent, so a
    struggling server is not hit again before it said it would be ready.
    """

    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler
        self._paused_until: dict[str, float] = {}  # host → time.monotonic() deadline

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> RetryAfterMiddleware:
        return cls(crawler)

    def process_request(self, request: Request) -> None:
        host = urlsplit(request.url).netloc
        until = self._paused_until.get(host)
        if until is not None and time.monotonic() < until:
            raise IgnoreRequest(
                f"not sent: {host} asked to wait (Retry-After) another "
                f"{until - time.monotonic():.0f}s"
            )

    def process_response(self, request: Request, response: Response) -> Any:
        wait = requested_pause(
            response.status, response.headers.get("Retry-After"), datetime.now(UTC)
        )
        if wait:
            host = urlsplit(request.url).netloc
            self._paused_until[host] = time.monotonic() + wait
            self.crawler.stats.inc_value("marsad/retry_after_pauses")
        return response


# RFC 9309: a robots.txt should not be used for more than a day. A shorter max-age is honoured,
# down to an hour (a site that says "no-cache" is not fetched before every page).
ROBOTS_TXT_MAX_AGE = 24 * 3600.0
ROBOTS_TXT_MIN_AGE = 3600.0
# A robots.txt that could not be fetched is asked for again sooner than one that was read.
ROBOTS_TXT_RETRY_AGE = 3600.0
_MAX_AGE = re.compile(rb"max-age\s*=\s*(\d+)", re.IGNORECASE)


def robots_txt_lifetime(cache_control: bytes | None) -> float:
    """How long a robots.txt is kept, from its Cache-Control header (a day by default)."""
    found = _MAX_AGE.search(cache_control or b"")
    if found is None:
        return ROBOTS_TXT_MAX_AGE
    return min(ROBOTS_TXT_MAX_AGE, max(ROBOTS_TXT_MIN_AGE, float(found.group(1))))


class ExpiringRobotsTxtMiddleware(RobotsTxtMiddleware):
    """Scrapy's RobotsTxtMiddleware, with each site's robots.txt kept for its lifetime only.

    Scrapy keeps a site's parsed robots.txt for as long as the crawler lives, which for the
    daemon's one long-lived crawler would be forever: a site that changes its robots.txt would
    never be heard. Here an entry older than :func:`robots_txt_lifetime` is dropped before the
    next request to its site, which fetches it again.
    """

    def __init__(self, crawler: Crawler) -> None:
        super().__init__(crawler)
        self._expires: dict[str, float] = {}  # netloc → time.monotonic() when it is stale

    async def robot_parser(self, request: Request) -> Any:
        netloc = urlparse_cached(request).netloc
        expires = self._expires.get(netloc)
        if expires is not None and time.monotonic() >= expires:
            parser = self._parsers.get(netloc)
            if parser is not None and not isinstance(parser, Deferred):
                del self._parsers[netloc]
            elif parser is None:
                self._parsers.pop(netloc, None)
            del self._expires[netloc]
        if netloc not in self._parsers:
            # A failure leaves no response to read a lifetime from: retried within the hour.
            self._expires[netloc] = time.monotonic() + ROBOTS_TXT_RETRY_AGE
        return await super().robot_parser(request)

    async def _parse_robots(self, response: Response, netloc: str, request: Request) -> None:
        self._expires[netloc] = time.monotonic() + robots_txt_lifetime(
            response.headers.get("Cache-Control")
        )
        self.crawler.stats.inc_value("marsad/robots_txt_fetched")
        await super()._parse_robots(response, netloc, request)


class RobotsTxtUnavailable(IgnoreRequest):
    """A robots.txt that could not be fetched (already logged and counted)."""


class RobotsTxtFailureMiddleware:
    """A robots.txt that cannot be fetched is one warning line and a count, not a traceback.

    Scrapy's RobotsTxtMiddleware logs any failure of its robots.txt request as an error with the
    full traceback, except an IgnoreRequest; it then fetches the site's pages as if robots.txt
    allowed them. This middleware turns the failure into an IgnoreRequest after logging it in
    one line, and sends the request only once: the site's own requests are retried anyway.
    """

    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> RobotsTxtFailureMiddleware:
        return cls(crawler)

    def process_request(self, request: Request) -> None:
        if is_robots_txt_request(request):
            request.meta.setdefault("dont_retry", True)

    def process_exception(self, request: Request, exception: Exception) -> None:
        if not is_robots_txt_request(request) or isinstance(exception, IgnoreRequest):
            return
        failure = Failure(exception)
        failure.request = request  # type: ignore[attr-defined]  # as Scrapy sets it for errbacks
        timeout = float(self.crawler.settings.getfloat("DOWNLOAD_TIMEOUT"))
        reason = describe_failure(failure, timeout)
        logger.warning(
            "robots.txt not fetched: %s: %s; its site is crawled as if it allowed everything",
            request.url,
            reason,
        )
        self.crawler.stats.inc_value("marsad/robots_txt_failed")
        raise RobotsTxtUnavailable(f"robots.txt not fetched: {reason}") from exception


def is_robots_txt_request(request: Request) -> bool:
    """Whether ``request`` is Scrapy's own robots.txt request (RobotsTxtMiddleware's)."""
    return (
        request.callback is NO_CALLBACK
        and bool(request.meta.get("dont_obey_robotstxt"))
        and urlsplit(request.url).path == "/robots.txt"
    )
