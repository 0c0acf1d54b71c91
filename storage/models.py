"""Plain records passed in and out of the store."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class NewArticle:
    """An article as it arrives, before the store has seen it."""

    url: str
    canonical_url: str
    source: str
    title: str
    text: str
    published: str | None = None
    guid: str | None = None
    feed_id: int | None = None
    author: str | None = None
    language: str | None = None
    # Where the text came from: "page" (extracted), "feed" (the page failed; the feed's own
    # summary is kept) or "import".
    extraction: str = "page"


@dataclass(frozen=True)
class DuplicateVerdict:
    """Why an incoming article is a copy of one the store already holds."""

    original_id: int
    story_id: int
    similarity: float
    evidence: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class FeedState:
    id: int
    name: str
    url: str
    etag: str | None
    last_modified: str | None
    body_hash: str | None
    consecutive_failures: int
    backoff_until: str | None
    fetch_count: int


@dataclass(frozen=True)
class DueAlert:
    id: int
    article_id: int
    story_id: int
    rule: str
    channel: str
    idempotency_key: str
    payload: dict[str, Any]
    attempts: int
