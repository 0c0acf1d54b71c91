"""What ingesting an article will write, decided without the store: the second phase.

Given the article, its preparation and what the store knows about it (:mod:`marsad.ingest.lookup`),
:func:`plan_article` decides everything that does not need an id the store has yet to give: the
story verdict, the rule matches with their snippets (cut once, for the ``matches`` table and for
the alerts alike) and the alerts per rule and channel, each either to be queued or held back
with the reason (:func:`alert_hold`). Pure, so tested on literals.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING

from marsad.alerts.payload import AlertDraft, Quote, quote
from marsad.alerts.rules import Origin
from marsad.times import format_duration, from_iso

if TYPE_CHECKING:
    from marsad.alerts.config import AlertsConfig
    from marsad.alerts.matching import Match, RuleIndex
    from marsad.alerts.rules import Rule
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
    """One alert of a rule that fired: its channel and its content (shared by the rule's
    channels). Queued unless ``suppressed`` says why it is held back: then the store records
    that it was not raised, and a later, fresh copy of the story may still raise it."""

    channel: str
    draft: AlertDraft
    suppressed: str | None = None


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
    # The rules whose follow-ups and breaking alerts the story's growth may raise, unless
    # ``growth_held`` says why this article raises none (as its own alerts are held back).
    growing: tuple[Rule, ...] = ()
    growth_held: str | None = None

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
    *,
    hold_alerts: str | None = None,
    feed: str | None = None,
) -> ArticlePlan:
    """Everything storing ``article`` writes, but for the ids the store gives at write time.

    Its alerts are held back when ``hold_alerts`` gives a reason (``marsad import --no-alerts``)
    or when the article is older than the rules' alert window (:func:`alert_hold`). ``feed``
    is the name of the feed that listed it (None: imported), for rules scoped to feeds."""
    origin = None
    if rules.scoped:  # where the article comes from matters only to a scoped rule
        guess = f"{article.title}\n{article.text}" if rules.scoped_by_language else None
        origin = Origin.of(
            article.source, article.url, feed=feed, language=article.language, text=guess
        )
    found = rules.match(article.title, article.text, origin)
    quotes = quote(found, article.title, article.text)
    alerts: list[PlannedAlert] = []
    held = (hold_alerts or alert_hold(article, rules.alerts, now)) if quotes else None
    for rule in rules.rules:
        mine = tuple(q for q in quotes if q.match.rule == rule.name)
        # A breaking rule's alert waits for its story to spread (the write phase asks).
        if not mine or rule.breaking is not None:
            continue
        draft = AlertDraft(rule.name, article, mine)
        alerts.extend(PlannedAlert(channel, draft, held) for channel in rule.channels)
    # A story's growth raises no follow-up on an article whose own alerts are held back.
    growth_held = (hold_alerts or alert_hold(article, rules.alerts, now)) if rules.growing else None
    return ArticlePlan(
        article=article,
        prepared=prepared,
        verdict=verdict,
        quotes=quotes,
        alerts=tuple(alerts),
        fetched_at=now,
        growing=rules.growing,
        growth_held=growth_held,
    )


def alert_hold(article: NewArticle, alerts: AlertsConfig, now: str) -> str | None:
    """Why the article's alerts are held back, or None when they are raised: an article
    published longer than the alert window before ``now`` (an archive imported, a feed listing
    old items again) is history, not news.

    An article with no (readable) date is raised. Crawled, it is an item a feed lists now from
    an outlet that gives no dates, and holding those back would lose news without a word; an
    archive whose lines have no dates is what ``marsad import --no-alerts`` is for. A date in
    the future (a wrong time zone) is raised too.
    """
    if alerts.window is None or not article.published:
        return None
    try:
        published = from_iso(article.published)
        oldest = from_iso(now) - timedelta(seconds=alerts.window)
    except ValueError:
        return None
    if published >= oldest:
        return None
    return (
        f"published {article.published}, older than the "
        f"{format_duration(alerts.window)} alert window"
    )
