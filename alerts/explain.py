"""Why a rule did or did not fire on an article, and why it did or did not alert. Pure.

``marsad rules explain`` reads the article and what the store recorded of the rule for it
(:mod:`storage.explain`) and hands them here: every hit of every keyword (the word as
written, its offsets, the form that matched), the ``all`` keywords missing, the ``none``
keywords that vetoed, how close the hits came for ``near``, whether the rule's scope left the
article out; then, channel by channel, what became of its alert, in the terms of the ingest
path (:mod:`marsad.ingest.plan`, :mod:`marsad.ingest.write`): raised, a copy of a story alerted
already, held back when stored (outside the alert window, ``--no-alerts``), a breaking rule
waiting for its story to spread, a channel the config does not define, a rule not in force
when the article was stored.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from marsad.alerts.matching import KeywordHit, compile_rules
from marsad.alerts.rules import Origin, Rule
from marsad.times import format_duration

if TYPE_CHECKING:
    from marsad.alerts.rules import Keyword
    from marsad.storage.explain import RuleRecord, StoredAlert, StoredArticle

ANY, ALL, NONE = "any", "all", "none"


@dataclass(frozen=True)
class Hit:
    """One hit of a keyword of the rule: ``counted`` False when it is in a field the rule
    does not look at."""

    group: str
    keyword: str
    field: str
    start: int
    end: int
    # Word positions in the field (the first word is 0), what ``near`` counts in.
    first: int
    last: int
    surface: str
    form: str
    counted: bool


@dataclass(frozen=True)
class Nearness:
    """For a ``near`` rule: the fewest words between the hits of a set that satisfies the
    rule's any/all (None: no such set in one field) and the field it is in."""

    near: int
    closest: int | None
    field: str | None


@dataclass(frozen=True)
class ChannelOutcome:
    """What became of the rule's alert of this article on one channel. ``alerted``: an alert
    of this article is in the outbox (``status`` its state)."""

    channel: str
    alerted: bool
    reason: str
    alert_id: int | None = None
    status: str | None = None


@dataclass(frozen=True)
class Explanation:
    rule: str
    article_id: int
    story_id: int
    title: str
    source: str
    url: str
    feed: str | None
    language: str | None
    hits: tuple[Hit, ...]
    any_found: tuple[str, ...]
    threshold: int
    any_count: int
    missing_all: tuple[str, ...]
    vetoed: tuple[str, ...]
    nearness: Nearness | None
    # The rule's scope, as written (empty: articles from anywhere), and why it leaves the
    # article out (None: inside).
    scope: dict[str, list[str]]
    out_of_scope: str | None
    matches: bool
    # Why the rule does not match, in one line each (empty when it matches).
    because: tuple[str, ...]
    channels: tuple[ChannelOutcome, ...]
    follow_ups: tuple[str, ...]
    notes: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class StoryCounts:
    """For a breaking rule: the story's outlets within its window, and all of them."""

    within: int
    outlets: int


def explain(
    rule: Rule,
    article: StoredArticle,
    record: RuleRecord,
    *,
    channels: Collection[str] | None,
    story: StoryCounts | None = None,
) -> Explanation:
    """Why ``rule`` does or does not match ``article`` and what became of its alerts.

    ``record``: what the store holds of the rule for the article; ``channels``: the channels
    the config defines (None: not known, not checked); ``story``: the story's counts, for a
    breaking rule."""
    index = compile_rules((rule,))
    origin = Origin.of(
        article.source,
        article.url,
        feed=article.feed,
        language=article.language,
        text=f"{article.title}\n{article.text}",
    )
    hits = tuple(_hit(rule, h) for h in index.hits(article.title, article.text))
    counted = [h for h in hits if h.counted]
    found = {h.keyword for h in counted}
    any_found = tuple(dict.fromkeys(k.text for k in rule.any_of if k.text in found))
    missing_all = tuple(k.text for k in rule.all_of if k.text not in found)
    vetoed = tuple(dict.fromkeys(h.keyword for h in counted if h.group == NONE))
    nearness = _nearness(rule, counted) if rule.near is not None else None
    out_of_scope = rule.scope.excludes(origin) if rule.scope else None
    matches = bool(index.match(article.title, article.text, origin))

    because: list[str] = []
    if rule.any_of and len(any_found) < rule.threshold:
        because.append(f"`any`: {len(any_found)} different keywords hit, {rule.threshold} needed")
    if missing_all:
        because.append(f"`all` keyword missing: {', '.join(missing_all)}")
    if vetoed:
        because.append(f"vetoed by `none`: {', '.join(vetoed)}")
    if nearness is not None and not because:
        if nearness.closest is None:
            because.append("`near`: the hits that satisfy the rule are not in one field")
        elif nearness.closest > nearness.near:
            because.append(
                f"`near` {nearness.near}: the closest hits are {nearness.closest} words apart, "
                "too far"
            )
    if out_of_scope is not None:
        because.append(f"outside the rule's scope: {out_of_scope}")
    notes = []
    if article.pruned_at is not None:
        notes.append(f"its body was pruned at {article.pruned_at}: only its title is matched")
    outcomes = _channels(rule, article, record, channels, story) if matches else ()
    follow_ups = tuple(
        f"follow-up at {a.follow_up} outlets on {a.channel}: alert {a.id}, {_state(a)}"
        for a in record.alerts
        if a.follow_up > 0
    )
    return Explanation(
        rule=rule.name,
        article_id=article.id,
        story_id=article.story_id,
        title=article.title,
        source=article.source,
        url=article.url,
        feed=article.feed,
        language=origin.language,
        hits=hits,
        any_found=any_found,
        threshold=rule.threshold,
        any_count=len(rule.any_of),
        missing_all=missing_all,
        vetoed=vetoed,
        nearness=nearness,
        scope={
            key: list(values)
            for key, values in (
                ("feeds", rule.scope.feeds),
                ("sources", rule.scope.sources),
                ("languages", rule.scope.languages),
            )
            if values
        },
        out_of_scope=out_of_scope,
        matches=matches,
        because=tuple(because) if not matches else (),
        channels=tuple(outcomes),
        follow_ups=follow_ups,
        notes=tuple(notes),
    )


def _hit(rule: Rule, hit: KeywordHit) -> Hit:
    return Hit(
        group=_group(rule, hit.keyword),
        keyword=hit.keyword.text,
        field=hit.field,
        start=hit.start,
        end=hit.end,
        first=hit.first,
        last=hit.last,
        surface=hit.surface,
        form=hit.form,
        counted=hit.field in rule.fields,
    )


def _group(rule: Rule, keyword: Keyword) -> str:
    if keyword in rule.all_of:
        return ALL
    if keyword in rule.none_of:
        return NONE
    return ANY


def _nearness(rule: Rule, hits: Sequence[Hit]) -> Nearness:
    """The fewest words between the first and the last hit of a run of hits in one field
    that satisfies the rule's any/all (what :func:`matching._near_hits` tests)."""
    assert rule.near is not None
    best: tuple[int, str] | None = None
    for field in rule.fields:
        ordered = sorted(
            (h for h in hits if h.field == field and h.group != NONE),
            key=lambda h: (h.first, h.last),
        )
        for left in range(len(ordered)):
            present: set[str] = set()
            for right in range(left, len(ordered)):
                present.add(ordered[right].keyword)
                if _satisfied(rule, present):
                    gap = max(ordered[right].first - ordered[left].last - 1, 0)
                    if best is None or gap < best[0]:
                        best = (gap, field)
                    break
    if best is None:
        return Nearness(rule.near, None, None)
    return Nearness(rule.near, best[0], best[1])


def _satisfied(rule: Rule, present: set[str]) -> bool:
    if not all(k.text in present for k in rule.all_of):
        return False
    if rule.any_of:
        return sum(k.text in present for k in rule.any_of) >= rule.threshold
    return True


def _channels(
    rule: Rule,
    article: StoredArticle,
    record: RuleRecord,
    channels: Collection[str] | None,
    story: StoryCounts | None,
) -> list[ChannelOutcome]:
    if not rule.channels:
        return [ChannelOutcome("", False, "the rule names no channels: it alerts no one")]
    first: Mapping[str, StoredAlert] = {a.channel: a for a in record.alerts if a.follow_up == 0}
    held = {h.channel: h.reason for h in record.held}
    out = []
    for channel in rule.channels:
        alert = first.get(channel)
        if channels is not None and channel not in channels:
            out.append(ChannelOutcome(channel, False, "no channel of this name in the config"))
        elif alert is not None and alert.article_id == article.id:
            out.append(
                ChannelOutcome(channel, True, _state(alert), alert_id=alert.id, status=alert.status)
            )
        elif alert is not None:
            told = (
                f"the story's breaking alert was raised by article {alert.article_id}"
                if rule.breaking is not None
                else f"a copy: story {article.story_id} was alerted already, by article "
                f"{alert.article_id}"
            )
            out.append(
                ChannelOutcome(
                    channel,
                    False,
                    f"{told} (alert {alert.id}, {_state(alert)})",
                    alert_id=alert.id,
                    status=alert.status,
                )
            )
        elif channel in held:
            out.append(ChannelOutcome(channel, False, f"held back when stored: {held[channel]}"))
        elif rule.breaking is not None:
            counts = story or StoryCounts(0, 0)
            out.append(
                ChannelOutcome(
                    channel,
                    False,
                    f"a breaking rule ({rule.breaking.describe()}): the story has "
                    f"{counts.within} outlets within {format_duration(rule.breaking.within)} "
                    f"of its first article ({counts.outlets} in all)",
                )
            )
        elif record.matches == 0:
            out.append(
                ChannelOutcome(
                    channel,
                    False,
                    f"no match was recorded when it was stored ({article.fetched_at}): the rule "
                    "as it is now was not in force then (rules apply to articles as they "
                    "arrive)",
                )
            )
        else:
            out.append(
                ChannelOutcome(
                    channel,
                    False,
                    "no alert and nothing held back for this channel: it was added to the "
                    "rule after the article was stored",
                )
            )
    return out


def _state(alert: StoredAlert) -> str:
    if alert.status == "sent":
        return f"sent {alert.sent_at}"
    if alert.status == "dead":
        return f"dead (gave up: {alert.last_error})"
    if alert.status == "held":
        return "held for the channel's digest"
    return f"pending since {alert.created_at}"
