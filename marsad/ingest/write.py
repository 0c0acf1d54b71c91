"""Writing a plan (:mod:`marsad.ingest.plan`) to the store: the third phase of ingesting.

The caller holds the transaction: the article, its index rows, its story, its matches and its
alerts are written together or not at all. Only the store's answers to these writes are read
back (the ids it gives, the story's original after it is recounted).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from marsad.alerts.followups import (
    BREAKING,
    StoryAlert,
    StoryGrowth,
    lowest_threshold,
    story_alert_key,
    story_alerts,
)
from marsad.alerts.payload import AlertDraft, build_payload, idempotency_key
from marsad.storage import articles as store
from marsad.storage import lsh
from marsad.storage.dedup import place
from marsad.storage.followups import (
    story_matched_rules,
    story_outlets,
    story_outlets_within,
    story_reached,
)
from marsad.storage.identity import store_id
from marsad.storage.outbox import enqueue_alert
from marsad.storage.suppressions import record_suppression

if TYPE_CHECKING:
    from collections.abc import Sequence

    from sqlite_utils import Database

    from marsad.alerts.matching import Match
    from marsad.alerts.payload import Quote
    from marsad.alerts.rules import Rule
    from marsad.ingest.plan import ArticlePlan, PlannedAlert, SightingPlan
    from marsad.storage.models import DuplicateVerdict, NewArticle


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


def write_sighting(db: Database, plan: SightingPlan) -> IngestResult:
    store.record_sighting(db, plan.article_id, plan.feed_id, plan.url, plan.reason, plan.seen_at)
    return IngestResult(status="known", article_id=plan.article_id)


def write_article(db: Database, plan: ArticlePlan) -> IngestResult:
    article, prepared, verdict, now = plan.article, plan.prepared, plan.verdict, plan.fetched_at
    story_id = verdict.story_id if verdict else store.insert_story(db, article.title, now)
    article_id = store.insert_article(
        db,
        article,
        title_norm=prepared.title_norm,
        text_norm=prepared.text_norm,
        body_hash=prepared.body.body_hash,
        story_id=story_id,
        fetched_at=now,
        duplicate=verdict,
        provenance=prepared.body.provenance_json(),
    )
    lsh.index_article(db, article_id, prepared.body.fingerprint, prepared.body.shingles)
    duplicate_of: int | None = None
    if verdict is None:
        store.refresh_story(db, story_id, now)
    else:
        _join_story(db, article_id, verdict, article.published or now, now)
        duplicate_of = store.story_original(db, story_id)
        if duplicate_of == article_id:
            duplicate_of = verdict.original_id
    for q in plan.quotes:
        m = q.match
        store.insert_match(
            db,
            article_id,
            rule=m.rule,
            keyword=m.keyword,
            field=m.field,
            start=m.start,
            end=m.end,
            surface=m.surface,
            snippet=q.snippet,
        )
    queued = sum(_queue(db, alert, article_id, story_id, now) for alert in plan.alerts)
    queued += _queue_growth(db, plan, article_id, story_id)
    return IngestResult(
        status="copy" if verdict else "new",
        article_id=article_id,
        story_id=story_id,
        duplicate_of=duplicate_of,
        matches=plan.matches,
        alerts_queued=queued,
    )


def _join_story(
    db: Database, article_id: int, verdict: DuplicateVerdict, published: str, now: str
) -> None:
    """Add the article to its story (:func:`storage.dedup.place` says how): merge the stories
    it is the source of, take the original's place if it is the story's source, and list the
    stories it only quotes."""
    story_id = verdict.story_id
    placement = place(verdict, published)
    for other in placement.merge:
        store.merge_story(db, story_id, other, now)
    if placement.takes_original:
        store.set_story_original(db, story_id, article_id)
    store.refresh_story(db, story_id, now)
    for quoted in placement.quotes:
        share = float(quoted.evidence.get("original_share", quoted.similarity))
        store.record_story_quote(db, article_id, quoted.story_id, share, quoted.evidence)
    if placement.merge or placement.quotes:
        store.add_dup_evidence(
            db,
            article_id,
            {
                "merged": list(placement.merge),
                "also_quotes": [q.story_id for q in placement.quotes],
            },
        )
    if not placement.takes_original:
        return
    store.repoint_copies(db, story_id, article_id)
    store.explain_former_originals(
        db,
        story_id,
        verdict.similarity,
        {**verdict.evidence, "original_moved_to": article_id, "via": article_id},
    )


def _queue(db: Database, alert: PlannedAlert, article_id: int, story_id: int, now: str) -> bool:
    """Queue one alert; False when its story already has one for this rule and channel (a
    later copy of the story finds the alert queued and the INSERT is ignored), or when the
    plan held it back: that is recorded instead, and queues nothing, so a later, fresh copy
    of the story can still raise the story's alert."""
    rule = alert.draft.rule
    if alert.suppressed is not None:
        record_suppression(
            db,
            article_id=article_id,
            story_id=story_id,
            rule=rule,
            channel=alert.channel,
            reason=alert.suppressed,
            created_at=now,
        )
        return False
    queued = enqueue_alert(
        db,
        article_id=article_id,
        story_id=story_id,
        rule=rule,
        channel=alert.channel,
        idempotency_key=idempotency_key(store_id(db), story_id, rule, alert.channel),
        payload=build_payload(alert.draft, article_id=article_id, story_id=story_id),
        created_at=now,
    )
    return queued is not None


def _queue_growth(db: Database, plan: ArticlePlan, article_id: int, story_id: int) -> int:
    """Queue the follow-ups and breaking alerts the story's growth by this article raised;
    how many were new. Read after the article joined its story, in its transaction: none is
    lost to a crash, and none is queued twice."""
    if plan.growth_held is not None:
        return 0
    return queue_growth(
        db,
        plan.growing,
        GrowthCause(plan.article, plan.quotes, article_id),
        story_id,
        plan.fetched_at,
    )


@dataclass(frozen=True)
class GrowthCause:
    """The article that made a story grow (its alerts say so): as it arrived, its hits of
    every rule, and its id."""

    article: NewArticle
    quotes: tuple[Quote, ...]
    article_id: int


def queue_growth(
    db: Database, growing: Sequence[Rule], cause: GrowthCause, story_id: int, now: str
) -> int:
    """Queue what the story's growth raises for the rules with follow-ups or a breaking
    threshold (:func:`marsad.alerts.followups.story_alerts`), about ``cause``; how many were
    new. The caller holds the transaction that made the story grow (an article joining it,
    or a translation's story merged into its original's)."""
    lowest = lowest_threshold(growing)
    if lowest is None:
        return 0
    outlets = story_outlets(db, story_id)
    if outlets < lowest:  # most stories: one outlet, or too few to matter
        return 0
    breaking = [r.breaking for r in growing if r.breaking is not None]
    growth = StoryGrowth(
        outlets=outlets,
        reached=story_reached(db, story_id, [r.name for r in growing]),
        matched=story_matched_rules(db, story_id, [r.name for r in growing if r.breaking]),
        outlets_within=story_outlets_within(db, story_id, [b.within for b in breaking]),
    )
    return sum(
        _queue_story_alert(db, cause, due, story_id, now) for due in story_alerts(growing, growth)
    )


def _queue_story_alert(
    db: Database, cause: GrowthCause, due: StoryAlert, story_id: int, now: str
) -> bool:
    """One follow-up or breaking alert, about the article that made the story grow (with its
    matches of the rule, if it has any) and saying why it is sent."""
    quotes = tuple(q for q in cause.quotes if q.match.rule == due.rule)
    draft = AlertDraft(due.rule, cause.article, quotes)
    payload = build_payload(draft, article_id=cause.article_id, story_id=story_id)
    payload[due.kind] = due.payload()
    # A breaking alert is the rule's one alert on the story (its key, its slot); a follow-up
    # is one per threshold.
    breaking = due.kind == BREAKING
    queued = enqueue_alert(
        db,
        article_id=cause.article_id,
        story_id=story_id,
        rule=due.rule,
        channel=due.channel,
        follow_up=0 if breaking else due.threshold,
        idempotency_key=(
            idempotency_key(store_id(db), story_id, due.rule, due.channel)
            if breaking
            else story_alert_key(store_id(db), story_id, due)
        ),
        payload=payload,
        created_at=now,
    )
    return queued is not None
