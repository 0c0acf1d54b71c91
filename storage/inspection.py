"""What a person asks of the store, as library calls: the ``marsad search|show|alerts retry|stats``
commands are thin over these, and so is anything else that wants the same answers.

Each returns plain rows (dicts) ready to print or dump as JSON, and raises
:class:`InspectionError` with a message for the person when the question has no answer.
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from marsad.storage import queries
from marsad.storage.crosslingual import links_of_article, links_of_story
from marsad.storage.outbox import requeue_alert
from marsad.storage.search import (
    ParsedQuery,
    SearchSyntaxError,
    describe_sqlite_error,
    forms_in_index,
    parse_query,
    snippet,
    term_hits,
)
from marsad.storage.transactions import write_transaction
from marsad.times import to_iso
from marsad.urls import canonical_url

if TYPE_CHECKING:
    from sqlite_utils import Database


class InspectionError(ValueError):
    """The question cannot be answered; the message says why, for a person."""


def search(
    db: Database,
    query: str,
    *,
    source: str | None = None,
    since: str | None = None,
    until: str | None = None,
    rule: str | None = None,
    limit: int = 20,
) -> list[dict[str, Any]]:
    """Articles matching ``query`` (see :func:`storage.search.parse_query`), best first, each
    with a ``snippet`` in the original spelling and the ``hits`` (spans) inside it.

    An Arabic word finds the forms a watch rule with that keyword matches: its forms in the
    index, then, for a query without OR, each article checked by the rule analysis itself
    (the index folds ة into ه, so مجموعه "his total" is in it under مجموعة)."""
    try:
        parsed = parse_query(query)
    except SearchSyntaxError as exc:
        raise InspectionError(str(exc)) from None
    try:
        expression = parsed.fts(forms_in_index(parsed, lambda a, b: queries.index_words(db, a, b)))
        rows = _checked_rows(
            db, parsed, expression, limit, source=source, since=since, until=until, rule=rule
        )
    except sqlite3.Error as exc:
        raise InspectionError(describe_sqlite_error(exc)) from None
    results = []
    for row in rows:
        found = snippet(row["text"] or row["title"], parsed.terms)
        result = {k: v for k, v in row.items() if k != "text"}
        result["snippet"] = found.text
        result["hits"] = [list(hit) for hit in found.hits]
        results.append(result)
    return results


# Candidates read per page while checking, and how many pages at most: a bound on the work a
# query whose index words mostly turn out to be other words can cause.
_PAGE_FACTOR, _MAX_PAGES = 3, 20


def _checked_rows(
    db: Database,
    parsed: ParsedQuery,
    expression: str,
    limit: int,
    *,
    source: str | None,
    since: str | None,
    until: str | None,
    rule: str | None,
) -> list[dict[str, Any]]:
    """Up to ``limit`` rows of the FTS search, best first; with analysed terms (and one group
    of terms), only the articles where each of them has a form the rule analysis accepts."""

    def page(size: int, offset: int) -> list[dict[str, Any]]:
        return queries.search_articles(
            db,
            expression,
            source=source,
            since=since,
            until=until,
            rule=rule,
            limit=size,
            offset=offset,
        )

    terms = parsed.analysed if len(parsed.groups) == 1 else ()
    if not terms:
        return page(limit, 0)
    size = max(limit * _PAGE_FACTOR, 20)
    kept: list[dict[str, Any]] = []
    for number in range(_MAX_PAGES):
        rows = page(size, number * size)
        for row in rows:
            title, body = term_hits(row["title"], terms), term_hits(row["text"], terms)
            if all(title[t] or body[t] for t in terms):
                kept.append(row)
                if len(kept) == limit:
                    return kept
        if len(rows) < size:
            break
    return kept


def show(db: Database, target: str, *, is_story: bool = False) -> dict[str, Any]:
    """One article (by id or URL, any spelling of it) or story (by id) in full: the article,
    its story, the story's articles, matches and alerts; ``merged_from``, the stories that
    became part of it; ``quoted_by``, articles of other stories that also quote it;
    ``also_quotes``, the other stories the article (or, for a story, its articles) also quote.

    A merged story's number shows the story it is part of now."""
    article: dict[str, Any] | None = None
    if is_story:
        story_id = int(target) if target.isdigit() else None
        if story_id is not None:
            story_id = queries.story_merged_into(db, story_id) or story_id
        story = queries.get_story(db, story_id) if story_id is not None else None
        if story is None:
            raise InspectionError(f"no story {target}")
        if story["original_id"] is not None:
            article = queries.get_article(db, story["original_id"])
    else:
        article_id = int(target) if target.isdigit() else _article_id_by_url(db, target)
        article = queries.get_article(db, article_id) if article_id is not None else None
        if article is None:
            raise InspectionError(f"no article {target}")
        story = queries.get_story(db, article["story_id"])
        if story is None:
            raise InspectionError(f"article {target} points at a missing story")
    story_id = story["story_id"]
    return {
        "article": article,
        "story": story,
        "articles": queries.story_articles(db, story_id),
        "matches": queries.story_matches(db, story_id),
        "alerts": queries.story_alerts(db, story_id),
        "merged_from": queries.stories_merged_into(db, story_id),
        "quoted_by": queries.story_quoted_by(db, story_id),
        "also_quotes": (
            queries.story_also_quotes(db, story_id)
            if is_story
            else queries.article_also_quotes(db, article["id"])
            if article is not None
            else []
        ),
        # Cross-lingual provenance (#17): the article's original or its translations; for a
        # story, every translation it holds.
        "translations": (
            links_of_article(db, article["id"])
            if article is not None and not is_story
            else links_of_story(db, story_id)
        ),
    }


def _article_id_by_url(db: Database, url: str) -> int | None:
    try:
        canonical = canonical_url(url)
    except ValueError:
        canonical = url
    return queries.find_article_id(db, url=url, canonical_url=canonical)


def retry_alert(db: Database, alert_id: int, now: str) -> dict[str, Any]:
    """Re-queue a dead or pending alert for an immediate attempt; its row as it was before."""
    alert = queries.get_alert(db, alert_id)
    if alert is None:
        raise InspectionError(f"no alert {alert_id}")
    if alert["status"] == "sent":
        raise InspectionError(
            f"alert {alert_id} was already sent at {alert['sent_at']}; nothing to retry"
        )
    superseded_by = queries.superseding_alert(db, alert_id)
    if superseded_by is not None:
        raise InspectionError(
            f"alert {alert_id} was superseded by alert {superseded_by}, sent about the same "
            "story (their stories were merged); nothing to retry"
        )
    with write_transaction(db):
        requeued = requeue_alert(db, alert_id, now)
    if not requeued:
        raise InspectionError(f"alert {alert_id} could not be re-queued")
    return alert


def stats(db: Database, *, days: int, now: datetime) -> dict[str, Any]:
    """Totals over the store and per-day counts (UTC) for the ``days`` days up to ``now``."""
    start = now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return {
        "totals": queries.store_totals(db),
        "per_day": queries.counts_per_day(db, to_iso(start - timedelta(days=days - 1))),
    }
