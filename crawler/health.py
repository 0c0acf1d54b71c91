"""Whether a feed is failing or silent, and whether that is news. Pure: facts and ``now`` in,
a decision out.

*Failing*: its last :attr:`HealthConfig.failures` fetches in a row failed, or its failures in
a row span :attr:`HealthConfig.failing_after`, whichever comes first. A failure is any fetch
recorded as failed: an HTTP error status (403, 404, 410, 429, 5xx, ...), a DNS error, a
timeout, a refused or reset connection, a TLS error, robots.txt or the address guard refusing
it, a body that is not a feed (an HTML page, an empty body) or cannot be parsed. A 304, an
unchanged body and a malformed feed whose entries were recovered are successes.

*Silent*: nothing new has arrived for its ``expect_every``, else for max(``silent_factor`` x its
usual gap between new entries, ``silent_floor``). The usual gap is the median of the gaps
between its recent arrivals (:func:`usual_gap`); a feed with fewer than :data:`MIN_GAPS` of
them is judged by ``silent_factor`` x ``silent_floor``. A failing feed is failing, not silent.

People hear of a change once (:attr:`HealthDecision.change`): entering failing or silent, and
recovering; never once per poll.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from itertools import pairwise
from statistics import median
from typing import Any, Literal

from marsad.alerts.health import HealthConfig
from marsad.crawler.polling import short_duration
from marsad.times import from_iso

State = Literal["ok", "failing", "silent"]
Change = Literal["failing", "silent", "recovered"]

# Arrivals closer than this are one (the articles one poll brought).
ARRIVAL_CLUSTER_SECONDS = 120.0
# Gaps needed before a feed's usual gap is known.
MIN_GAPS = 3
# Arrivals looked at for the usual gap.
RECENT_ARRIVALS = 60


@dataclass(frozen=True)
class FeedFacts:
    """A feed's health as the store holds it, right after a poll (or a skipped one)."""

    name: str
    told: State  # the state people were last told
    told_since: str | None
    consecutive_failures: int
    failures_since: str | None  # first failure of the current run
    last_fetch_at: str | None
    last_error: str | None
    watched_since: str  # since when it is watched: its first reading ended (else registered)
    last_arrival: str | None  # when something new last arrived
    arrivals: tuple[str, ...] = ()  # recent arrival times, any order
    expect_every: float | None = None


@dataclass(frozen=True)
class HealthDecision:
    state: State
    since: str | None
    change: Change | None  # None: nothing to tell
    detail: str  # for people: what happened
    facts: dict[str, Any] = field(default_factory=dict)


def usual_gap(arrivals: Sequence[str]) -> float | None:
    """The median gap (seconds) between a feed's recent arrivals, those within
    :data:`ARRIVAL_CLUSTER_SECONDS` of each other counted as one; None with fewer than
    :data:`MIN_GAPS` gaps."""
    times = sorted(from_iso(a).timestamp() for a in arrivals)
    instants: list[float] = []
    for moment in times:
        if not instants or moment - instants[-1] > ARRIVAL_CLUSTER_SECONDS:
            instants.append(moment)
        else:
            instants[-1] = moment  # a burst is as recent as its last article
    gaps = [later - earlier for earlier, later in pairwise(instants)]
    return median(gaps) if len(gaps) >= MIN_GAPS else None


def silent_after(facts: FeedFacts, config: HealthConfig) -> tuple[float, str]:
    """How long without anything new makes the feed silent, and why that long."""
    if facts.expect_every is not None:
        return facts.expect_every, f"expect_every {short_duration(facts.expect_every)}"
    gap = usual_gap(facts.arrivals)
    if gap is None:
        threshold = config.silent_factor * config.silent_floor
        return threshold, f"{config.silent_factor:g} x floor (too little history for its gap)"
    threshold = max(config.silent_factor * gap, config.silent_floor)
    if threshold == config.silent_floor:
        return threshold, f"floor (usual gap {short_duration(gap)})"
    return threshold, f"{config.silent_factor:g} x usual gap {short_duration(gap)}"


def judge_feed(facts: FeedFacts, config: HealthConfig, now: datetime) -> HealthDecision:
    """The feed's state at ``now`` and whether it changed from what people were told."""
    state, since, detail, numbers = _state(facts, config, now)
    change: Change | None = None
    if state != facts.told:
        change = "recovered" if state == "ok" else state
        if change == "recovered":
            since = facts.told_since
            detail = f"{facts.told} since {facts.told_since}: recovered"
    elif state != "ok":
        since = facts.told_since or since
    return HealthDecision(state, since, change, detail, numbers)


def _state(
    facts: FeedFacts, config: HealthConfig, now: datetime
) -> tuple[State, str | None, str, dict[str, Any]]:
    failures = facts.consecutive_failures
    if failures and facts.failures_since:
        spanned = 0.0
        if facts.last_fetch_at:
            first, latest = from_iso(facts.failures_since), from_iso(facts.last_fetch_at)
            spanned = (latest - first).total_seconds()
        numbers: dict[str, Any] = {"failures": failures, "failing_for_seconds": spanned}
        if failures >= config.failures or (failures >= 2 and spanned >= config.failing_after):
            detail = (
                f"{failures} failed fetches in a row since {facts.failures_since}; "
                f"last: {facts.last_error or 'failed'}"
            )
            return "failing", facts.failures_since, detail, numbers
    last = facts.last_arrival or facts.watched_since
    quiet = (now - from_iso(last)).total_seconds()
    threshold, why = silent_after(facts, config)
    numbers = {"quiet_seconds": round(quiet), "silent_after_seconds": threshold, "why": why}
    if quiet >= threshold:
        nothing = "nothing new" if facts.last_arrival else "nothing new since it is watched"
        detail = (
            f"{nothing} for {short_duration(quiet)} "
            f"(silent after {short_duration(threshold)}: {why})"
        )
        return "silent", last, detail, numbers
    return "ok", None, "ok", numbers
