"""When to try again: exponential back-off and a server's ``Retry-After``. Pure.

Used by the crawler (a failing feed) and by alert delivery (a failing receiver), so both wait
the same way.
"""

from __future__ import annotations

from datetime import datetime

from marsad.times import http_date

# The exponent is capped so a long-failing source cannot overflow the float.
_MAX_DOUBLINGS = 64


def exponential_backoff(doublings: int, base: float, cap: float) -> float:
    """``base * 2**doublings`` seconds, at most ``cap`` (``doublings`` < 0 counts as 0)."""
    return float(min(cap, base * 2.0 ** min(max(doublings, 0), _MAX_DOUBLINGS)))


def retry_after_seconds(
    value: str | bytes | None, now: datetime, *, cap: float | None = None
) -> float | None:
    """Seconds from ``now`` that a ``Retry-After`` header asks for (delay-seconds or an
    HTTP date), at least 0 and at most ``cap``; ``None`` when absent or unreadable."""
    if value is None:
        return None
    text = (value.decode("latin-1") if isinstance(value, bytes) else value).strip()
    if not text:
        return None
    if text.isdigit():
        seconds = float(text)
    else:
        moment = http_date(text)
        if moment is None:
            return None
        seconds = (moment - now).total_seconds()
    seconds = max(0.0, seconds)
    return min(seconds, cap) if cap is not None else seconds
