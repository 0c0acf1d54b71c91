"""Where stored articles come from, for rules scoped to feeds, sources or languages."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlite_utils import Database


@dataclass(frozen=True)
class StoredOrigin:
    """A stored article's outlet, URL, feed name (None: imported) and language."""

    source: str
    url: str
    feed: str | None
    language: str | None


def feed_name(db: Database, feed_id: int) -> str | None:
    """The name of the feed ``feed_id``, or None when the store has no such feed."""
    rows = list(db.query("SELECT name FROM feeds WHERE id = ?", [feed_id]))
    return str(rows[0]["name"]) if rows else None


def article_origins(db: Database, article_ids: Iterable[int]) -> dict[int, StoredOrigin]:
    """Each of ``article_ids`` that the store holds → its origin."""
    ids = list(dict.fromkeys(article_ids))
    found: dict[int, StoredOrigin] = {}
    # In slices: SQLite limits the number of parameters of one statement.
    for start in range(0, len(ids), 500):
        part = ids[start : start + 500]
        rows = db.query(
            "SELECT a.id, a.source, a.url, a.language, f.name AS feed FROM articles a "
            f"LEFT JOIN feeds f ON f.id = a.feed_id WHERE a.id IN ({', '.join('?' * len(part))})",
            part,
        )
        for row in rows:
            found[int(row["id"])] = StoredOrigin(
                row["source"], row["url"], row["feed"], row["language"]
            )
    return found
