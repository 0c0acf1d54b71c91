"""Reading a feed's bytes (RSS 0.9x/1.0/2.0, Atom, JSON Feed 1.0/1.1) into plain entries, and
what an entry is.

feedparser is only ever given bytes: given a URL it would fetch it itself, blocking. A broken
feed comes back with ``bozo`` set and whatever entries feedparser recovered; those are kept. One
entry that cannot be read is counted (``FeedResult.unusable``) and costs only itself. feedparser
6.0 reads no JSON: a JSON Feed (https://www.jsonfeed.org/version/1.1/) is read here, by
:func:`parse_json_feed`, into the same entries; JSON that is not one says why in one line.

An entry's identity in its feed (:func:`entry_key`) is its GUID, else its link, else its content,
so an entry with neither link nor GUID is kept too (under :func:`content_url`). Whether a link
may be followed at all is :func:`link_problem`'s; when an entry that could not be stored is
given up is :func:`gives_up`'s. All pure.
"""

from __future__ import annotations

import hashlib
import json
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
    language: str | None = None  # as the feed says it (JSON Feed's item or feed language)


@dataclass(frozen=True)
class FeedResult:
    title: str
    # feedparser's name for the format: "rss20", "atom10", "rss10", ..., ours for JSON Feed:
    # "json11", "json10"; or "" (not a feed).
    version: str
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
    """Parse a feed. ``content_type`` (the HTTP header) contributes its charset, if any, and
    that only when the bytes agree with it (:func:`feed_as_utf8`); and a JSON type sends bytes
    that are not markup to :func:`parse_json_feed`, as bytes that start with ``{`` go whatever
    the header says."""
    if is_json_document(body, content_type):
        return parse_json_feed(body, base_url)
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


# -- JSON Feed ---------------------------------------------------------------------------------

JSON_FEED_TYPES = frozenset({"application/feed+json", "application/json"})
JSON_FEED_VERSIONS = {
    "https://jsonfeed.org/version/1": "json10",
    "https://jsonfeed.org/version/1.1": "json11",
}
_JSON_FEED_PREFIX = "https://jsonfeed.org/version/"
_WHITESPACE = b" \t\r\n"


def is_json_document(body: bytes, content_type: str | None = None) -> bool:
    """Whether ``body`` is to be read as JSON: it starts with ``{`` (no XML or HTML does), or
    its server calls it JSON and it does not start with markup (servers lie both ways)."""
    head = body.removeprefix(b"\xef\xbb\xbf").lstrip(_WHITESPACE)[:1]
    if head == b"{":
        return True
    declared = (content_type or "").split(";", 1)[0].strip().lower()
    return (declared in JSON_FEED_TYPES or declared.endswith("+json")) and head not in (b"<", b"")


def parse_json_feed(body: bytes, base_url: str) -> FeedResult:
    """A JSON Feed 1.0 or 1.1 as entries: an item's ``id``, ``url`` (else ``external_url``,
    resolved against the feed's URL), ``title``, the longer of ``content_html`` (as text) and
    ``content_text`` (else ``summary``), ``date_published`` (else ``date_modified``), its
    ``authors`` (1.1) or ``author`` (1.0) and its ``language`` (else the feed's). JSON that is
    not a JSON Feed is no feed, and ``bozo_message`` says why; an item that is not an object
    costs only itself. Pure."""
    try:
        document = json.loads(body.decode("utf-8-sig"))
    except UnicodeDecodeError as exc:
        return _not_json_feed(f"not valid JSON: not UTF-8 (byte {exc.start})")
    except RecursionError:  # a hostile feed's [[[[…: one feed fails, not the crawl
        return _not_json_feed("not valid JSON: nested too deeply")
    except ValueError as exc:
        where = (
            f" (line {exc.lineno}, column {exc.colno})"
            if isinstance(exc, json.JSONDecodeError)
            else ""
        )
        message = exc.msg if isinstance(exc, json.JSONDecodeError) else str(exc)
        return _not_json_feed(f"not valid JSON: {message}{where}")
    if not isinstance(document, dict):
        shape = "an array" if isinstance(document, list) else f"a {type(document).__name__}"
        return _not_json_feed(f"JSON, but not a JSON Feed: {shape}, not an object")
    declared = document.get("version")
    if isinstance(declared, str):  # early feeds name it over http
        declared = declared.strip().replace("http://", "https://", 1)
    if not isinstance(declared, str) or not declared.startswith(_JSON_FEED_PREFIX):
        return _not_json_feed(f'JSON, but not a JSON Feed: no "version" naming {_JSON_FEED_PREFIX}')
    # A later version keeps what 1.1 says (the spec adds, it does not take away).
    version = JSON_FEED_VERSIONS.get(declared.rstrip("/"), "json11")
    language = _json_str(document.get("language")) or None
    items = document.get("items")
    problem = None if isinstance(items, list) else '"items" is not a list'
    entries: list[FeedEntry] = []
    unusable: list[str] = []
    for number, item in enumerate(items if isinstance(items, list) else [], start=1):
        if not isinstance(item, dict):
            unusable.append(f"entry {number}: not an object: {_shown(item)}")
            continue
        try:
            entries.append(_json_entry(item, base_url, language))
        except Exception as error:  # one odd item costs itself only
            unusable.append(f"entry {number}: cannot read it: {type(error).__name__}: {error}")
    return FeedResult(
        title=_clean(_tidy(_json_str(document.get("title")))),
        version=version,
        entries=tuple(entries),
        bozo=problem is not None,
        bozo_message=problem,
        unusable=tuple(unusable),
    )


def _not_json_feed(message: str) -> FeedResult:
    return FeedResult(title="", version="", entries=(), bozo=True, bozo_message=message)


def _json_entry(item: dict[str, Any], base_url: str, feed_language: str | None) -> FeedEntry:
    link = _json_str(item.get("url")).strip() or _json_str(item.get("external_url")).strip()
    # The spec asks for a string; a number is taken as one.
    guid = _json_str(item.get("id"), numbers=True).strip() or None
    html = _json_str(item.get("content_html"))
    plain = _json_str(item.get("content_text")) or _json_str(item.get("summary"))
    texts = [html_to_text(html) if html else "", _tidy(plain)]
    authors = item.get("authors")
    if not isinstance(authors, list):
        authors = [item.get("author")]
    names = [_json_str(a.get("name")).strip() for a in authors if isinstance(a, dict)]
    published = _json_str(item.get("date_published")) or _json_str(item.get("date_modified"))
    return FeedEntry(
        guid=_clean(guid) if guid else None,
        link=urljoin(base_url, _clean(link)) if link else None,
        title=_clean(_tidy(_json_str(item.get("title")))),
        text=_clean(max(texts, key=len)),
        author=_clean(", ".join(name for name in names if name)) or None,
        published=to_utc_iso(published) if published else None,
        language=_json_str(item.get("language")).strip() or feed_language,
    )


def _json_str(value: object, *, numbers: bool = False) -> str:
    """A string member as it is; anything else as "" (a number too, unless ``numbers``)."""
    if isinstance(value, str):
        return value
    if numbers and isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return ""


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:60] + "…"


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
