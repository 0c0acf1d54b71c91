"""OPML subscription lists in and out: what Miniflux, FreshRSS and other readers export, and
what marsad exports for them (OPML 2.0). Pure: bytes in, records out, and back.

Reading is listparser's (a maintained parser that copes with what readers really write: OPML 1.0
and 2.0, any case of ``xmlUrl``, folders nested in folders, broken XML it can recover). What
listparser does not keep is read from the XML beside it: each outline's ``type`` (FreshRSS marks
its web-scraping sources ``HTML+XPath``: no feed to read) and marsad's own attributes, in its
namespace, which carry what OPML has no word for (how often to poll, the kind of source, the
outlet), so that marsad → OPML → marsad loses nothing, and any other reader ignores them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from email.utils import format_datetime
from typing import Any
from urllib.parse import urlsplit

import listparser
import lxml.etree

from marsad.crawler.config import FeedConfig
from marsad.feeds_file import NewFeed, same_url, suggest_name
from marsad.times import format_duration

MARSAD_NS = "tag:marsad,2024:opml"
_EXTRAS = ("every", "kind", "source")
# Outline types that are no feed (FreshRSS scrapes these pages with XPath).
_NOT_FEEDS = ("html+xpath", "xml+xpath", "json+dotnotation", "html+xpath+json+dotnotation")
MAX_OPML_BYTES = 10 << 20


@dataclass(frozen=True)
class OpmlFeed:
    url: str
    title: str
    folders: tuple[str, ...] = ()  # the folders it sits in, outermost first ("Arabic/News")
    every: str | None = None  # marsad's own attributes, when a marsad export wrote them
    kind: str | None = None
    source: str | None = None


@dataclass(frozen=True)
class OpmlList:
    title: str
    feeds: tuple[OpmlFeed, ...]
    skipped: tuple[str, ...] = ()  # one line per outline left out, and why


class OpmlError(ValueError):
    """Not a subscription list (the message says why, in one line)."""


def read_opml(body: bytes) -> OpmlList:
    """The feeds of an OPML file, and a line for each outline that is not one marsad follows."""
    if len(body) > MAX_OPML_BYTES:
        raise OpmlError(f"larger than {MAX_OPML_BYTES >> 20} MiB: not a list of feeds")
    parsed: Any = listparser.parse(body)  # bytes: listparser fetches nothing
    if not str(parsed.get("version", "")).startswith("opml"):
        reason = parsed.get("bozo_exception") or "no <opml> element"
        raise OpmlError(f"not an OPML file ({reason})")
    extras = _outline_extras(body)
    feeds: list[OpmlFeed] = []
    skipped: list[str] = []
    for entry in parsed.get("feeds", []):
        url = str(entry.get("url", "")).strip()
        title = " ".join(str(entry.get("title", "")).split())
        extra = extras.get(url, {})
        kind = extra.get("type", "").lower()
        if kind in _NOT_FEEDS:
            skipped.append(f"{url}: a web page scraped with XPath ({extra['type']}), not a feed")
            continue
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            skipped.append(f"{url or '(empty)'}: not an http(s) URL")
            continue
        folders = tuple("/".join(path) for path in entry.get("categories", []) if path)
        feeds.append(
            OpmlFeed(
                url=url,
                title=title,
                folders=folders,
                every=extra.get("every"),
                kind=extra.get("kind"),
                source=extra.get("source"),
            )
        )
    for entry in parsed.get("lists", []):
        skipped.append(f"{entry.get('url')}: a link to another list, not followed")
    title = str(parsed.get("meta", {}).get("title", ""))
    return OpmlList(title=title, feeds=tuple(feeds), skipped=tuple(skipped))


def _outline_extras(body: bytes) -> dict[str, dict[str, str]]:
    """Per feed URL: its outline's ``type`` and marsad's attributes (empty where the XML does not
    parse: listparser may still have recovered the feeds)."""
    parser = lxml.etree.XMLParser(
        resolve_entities=False, no_network=True, recover=True, huge_tree=False
    )
    try:
        root = lxml.etree.fromstring(body, parser)
    except lxml.etree.XMLSyntaxError:
        return {}
    if root is None:
        return {}
    extras: dict[str, dict[str, str]] = {}
    for outline in root.iter("{*}outline"):
        attributes = {str(k).lower(): str(v) for k, v in outline.attrib.items()}
        url = attributes.get("xmlurl", "").strip()
        if not url or url in extras:
            continue
        found = {"type": attributes.get("type", "").strip()}
        for key in _EXTRAS:
            value = outline.get(f"{{{MARSAD_NS}}}{key}")
            if value is not None and value.strip():
                found[key] = value.strip()
        extras[url] = found
    return extras


def feeds_to_add(
    listed: Iterable[OpmlFeed],
    configured: Sequence[Mapping[str, Any]],
    *,
    every: str | None = None,
) -> tuple[list[NewFeed], list[str]]:
    """The ``[[feeds]]`` tables for the listed feeds the config does not follow yet (named after
    their titles, made unique), and a line for each it already follows. ``every`` applies to
    those whose list says nothing of it."""
    taken = {str(feed.get("name")) for feed in configured}
    followed = {same_url(str(feed.get("url", ""))): str(feed.get("name")) for feed in configured}
    new: list[NewFeed] = []
    already: list[str] = []
    for feed in listed:
        known = followed.get(same_url(feed.url))
        if known is not None:
            already.append(f"{feed.url}: already followed, as {known!r}")
            continue
        name = suggest_name(feed.title, feed.url, taken)
        taken.add(name)
        followed[same_url(feed.url)] = name
        kind = feed.kind if feed.kind not in (None, "rss") else None
        new.append(
            NewFeed(
                name=name,
                url=feed.url,
                every=feed.every or every,
                kind=kind,
                source=feed.source if feed.source != name else None,
            )
        )
    return new, already


def write_opml(feeds: Sequence[FeedConfig], *, now: datetime, title: str = "marsad") -> bytes:
    """An OPML 2.0 list of ``feeds`` that Miniflux, FreshRSS and marsad itself import."""
    root = lxml.etree.Element("opml", version="2.0", nsmap={"marsad": MARSAD_NS})
    head = lxml.etree.SubElement(root, "head")
    lxml.etree.SubElement(head, "title").text = title
    lxml.etree.SubElement(head, "dateCreated").text = format_datetime(now, usegmt=True)
    body = lxml.etree.SubElement(root, "body")
    for feed in feeds:
        outline = lxml.etree.SubElement(body, "outline")
        # "rss" is what readers look for in a feed's outline; a sitemap says what it is.
        outline.set("type", "rss" if feed.kind == "rss" else feed.kind)
        outline.set("text", feed.name)
        outline.set("title", feed.name)
        outline.set("xmlUrl", feed.url)
        outline.set(f"{{{MARSAD_NS}}}every", format_duration(feed.every))
        if feed.kind != "rss":
            outline.set(f"{{{MARSAD_NS}}}kind", feed.kind)
        if feed.source != feed.name:
            outline.set(f"{{{MARSAD_NS}}}source", feed.source)
    written: bytes = lxml.etree.tostring(
        root, xml_declaration=True, encoding="UTF-8", pretty_print=True
    )
    return written
