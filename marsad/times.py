"""Times as marsad writes and reads them: one ISO-8601 UTC format, durations, dates. Pure.

Every timestamp column holds ``2024-05-01T07:00:00Z`` (:func:`to_iso`): strings of that one
format compare in time order, so SQL can compare them directly.
"""

from __future__ import annotations

import math
import re
import time
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d|w)?\s*$")
_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0, None: 1.0}
DURATION_SYNTAX = '"90s", "5m", "2h", "1d", "1w" or a number of seconds'
# How far back a time typed as a duration ago (``--since 30d``) may reach.
_LONGEST_AGO = 100 * 365 * 86400.0
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def to_iso(moment: datetime) -> str:
    """``moment`` (naive means UTC) as the store's ISO-8601 UTC string, whole seconds."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def from_iso(text: str) -> datetime:
    """A timestamp the store wrote (:func:`to_iso`) as an aware datetime (naive means UTC)."""
    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def utc_now() -> str:
    """The current time as the ISO-8601 UTC string every timestamp column uses."""
    return to_iso(datetime.now(UTC))


def parse_duration(value: object, *, low: float, high: float) -> float:
    """A duration in seconds from ``low`` to ``high`` (both included), given as ``90s``, ``5m``,
    ``2h``, ``1d``, ``1w`` or a number of seconds (a TOML number or a string of digits).

    Raises ValueError saying the syntax and the range: infinity, NaN and a duration beyond the
    range would validate here and break later (a timer that never fires, a sleep that never
    ends), so they are refused here.
    """
    seconds: float | None = None
    if isinstance(value, int | float) and not isinstance(value, bool):
        seconds = float(value)
    elif isinstance(value, str) and (m := _DURATION.match(value)):
        seconds = float(m.group(1)) * _UNITS[m.group(2)]
    if seconds is None or not math.isfinite(seconds) or not low <= seconds <= high:
        raise ValueError(
            f"must be a duration from {format_duration(low)} to {format_duration(high)} "
            f"({DURATION_SYNTAX}), got {value!r}"
        )
    return seconds


def format_duration(seconds: float) -> str:
    """``seconds`` in the largest unit that holds it whole: 259200 → ``3d``, 90 → ``90s``."""
    for unit in ("w", "d", "h", "m"):
        size = _UNITS[unit]
        if seconds >= size and seconds % size == 0:
            return f"{seconds / size:g}{unit}"
    return f"{seconds:g}s"


def parse_when(text: str, now: datetime, *, end_of_day: bool = False) -> str:
    """A time a person typed, as the store's ISO-8601 UTC string.

    ``today``, ``yesterday``, a duration ago (``30m``, ``6h``, ``7d``, ``2w``, ``90s``), a date
    ``2024-05-01`` (UTC; with ``end_of_day`` — for an ``--until`` — the start of the next day,
    so the day is included) or an ISO-8601 time (with an offset or ``Z``; naive means UTC).
    Raises ValueError.
    """
    text = text.strip()
    midnight = now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    day_span = timedelta(days=1) if end_of_day else timedelta(0)
    if text == "today":
        return to_iso(midnight + day_span)
    if text == "yesterday":
        return to_iso(midnight - timedelta(days=1) + day_span)
    if _DATE.match(text):
        try:
            day = datetime.strptime(text, "%Y-%m-%d").replace(tzinfo=UTC)
        except ValueError:
            raise ValueError(f"{text!r}: not a date") from None
        return to_iso(day + day_span)
    if text[-1:] in ("s", "m", "h", "d", "w"):
        try:
            return to_iso(now - timedelta(seconds=parse_duration(text, low=0, high=_LONGEST_AGO)))
        except ValueError:
            pass
    try:
        return to_iso(datetime.fromisoformat(text))
    except ValueError:
        raise ValueError(
            f"{text!r}: expected today, yesterday, 30m, 6h, 7d, 2024-05-01 or an ISO-8601 time"
        ) from None


def to_utc_iso(value: object) -> str | None:
    """A publication date as feeds, pages and imports give it, as the store's ISO string.

    ``2020-03-29``, ``2020-03-29T10:00:00+03:00``, RFC 2822 dates, epoch seconds or a
    ``time.struct_time`` (as feedparser gives, already in UTC) → ``2020-03-29T07:00:00Z``.
    Returns ``None`` for anything it cannot read: an unknown date is better than a wrong one.
    """
    moment: datetime | None = None
    if isinstance(value, time.struct_time | int | float) and not isinstance(value, bool):
        try:
            moment = (
                datetime(*value[:6], tzinfo=UTC)
                if isinstance(value, time.struct_time)
                else datetime.fromtimestamp(value, UTC)
            )
        except (ValueError, OverflowError, OSError):
            # Infinity, NaN, an epoch beyond year 9999 or a struct_time with a 13th month: a
            # line of an import, not a reason to stop it.
            return None
    elif isinstance(value, str) and value.strip():
        text = value.strip()
        try:
            moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            moment = http_date(text)
    if moment is None:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    if not 1990 <= moment.year <= 2100:
        return None
    return to_iso(moment)


def http_date(text: str) -> datetime | None:
    """An RFC 2822 / HTTP date (naive means UTC), or ``None`` if it is not one."""
    try:
        moment = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
