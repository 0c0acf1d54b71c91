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
    """Why an incoming article is a copy of a story the store holds: of its original
    ``original_id``; ``evidence["matched"]`` is the article that proved it (the original, or
    an article of the story with the very same body).

    ``covers``: the article holds (nearly) all of the original's text, so published earlier it
    may take the original's place; an excerpt never does. ``original_published``: when the
    original was published (fetched, if undated). ``also``: other stories the article is a
    copy of too, best first (a roundup quoting two texts; a full text whose excerpts came
    first): :func:`storage.dedup.place` decides whether they merge or are only quoted.
    ``missed``: said of a story in ``also`` that holds one article, itself a copy of the first
    story's original: it would have joined that story had the index found it when it came.
    """

    original_id: int
    story_id: int
    similarity: float
    evidence: dict[str, Any] = field(default_factory=dict)
    covers: bool = False
    original_published: str | None = None
    also: tuple[DuplicateVerdict, ...] = ()
    missed: bool = False


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
