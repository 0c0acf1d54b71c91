"""What ingesting an article will write, decided without the store: the second phase.

Given the article, its preparation and what the store knows about it (:mod:`marsad.ingest.lookup`),
:func:`plan_article` decides everything that does not need an id the store has yet to give: the
story verdict, the rule matches with their snippets (cut once, for the ``matches`` table and for
the alerts alike) and the alerts per rule and channel. Pure, so tested on literals.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from marsad.alerts.payload import AlertDraft, Quote, quote

if TYPE_CHECKING:
    from marsad.alerts.matching import Match, RuleIndex
    from marsad.ingest.lookup import Known
    from marsad.ingest.prepare import PreparedArticle
    from marsad.storage.models import DuplicateVerdict, NewArticle


@dataclass(frozen=True)
class SightingPlan:
    """The article is held already: record that a feed listed it again."""

    article_id: int
    feed_id: int | None
    url: str
    reason: str
    seen_at: str


@dataclass(frozen=True)
class PlannedAlert:
    """One alert to queue: its channel and its content (shared by the rule's channels)."""

    channel: str
    draft: AlertDraft


@dataclass(frozen=True)
class ArticlePlan:
    """A new article to store: in a story of its own (``verdict`` None) or in the story the
    verdict names; its matches, each with its snippet; its alerts, rule by rule, each rule's
    channels in order."""

    article: NewArticle
    prepared: PreparedArticle
    verdict: DuplicateVerdict | None
    quotes: tuple[Quote, ...]
    alerts: tuple[PlannedAlert, ...]
    fetched_at: str

    @property
    def matches(self) -> tuple[Match, ...]:
        return tuple(q.match for q in self.quotes)


def plan_sighting(article: NewArticle, known: Known, now: str) -> SightingPlan:
    return SightingPlan(known.article_id, article.feed_id, article.url, known.reason, now)


def plan_article(
    article: NewArticle,
    prepared: PreparedArticle,
    verdict: DuplicateVerdict | None,
    rules: RuleIndex,
    now: str,
) -> ArticlePlan:
    """Everything storing ``article`` writes, but for the ids the store gives at write time."""
    quotes = quote(rules.match(article.title, article.text), article.title, article.text)
    alerts: list[PlannedAlert] = []
    for rule in rules.rules:
        mine = tuple(q for q in quotes if q.match.rule == rule.name)
        if not mine:
            continue
        draft = AlertDraft(rule.name, article, mine)
        alerts.extend(PlannedAlert(channel, draft) for channel in rule.channels)
    return ArticlePlan(
        article=article,
        prepared=prepared,
        verdict=verdict,
        quotes=quotes,
        alerts=tuple(alerts),
        fetched_at=now,
    )
