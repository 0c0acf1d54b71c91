"""Downloader middleware: honour a server's Retry-After for the rest of the crawl."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from scrapy.exceptions import IgnoreRequest

from marsad.crawler.fetch_policy import requested_pause

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
