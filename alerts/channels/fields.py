"""Reading the keys of one ``[channels.NAME]`` table, with errors that name the key.

Every channel type's ``parse`` uses these, so a mistake reads the same whatever the type.
``where`` is the table's place in the config (``channels.NAME``).
"""

from __future__ import annotations

from collections.abc import Mapping, Set

from marsad.times import parse_duration

# A channel's timeout, in seconds: a slow receiver gets its answer in, and one that never answers
# holds a delivery pass up for at most 10 minutes.
TIMEOUT_RANGE = (0.1, 600.0)


class ChannelError(ValueError):
    """A channel in the config is invalid; the message names the channel and the key."""


def reject_unknown(table: Mapping[str, object], known: Set[str], where: str) -> None:
    unknown = sorted(set(table) - known)
    if unknown:
        raise ChannelError(f"{where}.{unknown[0]}: unknown key (known: {', '.join(sorted(known))})")


def required_str(table: Mapping[str, object], key: str, where: str) -> str:
    value = table.get(key)
    if not isinstance(value, str) or not value.strip():
        raise ChannelError(f"{where}.{key}: required, a non-empty string")
    return value.strip()


def optional_str(table: Mapping[str, object], key: str, where: str) -> str | None:
    value = table.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise ChannelError(f"{where}.{key}: must be a non-empty string")
    return value.strip()


def flag(table: Mapping[str, object], key: str, where: str) -> bool:
    value = table.get(key, False)
    if not isinstance(value, bool):
        raise ChannelError(f"{where}.{key}: must be true or false, got {value!r}")
    return value


def duration(
    table: Mapping[str, object], key: str, where: str, default: float, low: float, high: float
) -> float:
    """A duration in the syntax of every other in the config (``10s``, ``1m`` or seconds)."""
    try:
        return parse_duration(table.get(key, default), low=low, high=high)
    except ValueError as exc:
        raise ChannelError(f"{where}.{key}: {exc}") from None


def secret_from(environ: Mapping[str, str], variable: str | None) -> str | None:
    """The secret held by the environment variable named ``variable``, looked up once at start.

    ``None`` when no variable is named, or it is missing or empty. That is not an error here: the
    channel's sender then keeps its alerts pending rather than send them unsigned or without
    login, and says which variable to set.
    """
    if variable is None:
        return None
    return environ.get(variable) or None
