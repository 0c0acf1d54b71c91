"""Signing webhook requests, so a receiver can tell a marsad alert from a forgery or a replay.

The scheme
----------
Every webhook POST carries::

    X-Marsad-Timestamp: <t>
    X-Marsad-Signature: t=<t>,v1=<hex>
    Idempotency-Key: <key>

where ``<t>`` is the Unix time (whole seconds, UTC) of the attempt and ``<hex>`` is the lowercase
hex HMAC-SHA256, keyed with the channel's secret (UTF-8 bytes of the environment variable named
by ``secret_env``), of the bytes ``f"{t}."`` followed by the raw request body, exactly as
received (do not re-serialise the JSON first).

To verify: recompute the HMAC over ``f"{t}.".encode() + body`` with your copy of the secret,
compare it with each ``v1`` value in constant time, and reject the request when ``t`` is further
than a few minutes (300 s here) from your clock, which bounds replays. ``v1`` names the scheme;
a future scheme gets a new name and both can be sent side by side.

``Idempotency-Key`` stays the same for every retry of one alert (one story, rule and channel):
a receiver that has already processed a key should answer 2xx and drop the repeat.
"""

from __future__ import annotations

import hashlib
import hmac

SIGNATURE_HEADER = "X-Marsad-Signature"
TIMESTAMP_HEADER = "X-Marsad-Timestamp"
IDEMPOTENCY_HEADER = "Idempotency-Key"
SCHEME = "v1"
DEFAULT_TOLERANCE = 300


def _digest(secret: bytes, timestamp: int, body: bytes) -> str:
    return hmac.new(secret, f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def sign(secret: bytes, timestamp: int, body: bytes) -> str:
    """The ``X-Marsad-Signature`` header value for ``body`` sent at ``timestamp``."""
    return f"t={timestamp},{SCHEME}={_digest(secret, timestamp, body)}"


def verify(
    secret: bytes,
    header: str,
    body: bytes,
    *,
    now: int,
    tolerance: int = DEFAULT_TOLERANCE,
) -> bool:
    """Whether ``header`` is a valid signature of ``body`` made within ``tolerance`` of ``now``."""
    timestamp: int | None = None
    candidates: list[str] = []
    for part in header.split(","):
        key, sep, value = part.strip().partition("=")
        if not sep:
            continue
        if key == "t":
            try:
                timestamp = int(value)
            except ValueError:
                return False
        elif key == SCHEME:
            candidates.append(value)
    if timestamp is None or not candidates or abs(now - timestamp) > tolerance:
        return False
    expected = _digest(secret, timestamp, body)
    # Check every candidate, so the time taken says nothing about which one matched.
    matched = False
    for candidate in candidates:
        matched |= hmac.compare_digest(expected.encode(), candidate.encode())
    return matched
