"""The news sitemap spider: a site's sitemap (or sitemap index) as a source (``kind = "sitemap"``).

Each ``<url>`` is an entry: its ``<loc>`` the link followed to the page, ``news:title`` its title
and ``news:publication_date`` its date (both win over the page's, as a feed's do), and
``news:keywords`` the text kept when the page gives none. An index's sitemaps are read in the same
poll (:class:`~marsad.crawler.spiders.base.SourceIndex`): the most recently modified, each within
the download size limit, gzipped or not. Only URLs the store does not hold are fetched, through
the same extraction and ingest as a feed's entries (the shared machinery's).

``read_source`` runs on the crawl engine's one spider, so it uses nothing but what every
:class:`~marsad.crawler.spiders.base.SourceSpider` has.
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import urljoin

from marsad.crawler.discovery import looks_like_web_page
from marsad.crawler.feeds import FeedEntry, FeedResult, link_problem
from marsad.crawler.sitemaps import (
    Sitemap,
    SitemapUnreadable,
    newest_sitemaps,
    newest_urls,
    read_sitemap,
)
from marsad.crawler.spiders.base import (
    SourceIndex,
    SourceSpider,
    SourceUnreadable,
    response_header,
)

if TYPE_CHECKING:
    from scrapy.http import Response

    from marsad.crawler.spiders.base import FeedJob


class SitemapSpider(SourceSpider):
    name = "sitemap"

    def read_source(self, response: Response, job: FeedJob) -> FeedResult:
        body = response.body
        if looks_like_web_page(body, response_header(response, "Content-Type")):
            # Not a source at all: the shared machinery says what the page links.
            return FeedResult(title="", version="", entries=())
        max_bytes = self.crawler.settings.getint("DOWNLOAD_MAXSIZE") or 2**30
        try:
            sitemap = read_sitemap(body, max_bytes=max_bytes)
        except SitemapUnreadable as exc:
            raise SourceUnreadable(f"{response.url}: {exc}") from None
        return sitemap_result(sitemap, response.url)


def sitemap_result(sitemap: Sitemap, url: str) -> FeedResult:
    """A sitemap as entries (a ``<urlset>``) or as the sitemaps to read next (an index)."""
    notes: list[str] = []
    if sitemap.without_loc:
        notes.append(f"{url}: {sitemap.without_loc} elements without a <loc> left out")
    if sitemap.kind == "sitemapindex":
        children, cut = newest_sitemaps(sitemap.sitemaps)
        if cut:
            notes.append(f"sitemap index {url} {cut}")
        more: list[str] = []
        for child in children:
            # An index is the publisher's (or an attacker's) to write: http(s) only.
            problem = link_problem(urljoin(url, child.loc))
            if problem is None:
                more.append(urljoin(url, child.loc))
            else:
                notes.append(f"sitemap index {url}: {problem}")
        return SourceIndex(
            title="",
            version="sitemapindex",
            entries=(),
            unusable=tuple(notes),
            more_sources=tuple(more),
        )
    urls, cut = newest_urls(sitemap.urls)
    if cut:
        notes.append(f"sitemap {url} {cut}")
    entries = tuple(
        FeedEntry(
            guid=None,
            link=urljoin(url, item.loc),
            title=item.news_title or "",
            # The page's text replaces it; kept when the page gives none.
            text=", ".join(item.news_keywords),
            author=None,
            # A <lastmod> is when the page last changed, not when it was published.
            published=item.news_published,
        )
        for item in urls
    )
    return FeedResult(title="", version="sitemap", entries=entries, unusable=tuple(notes))
