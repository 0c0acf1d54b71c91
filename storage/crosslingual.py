"""Cross-lingual copies in the store (#17): articles' profiles (the "checked" mark), the
provenance of translations, and the one row saying whether linking is on.

Every statement of the linking pass, its worker, the outbox's hold and the prune step is here;
what they mean is decided in :mod:`marsad.crosslingual.linking` (pure) and driven by
:mod:`marsad.scheduler.crosslingual`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sqlite_utils import Database


@dataclass(frozen=True)
class LinkState:
    """The store's ``crosslingual_state`` row: linking on since ``active_since`` (None: off),
    an alert on an unchecked article held up to ``hold`` seconds, the window in seconds, and
    the last article whose script the auto mode looked at."""

    active_since: str | None
    hold: float
    window: float
    sniffed_through: int


@dataclass(frozen=True)
class ArticleText:
    """An article to check: what its profile is computed from."""

    article_id: int
    title: str
    text: str
    language: str | None
    fetched_at: str


# -- the state row -------------------------------------------------------------------------------


def read_state(db: Database) -> LinkState | None:
    rows = list(db.query("SELECT * FROM crosslingual_state WHERE id = 1"))
    if not rows:
        return None
    row = rows[0]
    return LinkState(
        active_since=row["active_since"],
        hold=float(row["hold_seconds"]),
        window=float(row["window_seconds"]),
        sniffed_through=int(row["sniffed_through"]),
    )


def write_state(db: Database, state: LinkState, now: str) -> None:
    db.execute(
        """
        INSERT INTO crosslingual_state
            (id, active_since, hold_seconds, window_seconds, sniffed_through, updated_at)
        VALUES (1, :active, :hold, :window, :sniffed, :now)
        ON CONFLICT (id) DO UPDATE SET
            active_since = excluded.active_since, hold_seconds = excluded.hold_seconds,
            window_seconds = excluded.window_seconds,
            sniffed_through = excluded.sniffed_through, updated_at = excluded.updated_at
        """,
        {
            "active": state.active_since,
            "hold": state.hold,
            "window": state.window,
            "sniffed": state.sniffed_through,
            "now": now,
        },
    )


def unheld_alert_sql() -> str:
    """The outbox claim's condition (on a row of ``alerts``, with ``:now``): not an alert held
    for its article's cross-lingual check. Held is: linking is on, the alert is about an
    article, was queued since linking went on and less than ``hold`` seconds ago, and its
    article has not been checked. With linking off (no state row, or ``active_since`` NULL)
    nothing is held."""
    return """NOT EXISTS (
        SELECT 1 FROM crosslingual_state xs
        WHERE xs.id = 1 AND xs.active_since IS NOT NULL AND xs.hold_seconds > 0
          AND alerts.article_id IS NOT NULL
          AND alerts.created_at >= xs.active_since
          AND alerts.created_at > strftime(
                '%Y-%m-%dT%H:%M:%SZ', :now, '-' || xs.hold_seconds || ' seconds')
          AND NOT EXISTS (
                SELECT 1 FROM crosslingual_profiles xp WHERE xp.article_id = alerts.article_id)
    )"""


# -- what to do ----------------------------------------------------------------------------------


def articles_to_sniff(db: Database, after_id: int, since: str, limit: int) -> list[ArticleText]:
    """Up to ``limit`` articles above ``after_id`` fetched since ``since``, for the auto mode
    to tell their script (the first 1,000 characters of the text are enough)."""
    rows = db.query(
        """
        SELECT id, title, substr(text, 1, 1000) AS text, language, fetched_at FROM articles
        WHERE id > ? AND fetched_at >= ? ORDER BY id LIMIT ?
        """,
        [after_id, since, limit],
    )
    return [_article_text(row) for row in rows]


def last_checked_id(db: Database) -> int:
    """The highest article id with a profile row (0: none)."""
    rows = db.query("SELECT coalesce(max(article_id), 0) AS m FROM crosslingual_profiles")
    return int(next(rows)["m"])


# An article to check: in the window, its body held, and no profile row of ``:model`` (one of
# an older model is checked again: its vectors are not comparable with today's).
_TO_CHECK = """
    a.fetched_at >= :since AND a.id > :after AND a.pruned_at IS NULL
    AND NOT EXISTS (
        SELECT 1 FROM crosslingual_profiles p WHERE p.article_id = a.id AND p.model = :model)
"""


def articles_to_check(
    db: Database, since: str, limit: int, after_id: int = 0, *, model: str
) -> list[ArticleText]:
    """Up to ``limit`` articles to check (fetched since ``since``, above ``after_id``, with no
    profile row of ``model``), oldest id first (each is compared with those checked before)."""
    rows = db.query(
        f"""
        SELECT a.id, a.title, a.text, a.language, a.fetched_at FROM articles a
        WHERE {_TO_CHECK} ORDER BY a.id LIMIT :limit
        """,
        {"since": since, "after": after_id, "model": model, "limit": limit},
    )
    return [_article_text(row) for row in rows]


def count_to_check(db: Database, since: str, after_id: int = 0, *, model: str) -> int:
    """How many articles :func:`articles_to_check` would give, without a limit."""
    row = next(
        db.query(
            f"SELECT count(*) AS n FROM articles a WHERE {_TO_CHECK}",
            {"since": since, "after": after_id, "model": model},
        )
    )
    return int(row["n"])


def _article_text(row: Mapping[str, Any]) -> ArticleText:
    return ArticleText(
        article_id=int(row["id"]),
        title=row["title"] or "",
        text=row["text"] or "",
        language=row["language"],
        fetched_at=row["fetched_at"],
    )


def has_other_language_profile(db: Database, since: str) -> bool:
    """Whether a non-Arabic article fetched since ``since`` has a profile."""
    rows = db.query(
        "SELECT EXISTS (SELECT 1 FROM crosslingual_profiles WHERE language = 'other' "
        "AND fetched_at >= ?) AS found",
        [since],
    )
    return bool(next(rows)["found"])


# -- profiles --------------------------------------------------------------------------------------


def save_profile(
    db: Database,
    article_id: int,
    row: Mapping[str, Any] | None,
    *,
    model: str,
    fetched_at: str,
    checked_at: str,
) -> bool:
    """Record that the article was checked by ``model``, with its profile (``row``: the
    columns :func:`marsad.crosslingual.profile.profile_to_row` gives; None: nothing to
    profile), in place of a row of another model. False when it was recorded already
    (another pass did it first)."""
    values = dict(row or {})
    # A row of another model gives way (its vectors are compared with none of today's).
    db.execute(
        "DELETE FROM crosslingual_profiles WHERE article_id = ? AND model != ?",
        [article_id, model],
    )
    cursor = db.execute(
        """
        INSERT OR IGNORE INTO crosslingual_profiles (
            article_id, language, model, doc_vector, paragraph_vectors, paragraph_count,
            anchors, run_on, fetched_at, checked_at
        ) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
        """,
        [
            article_id,
            values.get("language"),
            model,
            values.get("doc_vector"),
            values.get("paragraph_vectors"),
            int(values.get("paragraph_count") or 0),
            _anchors_text(values.get("anchors")),
            int(values.get("run_on") or 0),
            fetched_at,
            checked_at,
        ],
    )
    return bool(cursor.rowcount)


def _anchors_text(anchors: object) -> str:
    """The anchors column as the profile gives it (the engine's own encoding), "" for none."""
    if anchors is None:
        return ""
    if isinstance(anchors, str):
        return anchors
    return " ".join(str(a) for a in anchors)  # type: ignore[attr-defined]


def window_vectors(
    db: Database, *, after_seq: int, since: str, model: str
) -> list[tuple[int, int, str, str, bytes]]:
    """(seq, article id, language, fetched_at, doc vector) of the profiles written after
    ``after_seq`` for articles fetched since ``since`` by ``model``, in ``seq`` order: what
    the worker's in-memory index adds."""
    rows = db.execute(
        """
        SELECT seq, article_id, language, fetched_at, doc_vector FROM crosslingual_profiles
        WHERE seq > ? AND fetched_at >= ? AND model = ? AND doc_vector IS NOT NULL
        ORDER BY seq
        """,
        [after_seq, since, model],
    ).fetchall()
    return [(int(s), int(a), str(lang), str(f), bytes(v)) for s, a, lang, f, v in rows]


def profile_rows(db: Database, article_ids: Sequence[int]) -> dict[int, dict[str, Any]]:
    """The stored profile rows of these articles (those that have vectors)."""
    if not article_ids:
        return {}
    rows = db.query(
        """
        SELECT article_id, language, model, doc_vector, paragraph_vectors, paragraph_count,
               anchors, run_on
        FROM crosslingual_profiles
        WHERE article_id IN (SELECT value FROM json_each(?)) AND doc_vector IS NOT NULL
        """,
        [json.dumps(list(article_ids))],
    )
    found = {}
    for row in rows:
        found[int(row["article_id"])] = {
            **row,
            "doc_vector": bytes(row["doc_vector"]),
            "paragraph_vectors": bytes(row["paragraph_vectors"] or b""),
        }
    return found


def count_profiles(db: Database) -> dict[str, int]:
    """Profile rows by language ("none": checked, nothing to profile)."""
    rows = db.query(
        "SELECT coalesce(language, 'none') AS language, count(*) AS n "
        "FROM crosslingual_profiles GROUP BY 1"
    )
    return {row["language"]: int(row["n"]) for row in rows}


def prune_profiles(db: Database, before: str, limit: int) -> int:
    """Remove up to ``limit`` profile rows of articles fetched before ``before`` (out of the
    window: they are no longer candidates); how many."""
    cursor = db.execute(
        """
        DELETE FROM crosslingual_profiles WHERE seq IN (
            SELECT seq FROM crosslingual_profiles WHERE fetched_at < ? ORDER BY seq LIMIT ?
        )
        """,
        [before, limit],
    )
    return int(cursor.rowcount)


def count_due_profiles(db: Database, before: str) -> int:
    row = next(
        db.query("SELECT count(*) AS n FROM crosslingual_profiles WHERE fetched_at < ?", [before])
    )
    return int(row["n"])


# -- provenance ----------------------------------------------------------------------------------


def record_link(
    db: Database,
    *,
    translation_id: int,
    original_id: int,
    score: float,
    evidence: Mapping[str, Any],
    story_id: int,
    merged_story_id: int | None,
    linked_at: str,
) -> bool:
    """Record that ``translation_id`` was translated from ``original_id``; False when the
    translation has an original already (an Arabic article is linked once)."""
    cursor = db.execute(
        """
        INSERT OR IGNORE INTO crosslingual_links (
            translation_id, original_id, score, evidence, story_id, merged_story_id, linked_at
        ) VALUES (?, ?, ?, ?, ?, ?, ?)
        """,
        [
            translation_id,
            original_id,
            score,
            json.dumps(evidence, ensure_ascii=False),
            story_id,
            merged_story_id,
            linked_at,
        ],
    )
    return bool(cursor.rowcount)


def has_original(db: Database, translation_id: int) -> bool:
    rows = db.query(
        "SELECT EXISTS (SELECT 1 FROM crosslingual_links WHERE translation_id = ?) AS found",
        [translation_id],
    )
    return bool(next(rows)["found"])


_LINK_COLUMNS = """
    l.id, l.translation_id, l.original_id, l.score, l.evidence, l.linked_at,
    l.merged_story_id,
    t.url AS translation_url, t.source AS translation_source, t.title AS translation_title,
    o.url AS original_url, o.source AS original_source, o.title AS original_title,
    o.language AS original_language
"""


def _link_row(row: Mapping[str, Any]) -> dict[str, Any]:
    return {**row, "evidence": json.loads(row["evidence"])}


def links_of_story(db: Database, story_id: int) -> list[dict[str, Any]]:
    """The translations linked in the story (by the articles it holds now), oldest link
    first, each with both articles' URL, source and title."""
    rows = db.query(
        f"""
        SELECT {_LINK_COLUMNS} FROM crosslingual_links l
        JOIN articles t ON t.id = l.translation_id
        JOIN articles o ON o.id = l.original_id
        WHERE t.story_id = ? ORDER BY l.id
        """,
        [story_id],
    )
    return [_link_row(row) for row in rows]


def links_of_article(db: Database, article_id: int) -> list[dict[str, Any]]:
    """The links the article is part of: its original (it is the translation) or the
    translations made of it."""
    rows = db.query(
        f"""
        SELECT {_LINK_COLUMNS} FROM crosslingual_links l
        JOIN articles t ON t.id = l.translation_id
        JOIN articles o ON o.id = l.original_id
        WHERE l.translation_id = :a OR l.original_id = :a ORDER BY l.id
        """,
        {"a": article_id},
    )
    return [_link_row(row) for row in rows]


def count_links(db: Database) -> int:
    return int(next(db.query("SELECT count(*) AS n FROM crosslingual_links"))["n"])


def pending_story_alerts(db: Database, story_id: int) -> list[tuple[int, int]]:
    """(alert id, article id) of the story's alerts not sent yet."""
    rows = db.query(
        "SELECT id, article_id FROM alerts WHERE story_id = ? AND status = 'pending' "
        "AND article_id IS NOT NULL ORDER BY id",
        [story_id],
    )
    return [(int(r["id"]), int(r["article_id"])) for r in rows]


def set_alert_translated_from(db: Database, alert_id: int, value: Mapping[str, Any]) -> None:
    """Put ``value`` in a pending alert's payload as ``translated_from``."""
    db.execute(
        "UPDATE alerts SET payload = json_set(payload, '$.translated_from', json(?)) "
        "WHERE id = ? AND status = 'pending'",
        [json.dumps(value, ensure_ascii=False), alert_id],
    )


# -- how linking goes (marsad status) ------------------------------------------------------------


def count_waiting_for_check(db: Database, now: str) -> int:
    """Pending alerts the outbox holds now for their article's cross-lingual check."""
    row = next(
        db.query(
            f"SELECT count(*) AS n FROM alerts WHERE status = 'pending' "
            f"AND NOT ({unheld_alert_sql()})",
            {"now": now},
        )
    )
    return int(row["n"])
