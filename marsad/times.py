"""Times as marsad writes and reads them: one ISO-8601 UTC format, durations, dates. Pure.

Every timestamp column holds ``2024-05-01T07:00:00Z`` (:func:`to_iso`): strings of that one
format compare in time order, so SQL can compare them directly.
"""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d)?\s*$")
_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, None: 1.0}
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def to_iso(moment: datetime) -> str:
    """``moment`` (naive means UTC) as the store's ISO-8601 UTC string, whole seconds."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def utc_now() -> str:
    """The current time as the ISO-8601 UTC string every timestamp column uses."""
    return to_iso(datetime.now(UTC))


def parse_duration(value: object) -> float:
    """'90s', '5m', '2h', '1d' or a positive number, in seconds. Raises ValueError."""
    if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
        return float(value)
    if isinstance(value, str):
        m = _DURATION.match(value)
        if m and float(m.group(1)) > 0:
            return float(m.group(1)) * _UNITS[m.group(2)]
    raise ValueError(f'must be a duration such as "90s", "5m", "2h", got {value!r}')


def parse_when(text: str, now: datetime, *, end_of_day: bool = False) -> str:
    """A time a person typed, as the store's ISO-8601 UTC string.

    ``today``, ``yesterday``, a duration ago (``30m``, ``6h``, ``7d``, ``90s``), a date
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
    if text[-1:] in ("s", "m", "h", "d"):
        try:
            return to_iso(now - timedelta(seconds=parse_duration(text)))
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
    if isinstance(value, time.struct_time):
        moment = datetime(*value[:6], tzinfo=UTC)
    elif isinstance(value, int | float) and not isinstance(value, bool):
        moment = datetime.fromtimestamp(value, UTC)
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
