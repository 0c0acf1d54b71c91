"""The one path every article takes into the store: normalise → dedup → store → match → alert.

Used by the Scrapy item pipeline for crawled articles and by ``marsad import``; both get exactly
the same treatment. Everything for one article happens in one transaction, so an alert is never
written without its article, nor an article without its alerts.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from sqlite_utils import Database

from alerts.matching import Match, match_article, snippet
from alerts.payload import build_payload, idempotency_key
from alerts.rules import Rule
from arabic import normalize
from storage import articles as store
from storage.db import utc_now
from storage.dedup import find_duplicate
from storage.models import NewArticle
from storage.outbox import enqueue_alert


@dataclass(frozen=True)
class IngestResult:
    """What happened to one article. ``status`` is "new", "copy" or "known"."""

    status: str
    article_id: int
    story_id: int | None = None
    duplicate_of: int | None = None
    matches: tuple[Match, ...] = ()
    alerts_queued: int = 0


def body_hash(text_norm: str, title_norm: str) -> str:
    # An article with no body (a feed entry with a title only) is identified by its title.
    basis = text_norm or f"title:{title_norm}"
    return hashlib.sha256(basis.encode("utf-8")).hexdigest()


def ingest_article(
    db: Database,
    article: NewArticle,
    rules: Sequence[Rule],
    *,
    now: str | None = None,
    rule_channels: Mapping[str, Sequence[str]] | None = None,
) -> IngestResult:
    """Store ``article`` unless it is already held, match it and queue its alerts.

    ``rule_channels`` overrides each rule's own channel list (the daemon drops channels that are
    not configured); by default a rule's alerts go to the channels it names.
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

        title_norm = normalize(article.title)
        text_norm = normalize(article.text)
        digest = body_hash(text_norm, title_norm)
        verdict = find_duplicate(db, title_norm=title_norm, text_norm=text_norm, body_hash=digest)
        story_id = verdict.story_id if verdict else store.insert_story(db, article.title, now)
        article_id = store.insert_article(
            db,
            article,
            title_norm=title_norm,
            text_norm=text_norm,
            body_hash=digest,
            story_id=story_id,
            fetched_at=now,
            duplicate=verdict,
        )
        store.refresh_story(db, story_id, now)

        matches = match_article(rules, article.title, article.text)
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
        queued = _queue_alerts(
            db, article, article_id, story_id, rules, matches, now, rule_channels
        )
        return IngestResult(
            status="copy" if verdict else "new",
            article_id=article_id,
            story_id=story_id,
            duplicate_of=verdict.original_id if verdict else None,
            matches=tuple(matches),
            alerts_queued=queued,
        )


def _queue_alerts(
    db: Database,
    article: NewArticle,
    article_id: int,
    story_id: int,
    rules: Sequence[Rule],
    matches: Sequence[Match],
    now: str,
    rule_channels: Mapping[str, Sequence[str]] | None,
) -> int:
    queued = 0
    for rule in rules:
        hits = [m for m in matches if m.rule == rule.name]
        if not hits:
            continue
        channels = rule_channels.get(rule.name, ()) if rule_channels else rule.channels
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
