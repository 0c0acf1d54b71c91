"""Reading a feed's bytes (RSS 0.9x/1.0/2.0, Atom) into plain entries.

feedparser is only ever given bytes: given a URL it would fetch it itself, blocking. A broken
feed comes back with ``bozo`` set and whatever entries feedparser recovered; those are kept.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin

import feedparser
import lxml.etree
import lxml.html

from marsad.crawler.encoding import charset_from_content_type
from marsad.times import to_utc_iso

# Elements after which a line break belongs, so paragraphs do not run together.
_BLOCKS = frozenset(
    {"p", "div", "br", "li", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "tr", "section"}
)
_SPACES = re.compile(r"[ \t\r\f\v\u00a0]+")


@dataclass(frozen=True)
class FeedEntry:
    guid: str | None
    link: str | None  # absolute
    title: str
    text: str  # the entry's content or summary, HTML stripped
    author: str | None
    published: str | None  # ISO-8601 UTC


@dataclass(frozen=True)
class FeedResult:
    title: str
    version: str  # feedparser's name for the format: "rss20", "atom10", "rss10", ... or ""
    entries: tuple[FeedEntry, ...]
    bozo: bool = False
    bozo_message: str | None = None

    @property
    def is_feed(self) -> bool:
        """False when the bytes were not a feed at all (an HTML page, an empty body)."""
        return bool(self.version or self.entries)


def parse_feed(body: bytes, base_url: str, *, content_type: str | None = None) -> FeedResult:
    """Parse a feed. ``content_type`` (the HTTP header) only contributes its charset, if any."""
    headers = {
        # Makes feedparser resolve relative links against the feed's own URL.
        "content-location": base_url,
        # Servers label feeds text/html, text/plain or nothing at all; that is no reason to call
        # a feed malformed. The bytes (XML declaration, BOM) decide unless a charset is given.
        "content-type": _xml_content_type(content_type),
    }
    parsed: Any = feedparser.parse(body, response_headers=headers)
    entries = tuple(_entry(e, base_url) for e in parsed.entries)
    message = None
    if parsed.get("bozo"):
        exc = parsed.get("bozo_exception")
        message = f"{type(exc).__name__}: {exc}" if exc is not None else "malformed feed"
    return FeedResult(
        title=html_to_text(str(parsed.feed.get("title", ""))),
        version=str(parsed.get("version", "") or ""),
        entries=entries,
        bozo=bool(parsed.get("bozo")),
        bozo_message=message,
    )


def _xml_content_type(content_type: str | None) -> str:
    charset = charset_from_content_type(content_type)
    return f"application/xml; charset={charset}" if charset else "application/xml"


def _entry(entry: Any, base_url: str) -> FeedEntry:
    link = entry.get("link") or None
    if link is None:
        for candidate in entry.get("links", []):
            if candidate.get("rel", "alternate") == "alternate" and candidate.get("href"):
                link = candidate["href"]
                break
    guid = entry.get("id") or None
    published = entry.get("published_parsed") or entry.get("updated_parsed")
    return FeedEntry(
        guid=str(guid).strip() if guid else None,
        link=urljoin(base_url, str(link).strip()) if link else None,
        title=html_to_text(str(entry.get("title", ""))),
        text=_entry_text(entry),
        author=html_to_text(str(entry.get("author") or "")) or None,
        published=to_utc_iso(published) if published else None,
    )


def _entry_text(entry: Any) -> str:
    # Full content (Atom content, RSS content:encoded) beats the summary when both exist.
    candidates = [str(c.get("value", "")) for c in entry.get("content", [])]
    candidates.append(str(entry.get("summary", "")))
    texts = [html_to_text(c) for c in candidates if c]
    return max(texts, key=len, default="")


def html_to_text(fragment: str) -> str:
    """Visible text of an HTML fragment, one paragraph a line."""
    if "<" not in fragment and "&" not in fragment:
        return _tidy(fragment)
    try:
        root = lxml.html.fragment_fromstring(fragment, create_parent="div")
    except (lxml.etree.ParserError, ValueError):
        return _tidy(fragment)
    for bad in root.xpath("//script|//style"):
        bad.drop_tree()
    for element in root.iter():
        if isinstance(element.tag, str) and element.tag.lower() in _BLOCKS:
            element.tail = "\n" + (element.tail or "")
    return _tidy(str(root.text_content()))


def _tidy(text: str) -> str:
    lines = (_SPACES.sub(" ", line).strip() for line in text.split("\n"))
    return "\n".join(line for line in lines if line)
