"""Alerts held back: a rule fired on an article, but its alert was not raised, and why.

Recorded in place of queuing (``marsad import --no-alerts``, an article older than the alert
window): never an ``alerts`` row, so a later, fresh copy of the story can still raise the story's
alert; and listed by ``marsad alerts --suppressed``, so what was not alerted can be seen.
"""

from __future__ import annotations

from typing import Any

from sqlite_utils import Database


def record_suppression(
    db: Database,
    *,
    article_id: int,
    story_id: int,
    rule: str,
    channel: str,
    reason: str,
    created_at: str,
) -> bool:
    """Record that the article's alert for this rule and channel was held back; False when it
    was recorded already, or when its story has that alert queued or sent: the story was
    alerted, so nothing about it was held back."""
    cursor = db.execute(
        """
        INSERT OR IGNORE INTO alert_suppressions
            (article_id, story_id, rule, channel, reason, created_at)
        SELECT ?, ?, ?, ?, ?, ?
        WHERE NOT EXISTS (
            SELECT 1 FROM alerts WHERE story_id = ? AND rule = ? AND channel = ?
        )
        """,
        [article_id, story_id, rule, channel, reason, created_at, story_id, rule, channel],
    )
    return bool(cursor.rowcount)


def count_suppressions(db: Database) -> int:
    return int(db.execute("SELECT count(*) FROM alert_suppressions").fetchone()[0])


def list_suppressions(
    db: Database,
    *,
    rule: str | None = None,
    channel: str | None = None,
    since: str | None = None,
    until: str | None = None,
    limit: int = 50,
) -> list[dict[str, Any]]:
    """Alerts held back, newest first (ids grow with time), with their article and why.
    ``raised_by`` is the alert a later copy of the story raised for the same rule and channel,
    if one did."""
    where = ["1 = 1"]
    params: list[Any] = []
    for clause, value in (
        ("s.rule = ?", rule),
        ("s.channel = ?", channel),
        ("s.created_at >= ?", since),
        ("s.created_at < ?", until),
    ):
        if value is not None:
            where.append(clause)
            params.append(value)
    rows = db.query(
        f"""
        SELECT s.id AS suppression_id, s.created_at, s.rule, s.channel, s.reason,
               s.article_id, a.story_id, a.title, a.source, a.published,
               (SELECT min(al.id) FROM alerts al
                 WHERE al.story_id = a.story_id AND al.rule = s.rule AND al.channel = s.channel
               ) AS raised_by
        FROM alert_suppressions s JOIN articles a ON a.id = s.article_id
        WHERE {" AND ".join(where)}
        ORDER BY s.id DESC
        LIMIT ?
        """,
        [*params, limit],
    )
    return list(rows)


def suppressed_articles(db: Database, rule: str, article_ids: list[int]) -> set[int]:
    """Which of ``article_ids`` had an alert of ``rule`` held back (on any channel)."""
    found: set[int] = set()
    # In chunks: SQLite bounds the number of parameters of one statement.
    for start in range(0, len(article_ids), 500):
        chunk = article_ids[start : start + 500]
        marks = ",".join("?" * len(chunk))
        found.update(
            int(row[0])
            for row in db.execute(
                "SELECT DISTINCT article_id FROM alert_suppressions "
                f"WHERE rule = ? AND article_id IN ({marks})",
                [rule, *chunk],
            ).fetchall()
        )
    return found
