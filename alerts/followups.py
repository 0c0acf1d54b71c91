"""Story follow-ups and breaking stories: which alerts a story's growth raises. Pure.

A rule with ``follow_up = [3, 10]`` that alerted on a story alerts again when the story
reaches 3 outlets, then 10, each once per (rule, story, channel). A rule with ``breaking =
{ outlets = 5, within = "2h" }`` raises no alert on its first match: it fires, once per story,
when a story it matches is carried by 5 distinct outlets within 2 hours of the story's first
article (the rate at which outlets pick a story up, as EMM tells breaking news).

The ingest path reads what the store says of the story an article just joined
(:class:`StoryGrowth`), asks :func:`story_alerts` what is due and queues it in the same
transaction as the article (:mod:`marsad.ingest.write`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from marsad.times import format_duration

if TYPE_CHECKING:
    from marsad.alerts.rules import Rule

FOLLOW_UP = "follow_up"
BREAKING = "breaking"


@dataclass(frozen=True)
class StoryGrowth:
    """What the store says of a story once an article joined it.

    ``outlets``: its distinct outlets now. ``reached``: per (rule, channel) that alerted on it,
    the outlet count it was last told of (when its first alert was queued, or the threshold
    of its last follow-up). ``matched``: the rules that matched some article of it.
    ``outlets_within``: per window (seconds), its distinct outlets within that long of its
    first article."""

    outlets: int
    reached: Mapping[tuple[str, str], int]
    matched: frozenset[str] = frozenset()
    outlets_within: Mapping[float, int] | None = None


@dataclass(frozen=True)
class StoryAlert:
    """An alert the story's growth raises for ``rule`` on ``channel``: a follow-up at
    ``threshold`` outlets (``kind`` FOLLOW_UP) or the rule's breaking alert (BREAKING,
    ``threshold`` its outlet count)."""

    kind: str
    rule: str
    channel: str
    threshold: int
    outlets: int
    within: float | None = None

    def describe(self) -> str:
        if self.kind == BREAKING:
            assert self.within is not None
            return (
                f"breaking: {self.outlets} outlets within {format_duration(self.within)} "
                "of the story's first article"
            )
        return f"follow-up: the story reached {self.outlets} outlets (threshold {self.threshold})"

    def payload(self) -> dict[str, Any]:
        """What the alert's payload says of it (beside the article and its matches)."""
        if self.kind == BREAKING:
            assert self.within is not None
            return {
                "outlets": self.outlets,
                "threshold": self.threshold,
                "within": format_duration(self.within),
            }
        return {"outlets": self.outlets, "threshold": self.threshold}


def follow_up_due(thresholds: Sequence[int], outlets: int, reached: int) -> int | None:
    """The threshold a story of ``outlets`` outlets has crossed since it was last told of at
    ``reached`` outlets: the highest one, when it crossed several at once (a merge, a late
    alert); None when none."""
    crossed = [t for t in thresholds if reached < t <= outlets]
    return max(crossed) if crossed else None


def story_alerts(rules: Sequence[Rule], growth: StoryGrowth) -> list[StoryAlert]:
    """The follow-ups and breaking alerts due for a story that grew to ``growth``, rule by
    rule, each rule's channels in order."""
    due: list[StoryAlert] = []
    for rule in rules:
        if rule.breaking is not None and rule.name in growth.matched:
            within = rule.breaking.within
            carried = (growth.outlets_within or {}).get(within, 0)
            if carried >= rule.breaking.outlets:
                due.extend(
                    StoryAlert(BREAKING, rule.name, channel, rule.breaking.outlets, carried, within)
                    for channel in rule.channels
                    if (rule.name, channel) not in growth.reached
                )
        if not rule.follow_up:
            continue
        for channel in rule.channels:
            reached = growth.reached.get((rule.name, channel))
            if reached is None:  # no alert on this story yet: nothing to follow up
                continue
            threshold = follow_up_due(rule.follow_up, growth.outlets, reached)
            if threshold is not None:
                due.append(StoryAlert(FOLLOW_UP, rule.name, channel, threshold, growth.outlets))
    return due


def lowest_threshold(rules: Sequence[Rule]) -> int | None:
    """The fewest outlets at which any of ``rules`` may raise a story alert: a story with
    fewer raises none, and the store need not be asked more."""
    counts = [t for r in rules for t in r.follow_up]
    counts.extend(r.breaking.outlets for r in rules if r.breaking is not None)
    return min(counts) if counts else None


def story_alert_key(store_id: str, story_id: int, alert: StoryAlert) -> str:
    """The idempotency key of a follow-up: stable across retries and processes, one per
    (store, story, rule, channel, threshold). A breaking alert is the rule's one alert on the
    story and keeps that alert's key (:func:`marsad.alerts.payload.idempotency_key`)."""
    text = f"marsad:{store_id}:{story_id}:{alert.rule}:{alert.channel}:follow-up:{alert.threshold}"
    return f"marsad-{hashlib.sha256(text.encode()).hexdigest()[:32]}"
