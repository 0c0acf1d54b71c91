"""The feed spider: RSS 0.9x/1.0/2.0 and Atom, read by feedparser, and JSON Feed 1.0/1.1 (the
``rss`` kind; :func:`marsad.crawler.feeds.parse_feed` tells them apart by their bytes).

Fetching, following entries and reporting are :class:`~marsad.crawler.spiders.base.SourceSpider`'s;
this kind only says how a feed's bytes become entries.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from marsad.crawler.feeds import FeedResult, parse_feed
from marsad.crawler.spiders.base import SourceSpider, response_header

if TYPE_CHECKING:
    from scrapy.http import Response

    from marsad.crawler.spiders.base import FeedJob


class FeedSpider(SourceSpider):
    name = "feeds"

    def read_source(self, response: Response, job: FeedJob) -> FeedResult:
        content_type = response_header(response, "Content-Type")
        return parse_feed(response.body, response.url, content_type=content_type)
