"""Downloader middlewares: honour a server's Retry-After for the rest of the crawl; say in one
line, not a traceback, that a robots.txt could not be fetched."""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from scrapy.exceptions import IgnoreRequest
from scrapy.http.request import NO_CALLBACK

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
        logger.warning(
            "robots.txt not fetched: %s: %s: %s; its site is crawled as if it allowed everything",
            request.url,
            type(exception).__name__,
            exception,
        )
        self.crawler.stats.inc_value("marsad/robots_txt_failed")
        raise RobotsTxtUnavailable(f"robots.txt not fetched: {exception}") from exception


def is_robots_txt_request(request: Request) -> bool:
    """Whether ``request`` is Scrapy's own robots.txt request (RobotsTxtMiddleware's)."""
    return (
        request.callback is NO_CALLBACK
        and bool(request.meta.get("dont_obey_robotstxt"))
        and urlsplit(request.url).path == "/robots.txt"
    )
