"""What the spiders hand to the item pipeline: articles, and entries left for a later poll (feed
outcomes go by signal)."""

from __future__ import annotations

from dataclasses import dataclass

from marsad.storage.models import NewArticle


@dataclass(frozen=True)
class ArticleItem:
    article: NewArticle
    feed_name: str
    # The feed entry this article settles once stored (marsad.crawler.feeds.entry_key); None for
    # an entry already stored, seen again.
    entry_key: str | None = None


@dataclass(frozen=True)
class EntryNotStored:
    """An entry not stored in this crawl, owed still: the pipeline notes why, for the next poll."""

    feed_id: int
    feed_name: str
    entry_key: str
    reason: str
