"""An article page's text and metadata, by trafilatura."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import trafilatura
from trafilatura.settings import use_config

from marsad.arabic import normalize
from marsad.arabic.script import arabic_letter_share
from marsad.crawler.encoding import decode_html
from marsad.times import to_utc_iso

# Less body text than this is a teaser, a paywall or an error page, not an article.
MIN_TEXT_CHARS = 80


def _config() -> Any:
    config = use_config()
    # Our input is untrusted: a tree this large is a hostile or broken page, not an article.
    config.set("DEFAULT", "MAX_TREE_SIZE", "200000")
    return config


_CONFIG = _config()


@dataclass(frozen=True)
class ExtractedArticle:
    text: str
    title: str | None
    author: str | None
    published: str | None  # ISO-8601 UTC
    language: str | None
    encoding: str | None = None  # how the page's bytes were decoded


def extract_article(
    html: bytes | str,
    url: str,
    *,
    content_type: str | None = None,
    min_chars: int = MIN_TEXT_CHARS,
    metadata: bool = True,
    title: str | None = None,
) -> ExtractedArticle | None:
    """Extract the main text of a page; ``None`` when there is no article worth keeping.

    ``content_type`` (the HTTP header) helps decode ``bytes``; a ``str`` is taken as decoded.
    ``metadata=False`` skips the page's title, author and date (the caller knows them; finding
    the date is a large share of the cost); ``title`` is then the headline to drop from the top
    of the text, and the result's title, author and date are None.
    """
    encoding = None
    if isinstance(html, bytes):
        decoded = decode_html(html, content_type)
        html, encoding = decoded.text, decoded.encoding
    if not html.strip():
        return None
    document: Any = trafilatura.bare_extraction(
        html,
        url=url,
        with_metadata=metadata,
        include_comments=False,
        include_tables=False,
        config=_CONFIG,
    )
    if document is None:
        return None
    page_title = _clean(document.title) if metadata else None
    text = strip_leading_furniture(str(document.text or "").strip(), page_title or title)
    if len(text) < min_chars:
        return None
    return ExtractedArticle(
        text=text,
        title=page_title,
        author=_clean(document.author) if metadata else None,
        published=to_utc_iso(document.date) if metadata and document.date else None,
        language=(_clean(document.language) if metadata else None) or guess_language(text),
        encoding=encoding,
    )


_DATE_LINE = re.compile(r"^[\d\s/:.,\-TZ+]{6,40}$")


def strip_leading_furniture(text: str, title: str | None) -> str:
    """Drop the headline and a bare date line that extractors keep at the top of the body.

    Left in, the headline would be matched and fingerprinted twice, and a copy re-titled by
    another outlet would look less like its original than it is.
    """
    lines = text.split("\n")
    heading = normalize(title) if title else ""
    while lines:
        first = normalize(lines[0])
        if not first or (heading and first == heading) or _DATE_LINE.match(first):
            lines.pop(0)
            continue
        break
    return "\n".join(lines).strip()


def guess_language(text: str) -> str | None:
    """``"ar"`` when most letters are Arabic, else None (we only need to tell Arabic apart)."""
    return "ar" if arabic_letter_share(text) > 0.5 else None


def _clean(value: object) -> str | None:
    text = str(value).strip() if value is not None else ""
    return text or None
