"""Finding a site's feeds: what a page links to, the usual places, and what each turns out to be.

:func:`feed_links` reads a page's ``<link rel="alternate">`` feeds (RSS, Atom, JSON Feed; relative
hrefs resolved against the page and its ``<base>``) and the links in its body that look like
feeds; :func:`common_paths` are the addresses a feed usually has when a page links none;
:func:`sitemaps_in_robots` the sitemaps a robots.txt names (how news sitemaps are announced).
:func:`classify` says what a fetched document is and which kind of source reads it. All pure.

:func:`discover` ties them together over a ``fetch`` the caller gives (the command line's HTTP
client; a test's): it fetches the address, then the candidates the page leads to, each once,
within a bound, and keeps those that are feeds or sitemaps.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from urllib.parse import urljoin, urlsplit, urlunsplit

import lxml.etree
import lxml.html

from marsad.crawler.feeds import is_json_document, parse_feed
from marsad.crawler.sitemaps import SitemapUnreadable, looks_like_sitemap, read_sitemap

# <link rel="alternate" type=...> → the format it announces. Plain application/json is left
# out: WordPress announces its REST API that way, which is not a feed.
LINK_TYPES = {
    "application/rss+xml": "RSS",
    "application/rdf+xml": "RSS",
    "application/atom+xml": "Atom",
    "application/feed+json": "JSON Feed",
    "application/xml": "RSS",
    "text/xml": "RSS",
}
# Where feeds usually are when a page does not say (tried in this order, at the site's root).
COMMON_PATHS = (
    "/feed",
    "/rss",
    "/rss.xml",
    "/feed.xml",
    "/atom.xml",
    "/index.xml",
    "/feeds/posts/default",
)
# A link in a page's body that looks like a feed: .../rss, .../feed.xml, ....rss, .../atom.
_FEEDISH = re.compile(r"(?:^|[/._-])(?:rss|feed|atom)(?:\.xml|\.rss)?/?$|\.rss$", re.IGNORECASE)
# Candidates fetched beyond the address itself: a page with a hundred links costs a few fetches.
MAX_CANDIDATES = 8
MAX_ROBOTS_SITEMAPS = 3
_VERSIONS = {
    "rss090": "RSS 0.90",
    "rss091n": "RSS 0.91",
    "rss091u": "RSS 0.91",
    "rss092": "RSS 0.92",
    "rss093": "RSS 0.93",
    "rss094": "RSS 0.94",
    "rss20": "RSS 2.0",
    "rss10": "RSS 1.0",
    "rss": "RSS",
    "atom01": "Atom 0.1",
    "atom02": "Atom 0.2",
    "atom03": "Atom 0.3",
    "atom10": "Atom 1.0",
    "atom": "Atom",
    "json10": "JSON Feed 1.0",
    "json11": "JSON Feed 1.1",
}
WEB_PAGE = "web page"


@dataclass(frozen=True)
class FeedLink:
    """A feed a page names: ``how`` is "link" (``<link rel="alternate">``) or "anchor" (a link
    in its body that looks like one)."""

    url: str
    format: str  # what the page says it is: "RSS", "Atom", "JSON Feed", or "" (an anchor)
    title: str
    how: str


@dataclass(frozen=True)
class Fetched:
    """What a fetch gave: the final URL (after redirects), or why there is nothing."""

    url: str
    status: int | None = None
    content_type: str | None = None
    body: bytes = b""
    error: str | None = None


@dataclass(frozen=True)
class Found:
    """What one address holds. ``kind`` is the marsad kind that reads it (a key of
    ``marsad.crawler.spiders.SPIDERS``), None when none does (``problem`` says why)."""

    url: str
    kind: str | None
    format: str  # "RSS 2.0", "Atom 1.0", "news sitemap", "sitemap index", "web page", ...
    title: str = ""
    entries: int = 0  # entries, URLs or sitemaps listed
    how: str = "given"  # given, link, anchor, common path, robots.txt
    problem: str | None = None

    def describe(self) -> str:
        """``RSS 2.0 feed "أخبار", 12 entries`` / ``news sitemap, 3 URLs`` / ``a web page`` /
        ``HTTP 404``."""
        if self.format == WEB_PAGE:
            return "a web page"
        if self.problem and not self.kind:
            return f"{self.format}: {self.problem}" if self.format else self.problem
        one, many = {
            "sitemap index": ("sitemap", "sitemaps"),
            "news sitemap": ("URL", "URLs"),
            "sitemap": ("URL", "URLs"),
        }.get(self.format, ("entry", "entries"))
        # "RSS 2.0 feed", but "JSON Feed 1.1" (already a feed).
        feed = self.kind == "rss" and "feed" not in self.format.lower()
        shape = f"{self.format} feed" if feed else self.format
        title = f' "{self.title}"' if self.title else ""
        return f"{shape}{title}, {self.entries} {one if self.entries == 1 else many}"


@dataclass(frozen=True)
class Discovery:
    """What an address is and, for a web page, the feeds and sitemaps found from it."""

    page: Found
    links: tuple[FeedLink, ...] = ()
    feeds: tuple[Found, ...] = ()  # readable by a kind, best first
    # Feeds a page announces that no kind reads (a JSON Feed that is not valid JSON, say).
    unreadable: tuple[Found, ...] = ()
    tried: tuple[str, ...] = ()  # fetched, and held nothing

    @property
    def is_web_page(self) -> bool:
        return self.page.format == WEB_PAGE


def looks_like_web_page(body: bytes, content_type: str | None = None) -> bool:
    """Whether ``body`` is an HTML page: by its first bytes, or by its header when it starts
    with markup (a feed that failed to parse is not a page because its server says text/html)."""
    head = body[:1024].lstrip().lower()
    if head.startswith((b"<!doctype html", b"<html")) or any(
        tag in head for tag in (b"<html", b"<head>", b"<body")
    ):
        return True
    declared = (content_type or "").split(";", 1)[0].strip().lower()
    xml = head.startswith(b"<?xml") or any(root in head for root in (b"<rss", b"<feed", b"<rdf"))
    return declared in ("text/html", "application/xhtml+xml") and head.startswith(b"<") and not xml


def feed_links(body: bytes, page_url: str) -> tuple[FeedLink, ...]:
    """The feeds an HTML page names: its ``<link rel="alternate">`` feeds first, in order, then
    the links of its body that look like feeds. Each URL once."""
    try:
        root = lxml.html.document_fromstring(body)
    except (lxml.etree.ParserError, ValueError):
        return ()
    base = page_url
    for element in root.iter("base"):
        href = (element.get("href") or "").strip()
        if href:
            base = urljoin(page_url, href)
            break
    found: dict[str, FeedLink] = {}
    for element in root.iter("link"):
        rel = (element.get("rel") or "").lower().split()
        kind = (element.get("type") or "").split(";", 1)[0].strip().lower()
        href = (element.get("href") or "").strip()
        if "alternate" not in rel or kind not in LINK_TYPES or not href:
            continue
        url = _absolute(base, href)
        if url is not None and url not in found:
            title = " ".join((element.get("title") or "").split())
            found[url] = FeedLink(url, LINK_TYPES[kind], title, "link")
    for element in root.iter("a"):
        href = (element.get("href") or "").strip()
        url = _absolute(base, href) if href else None
        if url is None or url in found or not _FEEDISH.search(urlsplit(url).path):
            continue
        title = " ".join(element.text_content().split())
        found[url] = FeedLink(url, "", title, "anchor")
    return tuple(found.values())


def common_paths(page_url: str) -> tuple[str, ...]:
    """The usual addresses of a feed on ``page_url``'s site."""
    parts = urlsplit(page_url)
    return tuple(urlunsplit((parts.scheme, parts.netloc, path, "", "")) for path in COMMON_PATHS)


def robots_url(page_url: str) -> str:
    parts = urlsplit(page_url)
    return urlunsplit((parts.scheme, parts.netloc, "/robots.txt", "", ""))


def sitemaps_in_robots(text: str, robots: str) -> tuple[str, ...]:
    """The ``Sitemap:`` lines of a robots.txt (any case, relative ones resolved), each once."""
    found: dict[str, None] = {}
    for line in text.splitlines():
        name, _, value = line.partition(":")
        if name.strip().lower() == "sitemap" and value.strip():
            url = _absolute(robots, value.split("#", 1)[0].strip())
            if url is not None:
                found[url] = None
    return tuple(found)


def web_page_message(links: Iterable[FeedLink]) -> str:
    """What to say of a feed's address that turned out to be an HTML page."""
    named = [link.url for link in links if link.how == "link"]
    if named:
        return f"this is a web page; it links these feeds: {', '.join(named)}"
    return (
        "this is a web page and it links no feed (`marsad feeds discover URL` looks in the "
        "usual places)"
    )


def classify(fetched: Fetched, *, max_bytes: int, how: str = "given") -> Found:
    """What a fetched document is, and which kind of source reads it."""
    url = fetched.url
    if fetched.error is not None:
        return Found(url, None, "", how=how, problem=f"cannot fetch it: {fetched.error}")
    if fetched.status is not None and not 200 <= fetched.status < 300:
        return Found(url, None, "", how=how, problem=f"HTTP {fetched.status}")
    body = fetched.body
    if looks_like_sitemap(body):
        try:
            sitemap = read_sitemap(body, max_bytes=max_bytes)
        except SitemapUnreadable as exc:
            return Found(url, None, "sitemap", how=how, problem=str(exc))
        if sitemap.kind == "sitemapindex":
            return Found(url, "sitemap", "sitemap index", entries=len(sitemap.sitemaps), how=how)
        shape = "news sitemap" if sitemap.is_news else "sitemap"
        return Found(url, "sitemap", shape, entries=len(sitemap.urls), how=how)
    # Before the page test: servers label feeds text/html as often as not.
    result = parse_feed(body, url, content_type=fetched.content_type)
    if result.is_feed:
        shape = _VERSIONS.get(result.version, result.version or "feed")
        return Found(url, "rss", shape, title=result.title, entries=len(result.entries), how=how)
    if is_json_document(body, fetched.content_type):
        # A JSON Feed that cannot be read (its server says it is one), or JSON that is no
        # feed (a REST API's answer): what is wrong with it, in one line.
        declared = (fetched.content_type or "").split(";", 1)[0].strip().lower()
        shape = "JSON Feed" if declared == "application/feed+json" else "JSON"
        return Found(url, None, shape, how=how, problem=result.bozo_message)
    if looks_like_web_page(body, fetched.content_type):
        return Found(url, None, WEB_PAGE, how=how, problem="a web page, not a feed")
    return Found(url, None, "", how=how, problem="neither a feed nor a sitemap")


def discover(
    url: str,
    fetch: Callable[[str], Fetched],
    *,
    max_bytes: int,
    max_candidates: int = MAX_CANDIDATES,
) -> Discovery:
    """What ``url`` is; for a web page, the feeds it links (else those at the usual places) and
    the sitemaps its site's robots.txt names, each fetched once to see what it is."""
    fetched = fetch(url)
    page = replace(classify(fetched, max_bytes=max_bytes), url=url)
    if page.kind is not None or page.format != WEB_PAGE:
        return Discovery(page=page, feeds=(page,) if page.kind else ())
    base = fetched.url
    links = feed_links(fetched.body, base)
    candidates: dict[str, str] = {link.url: link.how for link in links}
    if not any(link.how == "link" for link in links):
        for path in common_paths(base):
            candidates.setdefault(path, "common path")
    robots = fetch(robots_url(base))
    if robots.error is None and robots.status == 200:
        text = robots.body.decode("utf-8", "replace")
        for sitemap in sitemaps_in_robots(text, robots.url)[:MAX_ROBOTS_SITEMAPS]:
            candidates.setdefault(sitemap, "robots.txt")
    feeds: list[Found] = []
    unreadable: list[Found] = []
    tried: list[str] = []
    seen = {base, url}
    for candidate, how in list(candidates.items())[:max_candidates]:
        if candidate in seen:
            continue
        seen.add(candidate)
        # Known by the address the page gave (the crawler follows its redirects).
        found = replace(classify(fetch(candidate), max_bytes=max_bytes, how=how), url=candidate)
        if found.kind is not None:
            if found.url not in {f.url for f in feeds}:
                feeds.append(found)
        elif found.format == "JSON Feed":
            unreadable.append(found)
        else:
            tried.append(candidate)
    return Discovery(
        page=page,
        links=links,
        feeds=tuple(feeds),
        unreadable=tuple(unreadable),
        tried=tuple(tried),
    )


def preferred(discovery: Discovery) -> tuple[Found, ...]:
    """The feeds to follow when a page is given instead of a feed: those it announces with
    ``<link rel="alternate">``, else every feed found."""
    announced = tuple(f for f in discovery.feeds if f.how == "link")
    return announced or discovery.feeds


def _absolute(base: str, href: str) -> str | None:
    try:
        url = urljoin(base, href)
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return None
    return urlunsplit((parts.scheme, parts.netloc, parts.path or "/", parts.query, ""))
