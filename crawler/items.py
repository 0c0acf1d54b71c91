"""What the spiders hand to the item pipeline: articles, and entries left for a later poll (feed
outcomes go by signal)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from marsad.storage.models import NewArticle

if TYPE_CHECKING:
    from marsad.crawler.poll import Poll
    from marsad.ingest.prepare import PreparedArticle


@dataclass(frozen=True)
class ArticleItem:
    article: NewArticle
    feed_name: str
    # The feed entry this article settles once stored (marsad.crawler.feeds.entry_key); None for
    # an entry already stored, seen again.
    entry_key: str | None = None
    # The poll whose unit of work this item is: closed once the item is stored or reported.
    poll: Poll | None = None
    # The canonical URL fetched for it: free to be fetched again once this item is stored.
    followed: str | None = None
    # The article's preparation, made in a worker process with its extraction.
    prepared: PreparedArticle | None = None


@dataclass(frozen=True)
class EntryNotStored:
    """An entry not stored in this crawl, owed still: the pipeline notes why, for the next poll."""

    feed_id: int
    feed_name: str
    entry_key: str
    reason: str
    poll: Poll | None = None
    followed: str | None = None
