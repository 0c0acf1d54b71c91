"""How often to poll a feed: adaptive intervals and the feed's own hints. Pure.

The interval follows how often the feed publishes, Miniflux's entry-frequency rule::

    interval = clamp(week / (new entries in the last week x factor), min, max)

with two refinements. A feed watched for less than a week is judged on what it has shown so far,
together with a prior of :data:`PRIOR_ENTRIES` entries at one per ``every`` (so its first
interval is ``every``, the starting point, and its first quiet hour does not send it to the
maximum; a week of history outweighs the prior many times over). And a *stretch* follows each
poll (:func:`next_stretch`): Media Cloud lengthens a feed's interval when most of a poll is
already known; here nearly every poll is mostly known once the rate rule sets the pace (a poll
finds one new entry among twenty), so only a poll that finds nothing new lengthens it (x
:data:`STRETCH_STEP`, up to :data:`STRETCH_MAX`), and one that finds nothing it knew shortens it
(the feed's window overflowed: entries may have been missed).

Never shorter than the feed's own hints (:class:`Hint`: RSS ``<ttl>``, ``sy:updatePeriod`` /
``sy:updateFrequency``, ``Cache-Control: max-age``, ``Expires``, ``Retry-After``), honoured up
to ``max_interval``. The bounds ``[polling] min_interval`` and ``max_interval`` widen to take in
a feed's own ``every`` (a feed asked for every 1m is never held to a 5m minimum). ``adaptive =
false`` keeps a feed at ``every``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from marsad.crawler.config import PollingConfig
from marsad.times import http_date

WEEK = 7 * 86400.0
# What the prior (one entry per ``every``) weighs, in entries.
PRIOR_ENTRIES = 2.0
STRETCH_STEP = 1.5
STRETCH_MAX = 8.0
STRETCH_MIN = 0.25
# A poll that lists fewer entries than this says nothing about overflow.
OVERFLOW_MIN_LISTED = 3

_SY_PERIODS = {
    "hourly": 3600.0,
    "daily": 86400.0,
    "weekly": WEEK,
    "monthly": 30 * 86400.0,
    "yearly": 365 * 86400.0,
}
# The response headers header_hint reads (by lower-case name).
HINT_HEADERS = ("cache-control", "expires", "date", "retry-after")
_MAX_AGE = re.compile(r"(?:^|[,\s])max-age\s*=\s*\"?(\d+)\"?", re.IGNORECASE)
_NO_CACHE = re.compile(r"(?:^|[,\s])(?:no-cache|no-store)(?:$|[,\s=])", re.IGNORECASE)


@dataclass(frozen=True)
class Hint:
    """A feed's (or its server's) word on how often to come back: at most every ``seconds``."""

    seconds: float
    source: str  # for people: 'ttl 60m', 'Cache-Control max-age=600', ...


@dataclass(frozen=True)
class ReadingNote:
    """What one successful fetch of a feed tells its polling (the spider notes it per feed).

    ``header_hint``: from the response's headers (every answer, a 304 too); ``feed_hint``: from
    the feed's own elements, only when its body was read (``read``); ``listed`` and ``new``: the
    entries it listed and those never seen before.
    """

    header_hint: Hint | None = None
    feed_hint: Hint | None = None
    read: bool = False
    listed: int = 0
    new: int = 0


@dataclass(frozen=True)
class PollFacts:
    """What the interval of one feed is decided from."""

    every: float  # the configured starting point
    adaptive: bool
    arrivals: int  # new articles first stored from this feed within ``window``
    window: float  # seconds of history counted (up to a week; 0 before its first reading ended)
    stretch: float = 1.0
    hint: Hint | None = None


@dataclass(frozen=True)
class Interval:
    seconds: float
    reason: str  # "45m: 9 new in 7d", "2h: ttl 120m", "fixed", ...


def feed_hint(ttl: object, update_period: object, update_frequency: object) -> Hint | None:
    """The longer of RSS ``<ttl>`` (minutes) and ``sy:updatePeriod`` / ``sy:updateFrequency``
    (a period, and how many updates in it: default 1), as feedparser gives them (strings)."""
    hints: list[Hint] = []
    minutes = _number(ttl)
    if minutes is not None and minutes > 0:
        hints.append(Hint(minutes * 60.0, f"ttl {minutes:g}m"))
    period = _SY_PERIODS.get(str(update_period or "").strip().lower())
    if period is not None:
        frequency = _number(update_frequency)
        times = frequency if frequency is not None and frequency >= 1 else 1.0
        hints.append(
            Hint(period / times, f"sy:updatePeriod {str(update_period).strip()}/{times:g}")
        )
    return longest(*hints)


def header_hint(headers: Mapping[str, str | None], now: datetime) -> Hint | None:
    """The longest wait a successful answer's ``Cache-Control: max-age``, ``Expires`` (or
    ``Retry-After``) asks for; ``headers`` by lower-case name."""
    hints: list[Hint] = []
    cache_control = headers.get("cache-control") or ""
    if not _NO_CACHE.search(cache_control):
        match = _MAX_AGE.search(cache_control)
        if match is not None and int(match[1]) > 0:
            hints.append(Hint(float(match[1]), f"Cache-Control max-age={match[1]}"))
        elif (expires := headers.get("expires")) and (when := http_date(expires)) is not None:
            # Measured against the server's own clock when it says it (Date), else ours.
            served = http_date(headers.get("date") or "") or now
            wait = (when - served).total_seconds()
            if wait > 0:
                hints.append(Hint(wait, "Expires"))
    retry_after = headers.get("retry-after")
    if retry_after:
        delay = _number(retry_after)
        if delay is None and (when := http_date(retry_after)) is not None:
            delay = (when - now).total_seconds()
        if delay is not None and delay > 0:
            hints.append(Hint(delay, f"Retry-After {retry_after.strip()}"))
    return longest(*hints)


def longest(*hints: Hint | None) -> Hint | None:
    present = [hint for hint in hints if hint is not None]
    return max(present, key=lambda hint: hint.seconds, default=None)


def next_stretch(stretch: float, note: ReadingNote, *, first_reading: bool) -> float:
    """The stretch after a poll: x STRETCH_STEP when it found nothing new, / STRETCH_STEP
    (below 1 too) when it found nothing it knew (not on a feed's first reading, when all is
    new), back to at most 1 when it found some of each."""
    if note.new == 0:
        return min(stretch * STRETCH_STEP, STRETCH_MAX)
    overflowed = note.read and note.listed >= OVERFLOW_MIN_LISTED and note.new >= note.listed
    if overflowed and not first_reading:
        return max(min(stretch, 1.0) / STRETCH_STEP, STRETCH_MIN)
    return min(stretch, 1.0)


def next_interval(facts: PollFacts, config: PollingConfig) -> Interval:
    """The feed's interval from its history (see the module's docstring)."""
    if not facts.adaptive:
        return Interval(facts.every, "fixed")
    window = max(0.0, min(facts.window, WEEK))
    # Entries per second, with the prior's PRIOR_ENTRIES at one per `every` x factor, so the
    # first interval is `every`.
    prior_window = PRIOR_ENTRIES * facts.every * config.factor
    rate = (facts.arrivals + PRIOR_ENTRIES) / (window + prior_window)
    base = 1.0 / (rate * config.factor)
    seen = f"{facts.arrivals} new in {short_duration(window)}" if window else "starting point"
    reason = seen
    seconds = base * facts.stretch
    if facts.stretch != 1.0:
        why = "nothing new lately" if facts.stretch > 1 else "polls found only new entries"
        reason += f", x{facts.stretch:.2g} ({why})"
    # A feed's own `every` is always within its bounds: the config's bounds never override
    # what was asked for one feed.
    low, high = min(config.min_interval, facts.every), max(config.max_interval, facts.every)
    if seconds < low:
        seconds, reason = low, f"min ({reason})"
    elif seconds > high:
        seconds, reason = high, f"max ({reason})"
    hint = facts.hint
    if hint is not None and hint.seconds > seconds:
        seconds = min(hint.seconds, high)
        reason = hint.source
    return Interval(seconds, f"{short_duration(seconds)}: {reason}")


def short_duration(seconds: float) -> str:
    """45s, 45m, 2h, 2.5h, 7d: the unit that reads best, at most one decimal."""
    for unit, size in (("d", 86400.0), ("h", 3600.0), ("m", 60.0)):
        if seconds >= size:
            return f"{round(seconds / size, 1):g}{unit}"
    return f"{round(seconds):g}s"


def _number(value: object) -> float | None:
    try:
        number = float(str(value).strip())
    except ValueError:
        return None
    return number if number == number and number not in (float("inf"), float("-inf")) else None
