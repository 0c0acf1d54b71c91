"""When and how to fetch a feed: due or backing off, conditional headers, back-off. Pure.

Every function takes the feed's stored state and, where time matters, ``now``; nothing here reads
a clock or does I/O, so the spiders, the runner and the Retry-After middleware share one policy
and the tests pin it on literals.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta

from marsad.retry import exponential_backoff, retry_after_seconds
from marsad.storage.models import FeedState
from marsad.times import to_iso

# Servers lie about ETag/Last-Modified: every this many fetches, ask without them and let the
# body hash decide whether the feed changed.
UNCONDITIONAL_EVERY = 10
# The first back-off after a failure (or the feed's own interval, if shorter: a feed polled
# every 10 s is tried again 10 s after a failure); it doubles with each further failure.
BACKOFF_BASE = 60.0
# Statuses with which a server asks us to come back later (and may say when: Retry-After).
PAUSE_STATUSES = frozenset({429, 503})


@dataclass(frozen=True)
class Backoff:
    """What one more failure of a feed means."""

    failures: int  # consecutive failures, this one included
    wait: float  # seconds
    until: str  # ISO-8601 UTC: the feed is not fetched before this


def is_due(state: FeedState, now: datetime) -> bool:
    """False while the feed backs off after failures."""
    # ISO-8601 UTC strings of one format compare in time order.
    return not state.backoff_until or state.backoff_until <= to_iso(now)


def conditional_headers(state: FeedState) -> dict[str, str]:
    """The If-None-Match / If-Modified-Since headers of the next fetch (none every
    UNCONDITIONAL_EVERY-th fetch, so the body hash gets a say)."""
    if state.fetch_count % UNCONDITIONAL_EVERY == UNCONDITIONAL_EVERY - 1:
        return {}
    headers = {}
    if state.etag:
        headers["If-None-Match"] = state.etag
    if state.last_modified:
        headers["If-Modified-Since"] = state.last_modified
    return headers


def body_hash(body: bytes) -> str:
    """What decides "unchanged" when the validators are absent or lie."""
    return hashlib.sha256(body).hexdigest()


def backoff_seconds(
    consecutive_failures: int, max_backoff: float, base: float = BACKOFF_BASE
) -> float:
    """Wait after the ``consecutive_failures``-th failure in a row (1 → ``base``)."""
    return exponential_backoff(consecutive_failures - 1, base, max_backoff)


def requested_pause(
    status: int | None, retry_after: str | bytes | None, now: datetime
) -> float | None:
    """Seconds a 429/503 answer asked us to wait (its Retry-After), else None."""
    if status not in PAUSE_STATUSES:
        return None
    return retry_after_seconds(retry_after, now)


def failure_wait(
    consecutive_failures: int,
    max_backoff: float,
    requested: float | None = None,
    base: float = BACKOFF_BASE,
) -> float:
    """The back-off, or longer if the server asked for longer (never beyond ``max_backoff``)."""
    wait = backoff_seconds(consecutive_failures, max_backoff, base)
    if requested is not None:
        wait = max(wait, min(requested, max_backoff))
    return wait


def after_failure(
    state: FeedState,
    now: datetime,
    *,
    max_backoff: float,
    requested: float | None = None,
    every: float | None = None,
) -> Backoff:
    """How long a feed whose stored state is ``state`` (polled every ``every`` seconds) waits
    after failing at ``now``. Never for ever: capped at ``max_backoff``, it is tried again."""
    failures = state.consecutive_failures + 1
    base = BACKOFF_BASE if every is None else max(1.0, min(BACKOFF_BASE, every))
    wait = failure_wait(failures, max_backoff, requested, base)
    return Backoff(failures=failures, wait=wait, until=to_iso(now + timedelta(seconds=wait)))
