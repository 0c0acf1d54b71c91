"""The spiders, one per kind of source, looked up by the ``kind`` of a ``[[feeds]]`` table.

A new kind of source is one spider module (a :class:`~marsad.crawler.spiders.base.SourceSpider`
that says how a response becomes entries) and one entry here; the config accepts exactly these
kinds, and :func:`marsad.crawler.runner.crawl_feeds` runs each kind's spider over its feeds.
Values are import paths, so reading the config does not import Scrapy.
"""

from __future__ import annotations

from collections.abc import Mapping

SPIDERS: Mapping[str, str] = {
    # RSS 0.9x, 1.0 and 2.0, and Atom: feedparser reads them all.
    "rss": "marsad.crawler.spiders.feeds.FeedSpider",
    # Sitemaps and sitemap indexes (sitemaps.org), with Google News' news: elements; gzip too.
    "sitemap": "marsad.crawler.spiders.sitemap.SitemapSpider",
}
DEFAULT_KIND = "rss"
