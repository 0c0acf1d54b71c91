"""What the store already knows about an incoming article: the first phase of ingesting it.

Reads only. The article may be held already (same canonical URL, or same feed GUID: a
sighting), or be a copy of a story the store holds (the copy-detection layers of
:mod:`storage.dedup`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from marsad.storage import articles as store
from marsad.storage.dedup import find_duplicate
from marsad.storage.origins import feed_name

if TYPE_CHECKING:
    from sqlite_utils import Database

    from marsad.alerts.matching import RuleIndex
    from marsad.ingest.prepare import PreparedArticle
    from marsad.storage.models import DuplicateVerdict, NewArticle


@dataclass(frozen=True)
class Known:
    """The stored article an incoming one is, and how it was recognised ("url" or "guid")."""

    article_id: int
    reason: str


def find_known(db: Database, article: NewArticle) -> Known | None:
    """The stored article with ``article``'s canonical URL, or else with its GUID."""
    found = store.find_article_by_url(db, article.canonical_url)
    if found is not None:
        return Known(found, "url")
    if article.guid:
        found = store.find_article_by_guid(db, article.guid)
        if found is not None:
            return Known(found, "guid")
    return None


def find_story(db: Database, prepared: PreparedArticle) -> DuplicateVerdict | None:
    """The story the article is a copy of (see :func:`storage.dedup.find_duplicate`), or None
    when it is new."""
    return find_duplicate(db, prepared.body)


def find_feed_name(db: Database, article: NewArticle, rules: RuleIndex) -> str | None:
    """The name of the feed that listed ``article``, when a rule is scoped to feeds (a read
    the other articles are spared)."""
    if not rules.scoped_by_feed or article.feed_id is None:
        return None
    return feed_name(db, article.feed_id)
