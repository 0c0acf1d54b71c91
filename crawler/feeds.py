"""Reading a feed's bytes (RSS 0.9x/1.0/2.0, Atom) into plain entries, and what an entry is.

feedparser is only ever given bytes: given a URL it would fetch it itself, blocking. A broken
feed comes back with ``bozo`` set and whatever entries feedparser recovered; those are kept. One
entry that cannot be read is counted (``FeedResult.unusable``) and costs only itself.

An entry's identity in its feed (:func:`entry_key`) is its GUID, else its link, else its content,
so an entry with neither link nor GUID is kept too (under :func:`content_url`). Whether a link
may be followed at all is :func:`link_problem`'s; when an entry that could not be stored is
given up is :func:`gives_up`'s. All pure.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urljoin, urlsplit

import feedparser
import lxml.etree
import lxml.html

from marsad.crawler.encoding import feed_as_utf8
from marsad.crawler.polling import Hint, feed_hint
from marsad.times import to_iso, to_utc_iso
from marsad.urls import canonical_url

# Elements after which a line break belongs, so paragraphs do not run together.
_BLOCKS = frozenset(
    {"p", "div", "br", "li", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "tr", "section"}
)
_SPACES = re.compile(r"[ \t\r\f\v\u00a0]+")
# A numeric character reference. Those to a UTF-16 surrogate (&#xD800;) or past U+10FFFF make
# feedparser's loose parser raise, losing every entry of the feed; they become U+FFFD first.
_CHAR_REF = re.compile(rb"&#(?:[xX]([0-9a-fA-F]+)|([0-9]+));")
_SURROGATES = re.compile("[\ud800-\udfff]")
REPLACEMENT = "\ufffd"
# Links an entry may be followed by: anything else (javascript:, mailto:, file:, data:) is not an
# article page, and a feed's links are the publisher's (or an attacker's) to choose.
FOLLOWED_SCHEMES = frozenset({"http", "https"})
# An entry not stored yet is tried again on later polls until it has been tried this many times
# AND was first tried this long ago (both: see gives_up).
ENTRY_MAX_ATTEMPTS = 5
ENTRY_MIN_RETRY = timedelta(hours=1)


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
    # Why each entry that could not be read at all was left out (the others are kept).
    unusable: tuple[str, ...] = ()
    # The feed's own word on how often to read it (<ttl>, sy:updatePeriod/updateFrequency).
    hint: Hint | None = None

    @property
    def is_feed(self) -> bool:
        """False when the bytes were not a feed at all (an HTML page, an empty body)."""
        return bool(self.version or self.entries)


def parse_feed(body: bytes, base_url: str, *, content_type: str | None = None) -> FeedResult:
    """Parse a feed. ``content_type`` (the HTTP header) only contributes its charset, if any,
    and that only when the bytes agree with it (:func:`feed_as_utf8`)."""
    headers = {
        # Makes feedparser resolve relative links against the feed's own URL.
        "content-location": base_url,
        # Servers label feeds text/html, text/plain or nothing at all; that is no reason to call
        # a feed malformed. The bytes are UTF-8 by now, whatever the feed declared.
        "content-type": "application/xml; charset=utf-8",
    }
    utf8 = feed_as_utf8(body, content_type)
    parsed: Any = feedparser.parse(_defuse_char_refs(utf8), response_headers=headers)
    entries: list[FeedEntry] = []
    unusable: list[str] = []
    for number, raw in enumerate(parsed.entries, start=1):
        try:
            entries.append(_entry(raw, base_url))
        except Exception as error:  # one entry feedparser handed over half-made costs itself only
            unusable.append(f"entry {number}: cannot read it: {type(error).__name__}: {error}")
    message = None
    if parsed.get("bozo"):
        exc = parsed.get("bozo_exception")
        message = f"{type(exc).__name__}: {exc}" if exc is not None else "malformed feed"
    return FeedResult(
        title=html_to_text(str(parsed.feed.get("title", ""))),
        version=str(parsed.get("version", "") or ""),
        entries=tuple(entries),
        bozo=bool(parsed.get("bozo")),
        bozo_message=message,
        unusable=tuple(unusable),
        hint=feed_hint(
            parsed.feed.get("ttl"),
            parsed.feed.get("sy_updateperiod"),
            parsed.feed.get("sy_updatefrequency"),
        ),
    )


def _defuse_char_refs(body: bytes) -> bytes:
    if b"&#" not in body:
        return body

    def defuse(ref: re.Match[bytes]) -> bytes:
        value = int(ref[1], 16) if ref[1] else int(ref[2])
        return b"&#xFFFD;" if 0xD800 <= value <= 0xDFFF or value > 0x10FFFF else ref[0]

    return _CHAR_REF.sub(defuse, body)


def _entry(entry: Any, base_url: str) -> FeedEntry:
    link = entry.get("link") or None
    if link is None:
        for candidate in entry.get("links", []):
            if candidate.get("rel", "alternate") == "alternate" and candidate.get("href"):
                link = candidate["href"]
                break
    guid = _clean(str(entry.get("id") or "")).strip() or None
    published = entry.get("published_parsed") or entry.get("updated_parsed")
    return FeedEntry(
        guid=guid,
        link=urljoin(base_url, _clean(str(link)).strip()) if link else None,
        title=_clean(html_to_text(str(entry.get("title", "")))),
        text=_clean(_entry_text(entry)),
        author=_clean(html_to_text(str(entry.get("author") or ""))) or None,
        published=to_utc_iso(published) if published else None,
    )


def _clean(text: str) -> str:
    # A lone surrogate cannot be stored (SQLite wants UTF-8): one character lost, not the entry.
    return _SURROGATES.sub(REPLACEMENT, text)


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


# -- what an entry is ------------------------------------------------------------------------------


def entry_key(entry: FeedEntry) -> str | None:
    """The entry's identity within its feed: its GUID, else its canonical link, else a digest of
    its title and text. None for an entry with none of them: there is nothing to store."""
    if entry.guid:
        return f"guid:{entry.guid}"
    if entry.link:
        return f"url:{canonical_url(entry.link)}"
    if entry.title or entry.text:
        return f"content:{_content_digest(entry)}"
    return None


def content_url(entry: FeedEntry, feed_url: str) -> str:
    """Where an entry without a link is filed: its feed's URL with a fragment naming the entry
    (its GUID, else its title and text), so the same entry is the same article on every poll."""
    digest = _digest(entry.guid) if entry.guid else _content_digest(entry)
    return f"{feed_url.split('#', 1)[0]}#entry-{digest}"


def _content_digest(entry: FeedEntry) -> str:
    return _digest(f"{entry.title}\n{entry.text}")


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:24]


def link_problem(link: str) -> str | None:
    """Why ``link`` (an entry's, absolute) is not to be fetched, or None when it may be."""
    shown = link if len(link) <= 200 else link[:200] + "…"
    try:
        parts = urlsplit(link)
        host = parts.hostname
    except ValueError as exc:
        return f"malformed link {shown!r}: {exc}"
    if parts.scheme.lower() not in FOLLOWED_SCHEMES:
        return f"not an http(s) link: {shown!r}"
    if not host:
        return f"no host in link {shown!r}"
    return None


def gives_up(attempts: int, first_attempt_at: str, now: datetime) -> bool:
    """Whether an entry still not stored after ``attempts`` polls tried it, the first at
    ``first_attempt_at`` (ISO-8601 UTC), is given up rather than tried once more at ``now``.

    Both bounds must be reached: a feed polled every minute keeps trying for an hour (a store
    locked by a long import, a site down for a while, cost nothing), and one polled twice a day
    still tries ENTRY_MAX_ATTEMPTS times.
    """
    return attempts >= ENTRY_MAX_ATTEMPTS and first_attempt_at <= to_iso(now - ENTRY_MIN_RETRY)
