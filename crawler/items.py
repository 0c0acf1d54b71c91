"""What the spiders hand to the item pipeline: articles (feed outcomes go by signal)."""

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
