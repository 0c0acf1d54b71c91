"""An article page to a stored-ready article: extraction, then the pure part of ingest.

:func:`article_from_page` is what the crawl engine's worker processes run for each page fetched:
trafilatura's extraction (the most expensive step of a crawl) and :func:`prepare_article`
(normalising, cutting credits, fingerprinting), neither of which needs the store. Bytes and
records in, records out, so it pickles cheaply and is tested on literals.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from marsad.crawler.extract import extract_article
from marsad.ingest.prepare import PreparedArticle, prepare_article
from marsad.storage.models import NewArticle


@dataclass(frozen=True)
class PageArticle:
    article: NewArticle
    prepared: PreparedArticle


def article_from_page(
    body: bytes, url: str, content_type: str | None, from_feed: NewArticle
) -> PageArticle | None:
    """The article a page holds, on top of what its feed entry said (``from_feed``: the
    article as the feed tells it); None when the page holds no article worth keeping.

    The feed's title, author and date win over the page's: the feed's title is usually the
    cleaner one (no site name appended), a page's author is a guess (a byline, a meta tag naming
    the desk). So when the feed gives both a title and a date, the page's metadata is not
    extracted at all (it is a large share of extraction's cost).
    """
    knows_enough = bool(from_feed.title) and bool(from_feed.published)
    extracted = extract_article(
        body,
        url,
        content_type=content_type,
        metadata=not knows_enough,
        title=from_feed.title or None,
    )
    if extracted is None:
        return None
    article = replace(
        from_feed,
        title=from_feed.title or extracted.title or "",
        text=extracted.text,
        published=from_feed.published or extracted.published,
        author=from_feed.author or extracted.author,
        language=extracted.language,
        extraction="page",
    )
    return PageArticle(article, prepare_article(article))
