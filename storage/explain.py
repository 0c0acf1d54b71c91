"""What the store holds of one article for one rule: the reads behind ``marsad rules explain``."""

from __future__ import annotations

from dataclasses import dataclass

from sqlite_utils import Database


@dataclass(frozen=True)
class StoredArticle:
    id: int
    story_id: int
    title: str
    text: str
    source: str
    url: str
    feed: str | None
    language: str | None
    published: str | None
    fetched_at: str
    # Emptied by retention (the title is kept): the body can no longer be matched.
    pruned_at: str | None


@dataclass(frozen=True)
class StoredAlert:
    """An alert of the rule on the article's story (the first, or a follow-up)."""

    id: int
    article_id: int
    channel: str
    status: str
    follow_up: int
    created_at: str
    sent_at: str | None
    last_error: str | None


@dataclass(frozen=True)
class StoredHold:
    """An alert of the rule on the article that was held back when it was stored."""

    channel: str
    reason: str


@dataclass(frozen=True)
class RuleRecord:
    """What the store recorded of ``rule`` for the article and its story."""

    matches: int
    alerts: tuple[StoredAlert, ...]
    held: tuple[StoredHold, ...]


_ARTICLE = (
    "SELECT a.id, a.story_id, a.title, a.text, a.source, a.url, f.name AS feed, a.language, "
    "a.published, a.fetched_at, a.pruned_at FROM articles a LEFT JOIN feeds f ON f.id = a.feed_id"
)


def find_stored_article(
    db: Database, *, article_id: int | None = None, canonical_url: str | None = None
) -> StoredArticle | None:
    """The stored article with this id, or with this canonical URL (or URL as given)."""
    if article_id is not None:
        rows = list(db.query(f"{_ARTICLE} WHERE a.id = ?", [article_id]))
    else:
        rows = list(
            db.query(
                f"{_ARTICLE} WHERE a.canonical_url = :u OR a.url = :u ORDER BY a.id LIMIT 1",
                {"u": canonical_url},
            )
        )
    if not rows:
        return None
    row = rows[0]
    return StoredArticle(
        id=int(row["id"]),
        story_id=int(row["story_id"]),
        title=row["title"] or "",
        text=row["text"] or "",
        source=row["source"],
        url=row["url"],
        feed=row["feed"],
        language=row["language"],
        published=row["published"],
        fetched_at=row["fetched_at"],
        pruned_at=row["pruned_at"],
    )


def rule_record(db: Database, article: StoredArticle, rule: str) -> RuleRecord:
    """The matches of ``rule`` stored for the article, the rule's alerts on its story and
    what was held back of them for the article."""
    matches = db.execute(
        "SELECT count(*) FROM matches WHERE article_id = ? AND rule = ?", [article.id, rule]
    ).fetchone()[0]
    alerts = tuple(
        StoredAlert(
            id=int(r["id"]),
            article_id=int(r["article_id"]),
            channel=r["channel"],
            status=r["status"],
            follow_up=int(r["follow_up"]),
            created_at=r["created_at"],
            sent_at=r["sent_at"],
            last_error=r["last_error"],
        )
        for r in db.query(
            "SELECT id, article_id, channel, status, follow_up, created_at, sent_at, last_error "
            "FROM alerts WHERE story_id = ? AND rule = ? AND kind = 'article' "
            "ORDER BY follow_up, id",
            [article.story_id, rule],
        )
    )
    held = tuple(
        StoredHold(r["channel"], r["reason"])
        for r in db.query(
            "SELECT channel, reason FROM alert_suppressions WHERE article_id = ? AND rule = ? "
            "ORDER BY id",
            [article.id, rule],
        )
    )
    return RuleRecord(int(matches), alerts, held)
