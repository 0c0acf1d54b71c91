"""The one path every article takes into the store: normalise → dedup → store → match → alert.

Dedup: same URL or GUID is the same article (a sighting); otherwise the copy-detection layers
of :mod:`storage.dedup` decide whether it joins an existing story. A story's original is its
earliest-published article and moves when an earlier-published copy arrives late.

Used by the Scrapy item pipeline for crawled articles and by ``marsad import``; both get exactly
the same treatment. Three phases, in one transaction so that an alert is never written without
its article, nor an article without its alerts: read what the store knows
(:mod:`marsad.ingest.lookup`), plan what to write without the store (:mod:`marsad.ingest.plan`),
write the plan (:mod:`marsad.ingest.write`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from marsad.ingest.lookup import find_feed_name, find_known, find_story
from marsad.ingest.plan import plan_article, plan_sighting
from marsad.ingest.prepare import PreparedArticle, prepare_article
from marsad.ingest.write import IngestResult, write_article, write_sighting
from marsad.storage.transactions import write_transaction
from marsad.times import utc_now

if TYPE_CHECKING:
    from sqlite_utils import Database

    from marsad.alerts.matching import RuleIndex
    from marsad.storage.models import NewArticle

__all__ = ["IngestResult", "PreparedArticle", "ingest_article", "prepare_article"]


def ingest_article(
    db: Database,
    article: NewArticle,
    rules: RuleIndex,
    *,
    now: str | None = None,
    prepared: PreparedArticle | None = None,
    hold_alerts: str | None = None,
) -> IngestResult:
    """Store ``article`` unless it is already held, match it and queue its alerts.

    ``rules`` is compiled once by the caller (:func:`marsad.alerts.matching.compile_rules`); a
    rule's alerts go to the channels it names, unless held back: by ``hold_alerts``, a reason
    (``marsad import --no-alerts``), or by the rules' alert window. ``prepared`` is
    :func:`prepare_article` of this article if the caller computed it already.
    """
    now = now or utc_now()
    with write_transaction(db):
        known = find_known(db, article)
        if known is not None:
            return write_sighting(db, plan_sighting(article, known, now))
        ready = prepared or prepare_article(article)
        verdict = find_story(db, ready)
        feed = find_feed_name(db, article, rules)
        plan = plan_article(article, ready, verdict, rules, now, hold_alerts=hold_alerts, feed=feed)
        return write_article(db, plan)
