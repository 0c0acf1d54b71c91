"""What the store says of a story as it grows, and the follow-up alerts it queues.

The reads behind :class:`marsad.alerts.followups.StoryGrowth` and the one write of a
follow-up: an outbox row of its own (``alerts.follow_up`` its threshold, 0 for a rule's first
alert on a story), unique per (story, rule, channel, follow_up) in the schema, so two
processes ingesting copies of one story never queue a threshold twice.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import timedelta
from typing import Any

from sqlite_utils import Database

from marsad.times import from_iso, to_iso


def story_outlets(db: Database, story_id: int) -> int:
    """The story's distinct outlets, as last counted (:func:`storage.articles.refresh_story`)."""
    rows = list(db.query("SELECT outlet_count FROM stories WHERE id = ?", [story_id]))
    return int(rows[0]["outlet_count"]) if rows else 0


def story_reached(
    db: Database, story_id: int, rules: Collection[str]
) -> dict[tuple[str, str], int]:
    """(rule, channel) → the outlet count that rule was last told of on this story: its
    follow-ups' highest threshold, else the story's outlets when its first alert was queued
    (the alert is written with its article, so the outlets among the story's articles up to
    that one)."""
    if not rules:
        return {}
    names = list(rules)
    rows = db.query(
        f"""
        SELECT al.rule, al.channel, max(CASE WHEN al.follow_up > 0 THEN al.follow_up ELSE (
            SELECT count(DISTINCT x.source) FROM articles x
            WHERE x.story_id = al.story_id AND x.id <= al.article_id) END) AS reached
        FROM alerts al
        WHERE al.story_id = ? AND al.kind = 'article' AND al.rule IN ({", ".join("?" * len(names))})
        GROUP BY al.rule, al.channel
        """,
        [story_id, *names],
    )
    return {(r["rule"], r["channel"]): int(r["reached"]) for r in rows}


def story_matched_rules(db: Database, story_id: int, rules: Collection[str]) -> frozenset[str]:
    """Which of ``rules`` matched some article of the story."""
    if not rules:
        return frozenset()
    names = list(rules)
    rows = db.query(
        "SELECT DISTINCT m.rule FROM articles a JOIN matches m ON m.article_id = a.id "
        f"WHERE a.story_id = ? AND m.rule IN ({', '.join('?' * len(names))})",
        [story_id, *names],
    )
    return frozenset(r["rule"] for r in rows)


def story_outlets_within(db: Database, story_id: int, windows: Sequence[float]) -> dict[float, int]:
    """Per window (seconds), the story's distinct outlets whose article is dated within that
    long of its first article (dated: published, else fetched)."""
    rows = list(
        db.query(
            "SELECT min(coalesce(published, fetched_at)) AS first FROM articles WHERE story_id = ?",
            [story_id],
        )
    )
    first = rows[0]["first"] if rows else None
    if first is None:
        return {}
    counts: dict[float, int] = {}
    for window in dict.fromkeys(windows):
        until = to_iso(from_iso(first) + timedelta(seconds=window))
        found = db.query(
            "SELECT count(DISTINCT source) AS n FROM articles "
            "WHERE story_id = ? AND coalesce(published, fetched_at) <= ?",
            [story_id, until],
        )
        counts[window] = int(next(found)["n"])
    return counts


def article_matches(db: Database, article_id: int) -> list[dict[str, Any]]:
    """The article's stored hits of every rule, in the order they were found."""
    return list(
        db.query(
            'SELECT rule, keyword, field, start, "end", surface, snippet FROM matches '
            "WHERE article_id = ? ORDER BY id",
            [article_id],
        )
    )
