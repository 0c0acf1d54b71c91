"""The crawl benchmark's baseline: a bare Scrapy spider that fetches feeds and their pages.

    python bench/bare_spider.py SPEC.json

The spec holds ``feeds`` (URLs), ``extract`` (false: Scrapy + feedparser only, the pages are
fetched and dropped; true: each page's text and metadata by trafilatura, called as marsad calls
it) and the politeness settings marsad's crawl uses (``delay``, ``concurrency_per_domain``,
``obey_robots``, ``user_agent``, ``timeout``); ``rounds`` > 0 polls each feed that many times
instead, the later polls conditional, following no entry. It stores nothing. It prints one
JSON line: the feeds read, the entries they listed, the pages fetched, the texts extracted and
the polls (and how many were 304).
"""

from __future__ import annotations

import json
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import feedparser
import scrapy
from scrapy.crawler import CrawlerProcess
from scrapy.http import Response


class BareSpider(scrapy.Spider):
    name = "bare"

    def __init__(self, *, feeds: list[str], extract: bool, rounds: int = 0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.feeds = feeds
        self.extract = extract
        # rounds > 0: poll each feed this many times, the later ones conditional (what an
        # unchanged feed's poll costs Scrapy alone), following no entry.
        self.rounds = rounds
        self.counts = {"feeds": 0, "entries": 0, "pages": 0, "extracted": 0, "chars": 0}
        self.counts.update({"polls": 0, "not_modified": 0})

    async def start(self) -> AsyncIterator[Any]:
        for url in self.feeds:
            if self.rounds:
                yield self._poll(url, 1, {})
            else:
                yield scrapy.Request(url, callback=self.parse_feed, dont_filter=True)

    def _poll(self, url: str, round_: int, headers: dict[str, bytes]) -> scrapy.Request:
        return scrapy.Request(
            url,
            headers=headers,
            callback=self.parse_poll,
            cb_kwargs={"round_": round_},
            meta={"handle_httpstatus_list": [304]},
            dont_filter=True,
        )

    def parse_poll(self, response: Response, round_: int) -> Iterator[Any]:
        self.counts["polls"] += 1
        if response.status == 304:
            self.counts["not_modified"] += 1
        else:
            feedparser.parse(response.body)
            self.counts["feeds"] += 1
        if round_ < self.rounds:
            # A 304 need not repeat the validators: the request's are still good.
            sent = response.request.headers if response.request is not None else {}
            etag = response.headers.get("ETag") or sent.get("If-None-Match")
            modified = response.headers.get("Last-Modified") or sent.get("If-Modified-Since")
            headers = {}
            if etag:
                headers["If-None-Match"] = etag
            if modified:
                headers["If-Modified-Since"] = modified
            yield self._poll(response.url, round_ + 1, headers)

    def parse_feed(self, response: Response) -> Iterator[Any]:
        parsed = feedparser.parse(response.body)
        self.counts["feeds"] += 1
        for entry in parsed.entries:
            link = entry.get("link")
            if link:
                self.counts["entries"] += 1
                yield response.follow(link, callback=self.parse_page)

    def parse_page(self, response: Response) -> None:
        self.counts["pages"] += 1
        if not self.extract:
            return
        import trafilatura

        document: Any = trafilatura.bare_extraction(
            response.text,
            url=response.url,
            with_metadata=True,
            include_comments=False,
            include_tables=False,
        )
        if document is not None and document.text:
            self.counts["extracted"] += 1
            self.counts["chars"] += len(document.text)


def main(spec: dict[str, Any]) -> dict[str, Any]:
    settings = {
        "TWISTED_REACTOR": "twisted.internet.asyncioreactor.AsyncioSelectorReactor",
        "USER_AGENT": spec["user_agent"],
        "ROBOTSTXT_OBEY": spec["obey_robots"],
        "DOWNLOAD_DELAY": spec["delay"],
        "CONCURRENT_REQUESTS_PER_DOMAIN": spec["concurrency_per_domain"],
        "CONCURRENT_REQUESTS": 16,
        "DOWNLOAD_TIMEOUT": spec["timeout"],
        "COOKIES_ENABLED": False,
        "TELNETCONSOLE_ENABLED": False,
        "REMOTE_CONTROL_ENABLED": False,
        "LOG_LEVEL": "INFO",
    }
    process = CrawlerProcess(settings, install_root_handler=True)
    crawler = process.create_crawler(BareSpider)
    process.crawl(
        crawler, feeds=spec["feeds"], extract=spec["extract"], rounds=spec.get("rounds", 0)
    )
    process.start()
    spider = crawler.spider
    assert isinstance(spider, BareSpider)
    stats = crawler.stats.get_stats() if crawler.stats else {}
    return {
        **spider.counts,
        "responses": stats.get("downloader/response_count", 0),
        "errors": stats.get("log_count/ERROR", 0),
    }


if __name__ == "__main__":
    figures = main(json.loads(Path(sys.argv[1]).read_text(encoding="utf-8")))
    print(json.dumps(figures))
