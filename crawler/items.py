"""What the feed spider hands to the store pipeline: articles and per-feed fetch outcomes."""

from __future__ import annotations

from dataclasses import dataclass

from marsad.storage.models import NewArticle


@dataclass(frozen=True)
class ArticleItem:
    article: NewArticle
    feed_name: str


@dataclass(frozen=True)
class FeedOutcome:
    """How one feed fetch went. ``outcome`` is "ok", "unchanged" or "failed"."""

    feed_id: int
    feed_name: str
    url: str
    outcome: str
    status: int | None
    etag: str | None = None
    last_modified: str | None = None
    body_hash: str | None = None
    new_items: int = 0
    error: str | None = None
    backoff_until: str | None = None  # only for "failed"
