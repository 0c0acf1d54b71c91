"""Publication dates from feeds, pages and imports, as ISO-8601 UTC strings."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime


def to_utc_iso(value: object) -> str | None:
    """``2020-03-29``, ``2020-03-29T10:00:00+03:00``, RFC 2822 dates, epoch seconds or a
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
            try:
                moment = parsedate_to_datetime(text)
            except (TypeError, ValueError, IndexError):
                moment = None
    if moment is None:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    if not 1990 <= moment.year <= 2100:
        return None
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
