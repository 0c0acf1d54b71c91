"""Articles, stories, sightings and rule matches."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from typing import Any, NamedTuple

from sqlite_utils import Database

from marsad.storage.models import DuplicateVerdict, NewArticle


class StoryHead(NamedTuple):
    """A story and its original: the original's id, publication time (fetch time if
    undated) and body hash; how many articles the story holds."""

    story_id: int
    original_id: int
    published: str
    body_hash: str
    article_count: int


def find_article_by_url(db: Database, canonical_url: str) -> int | None:
    rows = list(db.query("SELECT id FROM articles WHERE canonical_url = ?", [canonical_url]))
    return int(rows[0]["id"]) if rows else None


def find_article_by_guid(db: Database, guid: str) -> int | None:
    rows = list(db.query("SELECT id FROM articles WHERE guid = ? LIMIT 1", [guid]))
    return int(rows[0]["id"]) if rows else None


def find_original_by_body_hash(db: Database, body_hash: str) -> tuple[int, int] | None:
    """The earliest stored article with this normalised-body hash, as (id, story_id)."""
    rows = list(
        db.query(
            "SELECT id, story_id FROM articles WHERE body_hash = ? ORDER BY id LIMIT 1",
            [body_hash],
        )
    )
    return (int(rows[0]["id"]), int(rows[0]["story_id"])) if rows else None


def known_urls(db: Database, canonical_urls: Sequence[str]) -> set[str]:
    """Which of these canonical URLs the store already holds (so they need not be fetched)."""
    found: set[str] = set()
    for start in range(0, len(canonical_urls), 500):
        chunk = list(canonical_urls[start : start + 500])
        marks = ",".join("?" * len(chunk))
        found.update(
            row["canonical_url"]
            for row in db.query(
                f"SELECT canonical_url FROM articles WHERE canonical_url IN ({marks})", chunk
            )
        )
    return found


def known_guids(db: Database, guids: Sequence[str]) -> set[str]:
    found: set[str] = set()
    for start in range(0, len(guids), 500):
        chunk = list(guids[start : start + 500])
        marks = ",".join("?" * len(chunk))
        found.update(
            row["guid"]
            for row in db.query(f"SELECT guid FROM articles WHERE guid IN ({marks})", chunk)
        )
    return found


def insert_story(db: Database, title: str, seen_at: str) -> int:
    cursor = db.execute(
        "INSERT INTO stories (title, first_seen, last_seen, article_count, outlet_count) "
        "VALUES (?, ?, ?, 0, 0)",
        [title, seen_at, seen_at],
    )
    return int(cursor.lastrowid or 0)


def insert_article(
    db: Database,
    article: NewArticle,
    *,
    title_norm: str,
    text_norm: str,
    body_hash: str,
    story_id: int,
    fetched_at: str,
    duplicate: DuplicateVerdict | None = None,
    provenance: str | None = None,
) -> int:
    cursor = db.execute(
        """
        INSERT INTO articles (
            canonical_url, url, guid, feed_id, source, title, text, title_norm, text_norm,
            author, published, language, extraction, body_hash, story_id,
            duplicate_of, similarity, dup_evidence, fetched_at, provenance
        ) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
        """,
        [
            article.canonical_url,
            article.url,
            article.guid,
            article.feed_id,
            article.source,
            article.title,
            article.text,
            title_norm,
            text_norm,
            article.author,
            article.published,
            article.language,
            article.extraction,
            body_hash,
            story_id,
            duplicate.original_id if duplicate else None,
            duplicate.similarity if duplicate else None,
            json.dumps(duplicate.evidence, ensure_ascii=False) if duplicate else None,
            fetched_at,
            provenance,
        ],
    )
    return int(cursor.lastrowid or 0)


def set_body_derived(
    db: Database, article_id: int, *, body_hash: str, provenance: str | None
) -> None:
    """Store what is derived from an article's body, for an article stored without it."""
    db.execute(
        "UPDATE articles SET body_hash = ?, provenance = ? WHERE id = ?",
        [body_hash, provenance, article_id],
    )


def refresh_story(db: Database, story_id: int, seen_at: str | None = None) -> None:
    """Recount a story's articles and outlets and list its sources (earliest first); a story
    without an original yet (just created) gets its earliest-published article.

    The original is otherwise kept: it moves only by :func:`set_story_original`, when the
    ingest path finds an earlier article that holds the original's whole text (an excerpt
    published earlier does not take the place of the text it was cut from)."""
    db.execute(
        """
        UPDATE stories SET
            article_count = (SELECT count(*) FROM articles WHERE story_id = :s),
            outlet_count = (SELECT count(DISTINCT source) FROM articles WHERE story_id = :s),
            sources = (SELECT json_group_array(source) FROM (
                SELECT source FROM articles WHERE story_id = :s
                GROUP BY source ORDER BY min(coalesce(published, fetched_at)), min(id)
            )),
            original_id = coalesce(original_id, (
                SELECT id FROM articles WHERE story_id = :s
                ORDER BY coalesce(published, fetched_at), fetched_at, id LIMIT 1
            )),
            last_seen = max(last_seen, coalesce(:seen, last_seen))
        WHERE id = :s
        """,
        {"s": story_id, "seen": seen_at},
    )
    # The story is headed by its original's title, which moves with the original.
    db.execute(
        "UPDATE stories SET title = (SELECT title FROM articles WHERE id = stories.original_id) "
        "WHERE id = ? AND original_id IS NOT NULL",
        [story_id],
    )


def set_story_original(db: Database, story_id: int, article_id: int) -> None:
    db.execute("UPDATE stories SET original_id = ? WHERE id = ?", [article_id, story_id])


def story_heads(db: Database, article_ids: Sequence[int]) -> dict[int, StoryHead]:
    """For each article, its story and that story's original."""
    if not article_ids:
        return {}
    marks = ",".join("?" * len(article_ids))
    rows = db.query(
        f"""
        SELECT a.id, a.story_id, s.original_id,
               coalesce(o.published, o.fetched_at) AS published, o.body_hash, s.article_count
        FROM articles a
        JOIN stories s ON s.id = a.story_id
        JOIN articles o ON o.id = s.original_id
        WHERE a.id IN ({marks})
        """,
        list(article_ids),
    )
    return {
        int(r["id"]): StoryHead(
            int(r["story_id"]),
            int(r["original_id"]),
            r["published"],
            r["body_hash"],
            int(r["article_count"]),
        )
        for r in rows
    }


def story_original(db: Database, story_id: int) -> int | None:
    rows = list(db.query("SELECT original_id FROM stories WHERE id = ?", [story_id]))
    return int(rows[0]["original_id"]) if rows and rows[0]["original_id"] is not None else None


def repoint_copies(db: Database, story_id: int, original_id: int) -> None:
    """Make every other article of the story a copy of ``original_id`` (after the original
    moved); rows already pointing there are not rewritten."""
    db.execute(
        "UPDATE articles SET duplicate_of = :o WHERE story_id = :s AND id != :o "
        "AND duplicate_of IS NOT :o",
        {"s": story_id, "o": original_id},
    )
    db.execute(
        "UPDATE articles SET duplicate_of = NULL WHERE id = ? AND duplicate_of IS NOT NULL",
        [original_id],
    )


def explain_former_originals(
    db: Database, story_id: int, similarity: float, evidence: dict[str, Any]
) -> None:
    """Give a copy that was an original until now (so has no evidence yet) the evidence of the
    article that displaced it."""
    db.execute(
        "UPDATE articles SET similarity = ?, dup_evidence = ? "
        "WHERE story_id = ? AND duplicate_of IS NOT NULL AND dup_evidence IS NULL",
        [similarity, json.dumps(evidence, ensure_ascii=False), story_id],
    )


def add_dup_evidence(db: Database, article_id: int, extra: dict[str, Any]) -> None:
    """Add keys to an article's copy-detection evidence."""
    db.execute(
        "UPDATE articles SET dup_evidence = json_patch(coalesce(dup_evidence, '{}'), ?) "
        "WHERE id = ?",
        [json.dumps(extra, ensure_ascii=False), article_id],
    )


def merge_story(db: Database, keep: int, other: int, seen_at: str | None = None) -> None:
    """Make story ``other`` part of ``keep``: its articles, alerts, held-back alerts and
    quotes move there; ``other`` is left empty and marked, and so is every story that had been
    merged into it (so ``merged_into`` always names a story that holds articles).

    The caller recounts ``keep`` (:func:`refresh_story`)."""
    db.execute("UPDATE articles SET story_id = ? WHERE story_id = ?", [keep, other])
    move_alerts(db, keep, other)
    db.execute("UPDATE alert_suppressions SET story_id = ? WHERE story_id = ?", [keep, other])
    # An article quoting both stories quotes one now; one quoting the story it is part of
    # quotes nothing.
    db.execute("UPDATE OR IGNORE story_quotes SET story_id = ? WHERE story_id = ?", [keep, other])
    db.execute("DELETE FROM story_quotes WHERE story_id = ?", [other])
    db.execute(
        "DELETE FROM story_quotes WHERE story_id = :k "
        "AND article_id IN (SELECT id FROM articles WHERE story_id = :k)",
        {"k": keep},
    )
    db.execute(
        "UPDATE stories SET merged_into = :k, article_count = 0, outlet_count = 0, "
        "sources = '[]', last_seen = max(last_seen, coalesce(:seen, last_seen)) WHERE id = :o",
        {"k": keep, "o": other, "seen": seen_at},
    )
    db.execute("UPDATE stories SET merged_into = ? WHERE merged_into = ?", [keep, other])


def move_alerts(db: Database, keep: int, other: int) -> None:
    """Move story ``other``'s alerts to ``keep``, one per rule, channel and follow-up.

    Where both stories have one, ``keep``'s stays, unless only ``other``'s was sent: the
    channel heard of the story once and must not hear of it again, so the one not sent is
    marked dead with the alert that supersedes it (it keeps its row and delivery attempts; a
    pass sending it at this moment finds it no longer pending). A sent alert that cannot move
    stays where it was, as history: the inspection views show it under the story it merged
    into. Moved alerts not sent yet name their new story in their payload."""
    for row in db.query(
        """
        SELECT o.id AS o_id, o.status AS o_status, k.id AS k_id, k.status AS k_status
        FROM alerts o JOIN alerts k
          ON k.story_id = :k AND k.rule = o.rule AND k.channel = o.channel
             AND k.follow_up = o.follow_up
        WHERE o.story_id = :o
        """,
        {"k": keep, "o": other},
    ):
        if row["o_status"] != "sent":
            _supersede(db, row["o_id"], row["k_id"], keep, other)
        elif row["k_status"] != "sent":
            _supersede(db, row["k_id"], row["o_id"], keep, other)
    db.execute(
        """
        UPDATE alerts SET
            story_id = :k,
            payload = CASE WHEN status = 'sent' THEN payload
                           ELSE json_set(payload, '$.article.story_id', :k) END
        WHERE story_id = :o AND NOT EXISTS (
            SELECT 1 FROM alerts x
            WHERE x.story_id = :k AND x.rule = alerts.rule AND x.channel = alerts.channel
              AND x.follow_up = alerts.follow_up
        )
        """,
        {"k": keep, "o": other},
    )


def _supersede(db: Database, alert_id: int, by: int, keep: int, other: int) -> None:
    # dead_noticed: a superseded alert did not fail to be delivered (the kept story's alert
    # tells its story): no dead-letters health alert is raised for it.
    db.execute(
        "UPDATE alerts SET status = 'dead', last_error = ?, dead_noticed = 1 "
        "WHERE id = ? AND status != 'sent'",
        [f"superseded by alert {by}: story {other} was merged into story {keep}", alert_id],
    )


def merged_stories(db: Database) -> list[tuple[int, int]]:
    """(story, the story holding its articles now) for every merged story, following chains
    of merges (earlier versions did not shorten them)."""
    rows = db.query(
        """
        WITH RECURSIVE chain(id, target, depth) AS (
            SELECT id, merged_into, 1 FROM stories WHERE merged_into IS NOT NULL
            UNION ALL
            SELECT c.id, s.merged_into, c.depth + 1 FROM chain c
            JOIN stories s ON s.id = c.target
            WHERE s.merged_into IS NOT NULL AND c.depth < 64
        )
        SELECT c.id, c.target FROM chain c JOIN stories s ON s.id = c.target
        WHERE s.merged_into IS NULL
        ORDER BY c.id
        """
    )
    return [(int(r["id"]), int(r["target"])) for r in rows]


def record_story_quote(
    db: Database, article_id: int, story_id: int, similarity: float, evidence: dict[str, Any]
) -> None:
    """Record that the article also quotes story ``story_id`` (which it did not join)."""
    db.execute(
        "INSERT OR REPLACE INTO story_quotes (article_id, story_id, similarity, evidence) "
        "VALUES (?, ?, ?, ?)",
        [article_id, story_id, similarity, json.dumps(evidence, ensure_ascii=False)],
    )


def article_bodies(db: Database, article_ids: Sequence[int]) -> dict[int, str]:
    """The text of each article, for verifying a near-duplicate against one whose shingle set
    is not stored (storage/shingles.py)."""
    if not article_ids:
        return {}
    marks = ",".join("?" * len(article_ids))
    rows = db.query(f"SELECT id, text FROM articles WHERE id IN ({marks})", list(article_ids))
    return {int(r["id"]): r["text"] for r in rows}


def record_sighting(
    db: Database, article_id: int, feed_id: int | None, url: str, reason: str, seen_at: str
) -> None:
    db.execute(
        "INSERT INTO sightings (article_id, feed_id, url, reason, seen_at) VALUES (?, ?, ?, ?, ?)",
        [article_id, feed_id, url, reason, seen_at],
    )


def insert_match(
    db: Database,
    article_id: int,
    *,
    rule: str,
    keyword: str,
    field: str,
    start: int,
    end: int,
    surface: str,
    snippet: str,
) -> None:
    db.execute(
        'INSERT INTO matches (article_id, rule, keyword, field, start, "end", surface, snippet) '
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        [article_id, rule, keyword, field, start, end, surface, snippet],
    )


def iter_articles_for_export(db: Database) -> Iterator[dict[str, Any]]:
    yield from db.query(
        """
        SELECT id, url, canonical_url, guid, source, title, text, author, published, language,
               extraction, story_id, duplicate_of, similarity, fetched_at
        FROM articles ORDER BY id
        """
    )
