"""Reading the archive for a rule backtest (``marsad rules test``)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from sqlite_utils import Database


@dataclass(frozen=True)
class ArchivedArticle:
    id: int
    story_id: int
    title: str
    text: str
    source: str
    url: str
    # When it was published, or when marsad fetched it if the source gave no date.
    date: str


def iter_articles_since(db: Database, since: str) -> Iterator[ArchivedArticle]:
    """Stored articles dated at or after ``since`` (ISO-8601 UTC), newest first."""
    rows = db.query(
        "SELECT id, story_id, title, text, source, url, "
        "COALESCE(published, fetched_at) AS date FROM articles "
        "WHERE COALESCE(published, fetched_at) >= ? ORDER BY date DESC, id DESC",
        [since],
    )
    for row in rows:
        yield ArchivedArticle(
            id=int(row["id"]),
            story_id=int(row["story_id"]),
            title=row["title"] or "",
            text=row["text"] or "",
            source=row["source"],
            url=row["url"],
            date=row["date"],
        )
