"""What the cluster's processes send each other through Redis (JSON by :mod:`.codec`).

A stream entry has two fields: ``t``, the message's kind, and ``m``, its JSON.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from marsad.crawler.poll import CrawlReport
from marsad.crawler.polling import ReadingNote
from marsad.crawler.signals import FeedOutcome
from marsad.crawler.spiders.base import FeedJob
from marsad.ingest.prepare import PreparedArticle
from marsad.scheduler.cluster import codec
from marsad.storage.models import NewArticle

JOB = "job"
OUTCOME = "outcome"
ARTICLE = "article"
NOT_STORED = "not_stored"
POLL_DONE = "poll_done"


@dataclass(frozen=True)
class JobMessage:
    """A due feed for the fetcher that owns its site (scheduler -> fetcher)."""

    job: FeedJob
    sent_at: str
    # Raised each time a job is handed on from a fetcher that left (for the log).
    moves: int = 0


@dataclass(frozen=True)
class OutcomeMessage:
    """How a feed fetch went, with the entries it lists not stored yet (fetcher -> writer)."""

    outcome: FeedOutcome


@dataclass(frozen=True)
class ArticleMessage:
    """An article to store; ``entry_key`` is the feed entry it settles (fetcher -> writer)."""

    article: NewArticle
    feed_name: str
    entry_key: str | None = None
    prepared: PreparedArticle | None = None


@dataclass(frozen=True)
class NotStoredMessage:
    """An entry whose page failed for now: tried again on a later poll (fetcher -> writer)."""

    feed_id: int
    feed_name: str
    entry_key: str
    reason: str


@dataclass(frozen=True)
class PollDoneMessage:
    """A feed's poll is over on its fetcher: everything it sent is before this in the stream.
    The writer then decides the feed's next poll and its health (fetcher -> writer)."""

    feed_name: str
    report: CrawlReport
    fetcher: str
    note: ReadingNote | None = None
    finished_at: str = ""
    errors: tuple[str, ...] = field(default_factory=tuple)


KINDS: dict[str, type] = {
    JOB: JobMessage,
    OUTCOME: OutcomeMessage,
    ARTICLE: ArticleMessage,
    NOT_STORED: NotStoredMessage,
    POLL_DONE: PollDoneMessage,
}


def encode(kind: str, message: object) -> dict[Any, Any]:
    # dict[Any, Any]: redis-py types the fields as an invariant dict of its own union.
    return {"t": kind, "m": codec.dumps(message)}


def decode(fields: Mapping[Any, Any] | None) -> tuple[str, object]:
    """A stream entry's kind and message; :class:`codec.CodecError` when it is not ours."""
    fields = fields or {}
    raw = fields.get(b"t", b"")
    kind = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
    cls = KINDS.get(kind)
    if cls is None:
        raise codec.CodecError(f"unknown message kind {kind!r}")
    return kind, codec.loads(fields.get(b"m", b""), cls)
