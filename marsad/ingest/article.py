"""The one path every article takes into the store: normalise → dedup → store → match → alert.

Dedup: same URL or GUID is the same article (a sighting); otherwise the copy-detection layers
of :mod:`storage.dedup` decide whether it joins an existing story. A story's original is its
earliest-published article and moves when an earlier-published copy arrives late.

Used by the Scrapy item pipeline for crawled articles and by ``marsad import``; both get exactly
the same treatment. Everything for one article happens in one transaction, so an alert is never
written without its article, nor an article without its alerts.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlite_utils import Database

from marsad.alerts.matching import Match, RuleIndex, snippet
from marsad.alerts.payload import build_payload, idempotency_key
from marsad.alerts.rules import Rule
from marsad.arabic import normalize
from marsad.storage import articles as store
from marsad.storage import lsh
from marsad.storage.dedup import PreparedBody, body_hash, find_duplicate, prepare_body
from marsad.storage.models import DuplicateVerdict, NewArticle
from marsad.storage.outbox import enqueue_alert
from marsad.times import utc_now


@dataclass(frozen=True)
class IngestResult:
    """What happened to one article. ``status`` is "new", "copy" or "known".

    For a copy, ``duplicate_of`` is its story's original; when the copy was published earlier
    than that original and so took its place, it is the article it displaced."""

    status: str
    article_id: int
    story_id: int | None = None
    duplicate_of: int | None = None
    matches: tuple[Match, ...] = ()
    alerts_queued: int = 0


@dataclass(frozen=True)
class PreparedArticle:
    """The pure part of ingesting an article (normalised title and text, credits cut out,
    fingerprint): no store needed, so ``marsad import`` computes it in another process."""

    title_norm: str
    text_norm: str
    body: PreparedBody


__all__ = ["IngestResult", "PreparedArticle", "body_hash", "ingest_article", "prepare_article"]


def prepare_article(article: NewArticle) -> PreparedArticle:
    title_norm = normalize(article.title)
    return PreparedArticle(
        title_norm=title_norm,
        text_norm=normalize(article.text),
        body=prepare_body(article.text, title_norm),
    )


def ingest_article(
    db: Database,
    article: NewArticle,
    rules: RuleIndex,
    *,
    now: str | None = None,
    prepared: PreparedArticle | None = None,
) -> IngestResult:
    """Store ``article`` unless it is already held, match it and queue its alerts.

    ``rules`` is compiled once by the caller (:func:`marsad.alerts.matching.compile_rules`); a
    rule's alerts go to the channels it names. ``prepared`` is :func:`prepare_article` of this
    article if the caller computed it already.
    """
    now = now or utc_now()
    with db.atomic():
        known = store.find_article_by_url(db, article.canonical_url)
        reason = "url"
        if known is None and article.guid:
            known = store.find_article_by_guid(db, article.guid)
            reason = "guid"
        if known is not None:
            store.record_sighting(db, known, article.feed_id, article.url, reason, now)
            return IngestResult(status="known", article_id=known)

        ready = prepared or prepare_article(article)
        title_norm, text_norm, body = ready.title_norm, ready.text_norm, ready.body
        verdict = find_duplicate(db, body)
        story_id = verdict.story_id if verdict else store.insert_story(db, article.title, now)
        article_id = store.insert_article(
            db,
            article,
            title_norm=title_norm,
            text_norm=text_norm,
            body_hash=body.body_hash,
            story_id=story_id,
            fetched_at=now,
            duplicate=verdict,
            provenance=body.provenance_json(),
        )
        lsh.index_article(db, article_id, body.fingerprint)
        if verdict is None:
            store.refresh_story(db, story_id, now)
        else:
            _join_story(db, article_id, verdict, now)
        duplicate_of: int | None = None
        if verdict is not None:
            duplicate_of = store.story_original(db, story_id)
            if duplicate_of == article_id:
                duplicate_of = verdict.original_id

        matches = rules.match(article.title, article.text)
        for m in matches:
            source_text = article.title if m.field == "title" else article.text
            store.insert_match(
                db,
                article_id,
                rule=m.rule,
                keyword=m.keyword,
                field=m.field,
                start=m.start,
                end=m.end,
                surface=m.surface,
                snippet=snippet(source_text, m.start, m.end),
            )
        queued = _queue_alerts(db, article, article_id, story_id, rules.rules, matches, now)
        return IngestResult(
            status="copy" if verdict else "new",
            article_id=article_id,
            story_id=story_id,
            duplicate_of=duplicate_of,
            matches=tuple(matches),
            alerts_queued=queued,
        )


def _join_story(db: Database, article_id: int, verdict: DuplicateVerdict, now: str) -> None:
    """Add the article to its story; merge stories it proved to be one; move the original."""
    story_id = verdict.story_id
    for other in verdict.evidence.get("merge", ()):
        store.merge_story(db, story_id, int(other), now)
    store.refresh_story(db, story_id, now)
    original = store.story_original(db, story_id)
    if original is None or (original == verdict.original_id and "merge" not in verdict.evidence):
        return
    store.repoint_copies(db, story_id, original)
    store.explain_former_originals(
        db,
        story_id,
        verdict.similarity,
        {**verdict.evidence, "original_moved_to": original, "via": article_id},
    )


def _queue_alerts(
    db: Database,
    article: NewArticle,
    article_id: int,
    story_id: int,
    rules: Sequence[Rule],
    matches: Sequence[Match],
    now: str,
) -> int:
    queued = 0
    for rule in rules:
        hits = [m for m in matches if m.rule == rule.name]
        if not hits:
            continue
        channels = rule.channels
        payload = build_payload(
            article, article_id=article_id, story_id=story_id, rule=rule.name, matches=hits
        )
        for channel in channels:
            # One alert per story, rule and channel: a later copy of the story finds the
            # alert already queued and the INSERT is ignored.
            if enqueue_alert(
                db,
                article_id=article_id,
                story_id=story_id,
                rule=rule.name,
                channel=channel,
                idempotency_key=idempotency_key(story_id, rule.name, channel),
                payload=payload,
                created_at=now,
            ):
                queued += 1
    return queued
