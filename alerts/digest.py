"""Digests: when a channel's periods begin and end, and what its digest of a period says.

Pure: a schedule and a clock in, periods out; the alerts of a period in, the digest out. The
store's side is :mod:`storage.digests`, the job that closes periods :mod:`scheduler.digests`.

Period boundaries are wall-clock times in the schedule's zone (every hour on the hour, or every
day at HH:MM), turned into instants one at a time, never by adding 24 hours: across a change of
daylight-saving time a daily period is 23 or 25 hours long and still ends at 07:00. A daily time
that does not exist on a day (skipped by the clocks going forward) ends the period at the
instant that time would have been at the old offset, i.e. just after the jump.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from marsad.alerts.render import clean_line

if TYPE_CHECKING:
    from marsad.alerts.channels.digest_schedule import DigestSchedule

# Stories a digest lists; the rest are counted ("+N more").
DIGEST_LIMIT = 20
DIGEST_KIND = "digest"
_TINY = timedelta(microseconds=1)


@dataclass(frozen=True)
class Period:
    """``start <= t < end``, both UTC."""

    start: datetime
    end: datetime


def period_start_at_or_before(schedule: DigestSchedule, moment: datetime) -> datetime:
    """The latest boundary of ``schedule`` at or before ``moment`` (UTC)."""
    zone = schedule.tz
    local = moment.astimezone(zone)
    if schedule.every == "hourly":
        # Flooring keeps the fold: the repeated hour of a fall-back is two periods, not one.
        floored = local.replace(minute=0, second=0, microsecond=0)
        return floored.astimezone(UTC)
    assert schedule.at is not None
    day = local.date()
    for back in range(3):
        candidate = datetime.combine(day - timedelta(days=back), schedule.at, tzinfo=zone)
        instant = candidate.astimezone(UTC)
        if instant <= moment:
            return instant
    raise AssertionError("a daily boundary lies within three days")  # pragma: no cover


def next_boundary(schedule: DigestSchedule, boundary: datetime) -> datetime:
    """The boundary after ``boundary`` (itself a boundary)."""
    zone = schedule.tz
    if schedule.every == "hourly":
        return period_start_at_or_before(schedule, boundary + timedelta(hours=1))
    assert schedule.at is not None
    day = boundary.astimezone(zone).date()
    for ahead in range(1, 4):
        candidate = datetime.combine(day + timedelta(days=ahead), schedule.at, tzinfo=zone)
        instant = candidate.astimezone(UTC)
        if instant > boundary:
            return instant
    raise AssertionError("a daily boundary lies within three days")  # pragma: no cover


def period_containing(schedule: DigestSchedule, moment: datetime) -> Period:
    start = period_start_at_or_before(schedule, moment)
    return Period(start, next_boundary(schedule, start))


def last_closed_period(schedule: DigestSchedule, now: datetime) -> Period:
    """The latest period that has ended by ``now``: the one a digest is due for."""
    end = period_start_at_or_before(schedule, now)
    return Period(period_start_at_or_before(schedule, end - _TINY), end)


def closed_periods(
    schedule: DigestSchedule, moments: Iterable[datetime], now: datetime
) -> dict[Period, list[int]]:
    """The ended periods ``moments`` fall in, each with the indexes of its moments; a moment
    whose period has not ended by ``now`` is left out (its digest is not due yet)."""
    periods: dict[Period, list[int]] = {}
    for index, moment in enumerate(moments):
        period = period_containing(schedule, moment)
        if period.end <= now:
            periods.setdefault(period, []).append(index)
    return periods


@dataclass(frozen=True)
class DigestStory:
    """One story in a digest: what its alerts said, and when the latest was raised."""

    story_id: int
    title: str
    url: str
    source: str
    outlets: int
    rules: tuple[str, ...]
    words: tuple[str, ...]
    alerted_at: str
    alert_ids: tuple[int, ...] = field(default=(), compare=False)

    def as_json(self) -> dict[str, Any]:
        return {
            "story_id": self.story_id,
            "title": self.title,
            "url": self.url,
            "source": self.source,
            "outlets": self.outlets,
            "rules": list(self.rules),
            "words": list(self.words),
            "alerted_at": self.alerted_at,
        }


@dataclass(frozen=True)
class MemberAlert:
    """An alert waiting for its channel's digest, as the store holds it."""

    id: int
    story_id: int
    rule: str
    created_at: str
    payload: Mapping[str, Any]
    outlets: int


def stories_of(alerts: Sequence[MemberAlert]) -> list[DigestStory]:
    """One entry per story (its alerts for several rules merged), newest alert first; ties by
    story id, newest first, so the order is the same in every process."""
    grouped: dict[int, list[MemberAlert]] = {}
    for alert in alerts:
        grouped.setdefault(alert.story_id, []).append(alert)
    stories = []
    for story_id, members in grouped.items():
        members.sort(key=lambda a: (a.created_at, a.id))
        first = members[0]
        article: Mapping[str, Any] = first.payload.get("article", {})
        words: list[str] = []
        for member in members:
            for match in member.payload.get("matches", []):
                word = clean_line(match.get("surface") or match.get("keyword"))
                if word and word not in words:
                    words.append(word)
        stories.append(
            DigestStory(
                story_id=story_id,
                title=clean_line(article.get("title")),
                url=clean_line(article.get("url")),
                source=clean_line(article.get("source")),
                outlets=max(member.outlets for member in members),
                rules=tuple(dict.fromkeys(clean_line(m.rule) for m in members)),
                words=tuple(words),
                alerted_at=members[-1].created_at,
                alert_ids=tuple(m.id for m in members),
            )
        )
    stories.sort(key=lambda s: (s.alerted_at, s.story_id), reverse=True)
    return stories


def digest_payload(
    channel: str,
    schedule: DigestSchedule,
    period: Period,
    stories: Sequence[DigestStory],
    *,
    limit: int = DIGEST_LIMIT,
) -> dict[str, Any]:
    """What the digest's outbox row holds and its senders render: the period, the first
    ``limit`` stories (newest first) and how many more there were."""
    from marsad.times import to_iso

    return {
        "kind": DIGEST_KIND,
        "channel": channel,
        "schedule": schedule.describe(),
        "period": {"start": to_iso(period.start), "end": to_iso(period.end)},
        "total": len(stories),
        "more": max(len(stories) - limit, 0),
        "stories": [story.as_json() for story in stories[:limit]],
    }


def digest_key(store_id: str, channel: str, period_end: str) -> str:
    """Stable for one channel's period in one store: every attempt and every process that
    closes the period uses it, so a receiver can drop a repeat."""
    text = f"marsad:{store_id}:digest:{channel}:{period_end}"
    return f"marsad-digest-{hashlib.sha256(text.encode()).hexdigest()[:32]}"


def is_digest(payload: Mapping[str, Any]) -> bool:
    return payload.get("kind") == DIGEST_KIND


def digest_period_label(payload: Mapping[str, Any], zone: str | None = None) -> str:
    """``2025-03-01 07:00 → 2025-03-02 07:00 (Asia/Riyadh)``: the period in the schedule's
    zone, as people there read their clocks."""
    from zoneinfo import ZoneInfo

    from marsad.times import from_iso

    period = payload.get("period", {})
    schedule = str(payload.get("schedule", ""))
    name = zone or (schedule.rsplit(" ", 1)[-1] if schedule else "UTC")
    try:
        tz = ZoneInfo(name)
    except (ValueError, KeyError):
        tz, name = ZoneInfo("UTC"), "UTC"
    start = from_iso(str(period.get("start"))).astimezone(tz)
    end = from_iso(str(period.get("end"))).astimezone(tz)
    return f"{start:%Y-%m-%d %H:%M} → {end:%Y-%m-%d %H:%M} ({name})"
