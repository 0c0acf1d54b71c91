"""Reading a sitemap's bytes (sitemaps.org 0.9, with Google News' ``news:`` elements). Pure.

A sitemap is either a ``<urlset>`` (pages, each with its ``<loc>``, maybe ``<lastmod>`` and a
``<news:news>`` block: ``news:title``, ``news:publication_date``, ``news:keywords``) or a
``<sitemapindex>`` (other sitemaps). Either may come gzipped (``news.xml.gz``), and a small file
can gzip a huge one, so decompression is bounded (:func:`gunzip_bounded`). A document that lists
more than a reader can use is cut to the newest part of it (:func:`newest_urls`,
:func:`newest_sitemaps`) and the cut is said in one line.

Elements are matched by local name: publishers get the namespaces wrong (none, a typo, the
``https:`` form) more often than the structure.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import lxml.etree

from marsad.times import to_utc_iso

GZIP_MAGIC = b"\x1f\x8b"
# The news sitemap limit (Google: at most 1,000 <url> a file), and enough for a news site's
# sitemap of the last days. A general sitemap of a whole archive is cut to its newest part.
MAX_URLS_PER_SITEMAP = 1000
# An index's sitemaps read in one poll: the most recently modified (a news site's index lists
# one per section or day; an archive's index lists hundreds of old months).
MAX_SITEMAPS_PER_INDEX = 10
# Keywords kept per URL, and the longest title or keyword list taken from a sitemap.
MAX_KEYWORDS = 30
MAX_FIELD_CHARS = 2000


class SitemapUnreadable(ValueError):
    """The bytes are not a sitemap marsad can read (the message says why, in one line)."""


@dataclass(frozen=True)
class SitemapUrl:
    loc: str
    lastmod: str | None = None  # ISO-8601 UTC
    news_title: str | None = None
    news_published: str | None = None  # ISO-8601 UTC
    news_keywords: tuple[str, ...] = ()


@dataclass(frozen=True)
class ChildSitemap:
    loc: str
    lastmod: str | None = None  # ISO-8601 UTC


@dataclass(frozen=True)
class Sitemap:
    """One sitemap document: ``kind`` is "urlset" or "sitemapindex"."""

    kind: str
    urls: tuple[SitemapUrl, ...] = ()
    sitemaps: tuple[ChildSitemap, ...] = ()
    # <url> or <sitemap> elements without a usable <loc>.
    without_loc: int = 0

    @property
    def is_news(self) -> bool:
        return any(u.news_title or u.news_published for u in self.urls)


def gunzip_bounded(body: bytes, max_bytes: int) -> bytes:
    """``body`` gunzipped, refusing to produce more than ``max_bytes``."""
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        out = inflater.decompress(body, max_bytes + 1)
    except zlib.error as exc:
        raise SitemapUnreadable(f"gzip data is damaged ({exc})") from None
    if len(out) <= max_bytes and not inflater.eof:
        raise SitemapUnreadable("gzip data is cut short")
    if len(out) > max_bytes:
        raise SitemapUnreadable(
            f"larger than {_size(max_bytes)} once decompressed ([crawl] max_page_bytes)"
        )
    return out


def read_sitemap(body: bytes, *, max_bytes: int) -> Sitemap:
    """Parse a sitemap (gzipped or not); raise :class:`SitemapUnreadable` for anything else."""
    if body.startswith(GZIP_MAGIC):
        body = gunzip_bounded(body, max_bytes)
    if not body.strip():
        raise SitemapUnreadable("empty document")
    parser = lxml.etree.XMLParser(
        resolve_entities=False, no_network=True, recover=True, remove_comments=True
    )
    try:
        root = lxml.etree.fromstring(body, parser)
    except lxml.etree.XMLSyntaxError as exc:
        raise SitemapUnreadable(f"not XML ({exc})") from None
    if root is None:
        raise SitemapUnreadable("not XML")
    kind = _local(root)
    if kind == "urlset":
        return _urlset(root)
    if kind == "sitemapindex":
        return _index(root)
    hint = ' (a feed: kind = "rss")' if kind in ("rss", "feed", "RDF") else ""
    raise SitemapUnreadable(f"not a sitemap: the document is <{kind}>{hint}")


def looks_like_sitemap(body: bytes) -> bool:
    """Whether ``body`` starts like a sitemap (cheap, for discovery before a full read)."""
    if body.startswith(GZIP_MAGIC):
        return True
    head = body[:2048]
    return b"<urlset" in head or b"<sitemapindex" in head


def _urlset(root: lxml.etree._Element) -> Sitemap:
    urls: list[SitemapUrl] = []
    without = 0
    for element in root:
        if _local(element) != "url":
            continue
        loc = _child_text(element, "loc")
        if not loc:
            without += 1
            continue
        news = _child(element, "news")
        title = published = None
        keywords: tuple[str, ...] = ()
        if news is not None:
            title = _child_text(news, "title") or None
            published = to_utc_iso(_child_text(news, "publication_date"))
            keywords = _keywords(_child_text(news, "keywords"))
        urls.append(
            SitemapUrl(
                loc=loc,
                lastmod=to_utc_iso(_child_text(element, "lastmod")),
                news_title=title,
                news_published=published,
                news_keywords=keywords,
            )
        )
    return Sitemap("urlset", urls=tuple(urls), without_loc=without)


def _index(root: lxml.etree._Element) -> Sitemap:
    children: list[ChildSitemap] = []
    without = 0
    for element in root:
        if _local(element) != "sitemap":
            continue
        loc = _child_text(element, "loc")
        if not loc:
            without += 1
            continue
        children.append(ChildSitemap(loc, to_utc_iso(_child_text(element, "lastmod"))))
    return Sitemap("sitemapindex", sitemaps=tuple(children), without_loc=without)


def newest_urls(
    urls: tuple[SitemapUrl, ...], limit: int = MAX_URLS_PER_SITEMAP
) -> tuple[tuple[SitemapUrl, ...], str | None]:
    """At most ``limit`` URLs, the newest (by publication date, else last modification; undated
    ones keep their order after the dated), and a one-line note when some were left out."""
    if len(urls) <= limit:
        return urls, None
    kept = sorted(urls, key=lambda u: u.news_published or u.lastmod or "", reverse=True)[:limit]
    # Words, not the count: the note is said again only when it changes.
    return tuple(kept), f"lists more than {limit:,} URLs: kept the {limit:,} newest (limit)"


def newest_sitemaps(
    sitemaps: tuple[ChildSitemap, ...], limit: int = MAX_SITEMAPS_PER_INDEX
) -> tuple[tuple[ChildSitemap, ...], str | None]:
    """At most ``limit`` sitemaps of an index, the most recently modified, and a note when some
    were left out."""
    if len(sitemaps) <= limit:
        return sitemaps, None
    kept = sorted(sitemaps, key=lambda s: s.lastmod or "", reverse=True)[:limit]
    note = f"lists more than {limit} sitemaps: read the {limit} most recently modified (limit)"
    return tuple(kept), note


def _keywords(text: str) -> tuple[str, ...]:
    # Google's format: comma-separated; Arabic publishers also use the Arabic comma.
    words = (w.strip() for w in text.replace("،", ",").split(","))
    unique = dict.fromkeys(w for w in words if w)
    return tuple(unique)[:MAX_KEYWORDS]


def _local(element: lxml.etree._Element) -> str:
    tag = element.tag
    if not isinstance(tag, str):  # a processing instruction: no name
        return ""
    return tag.rsplit("}", 1)[-1]


def _child(element: lxml.etree._Element, name: str) -> lxml.etree._Element | None:
    for child in element:
        if _local(child) == name:
            return child
    return None


def _child_text(element: lxml.etree._Element, name: str) -> str:
    child = _child(element, name)
    if child is None:
        return ""
    return " ".join("".join(child.itertext()).split())[:MAX_FIELD_CHARS]


def _size(count: int) -> str:
    for unit, size in (("MiB", 1 << 20), ("KiB", 1 << 10)):
        if count >= size and count % size == 0:
            return f"{count // size} {unit}"
    return f"{count:,} bytes"
