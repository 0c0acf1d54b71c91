"""What the spiders hand to the item pipeline: articles (feed outcomes go by signal)."""

from __future__ import annotations

from dataclasses import dataclass

from marsad.storage.models import NewArticle


@dataclass(frozen=True)
class ArticleItem:
    article: NewArticle
    feed_name: str
