"""A channel's ``digest`` and ``timezone`` keys: whether its alerts go out one by one or wait for
an hourly or daily digest, and in which zone the hours are counted.

Every channel type's ``parse`` reads them with :func:`parse_digest`, so the keys and their
errors are the same whatever the type. Pure.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import time
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from marsad.alerts.channels.fields import ChannelError

# The keys every channel type accepts for its digest.
DIGEST_KEYS = frozenset({"digest", "timezone"})
DEFAULT_ZONE = "UTC"
_DAILY = re.compile(r"daily\s+(\d{1,2}):(\d{2})")
_SYNTAX = '"none", "hourly" or "daily HH:MM" (24-hour clock)'


@dataclass(frozen=True)
class DigestSchedule:
    """When a channel's digest periods end: every hour on the hour, or every day at ``at``,
    both as the clocks of ``zone`` show them."""

    every: Literal["hourly", "daily"]
    zone: str = DEFAULT_ZONE
    at: time | None = None  # daily only

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.zone)

    def describe(self) -> str:
        """``daily 07:00 Asia/Riyadh``, ``hourly UTC``: what the config said."""
        if self.every == "daily" and self.at is not None:
            return f"daily {self.at:%H:%M} {self.zone}"
        return f"hourly {self.zone}"


def parse_digest(table: Mapping[str, object], where: str) -> DigestSchedule | None:
    """The channel's digest schedule; ``None`` for ``digest = "none"`` (the default): each alert
    is sent on its own. Raises :class:`ChannelError` naming the key at fault."""
    value = table.get("digest", "none")
    zone = table.get("timezone", DEFAULT_ZONE)
    if not isinstance(zone, str) or not _known_zone(zone):
        raise ChannelError(f"{where}.timezone: not a known time zone (e.g. Asia/Riyadh): {zone!r}")
    if not isinstance(value, str):
        raise ChannelError(f"{where}.digest: must be {_SYNTAX}, got {value!r}")
    text = " ".join(value.split()).lower()
    if text == "none":
        return None
    if text == "hourly":
        return DigestSchedule("hourly", zone)
    found = _DAILY.fullmatch(text)
    if found is not None:
        hour, minute = int(found[1]), int(found[2])
        if hour < 24 and minute < 60:
            return DigestSchedule("daily", zone, time(hour, minute))
    raise ChannelError(f"{where}.digest: must be {_SYNTAX}, got {value!r}")


def _known_zone(name: str) -> bool:
    # ZoneInfo also takes paths ("../etc"): only plain IANA names.
    if not name or name.startswith(("/", ".")) or ".." in name:
        return False
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True
