"""Reading the keys of one ``[channels.NAME]`` table, with errors that name the key.

Every channel type's ``parse`` uses these, so a mistake reads the same whatever the type.
``where`` is the table's place in the config (``channels.NAME``).
"""

from __future__ import annotations

from collections.abc import Mapping, Set


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


def positive_seconds(table: Mapping[str, object], key: str, where: str, default: float) -> float:
    value = table.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise ChannelError(f"{where}.{key}: must be a positive number of seconds, got {value!r}")
    return float(value)


def secret_from(environ: Mapping[str, str], variable: str | None) -> str | None:
    """The secret held by the environment variable named ``variable``, looked up once at start.

    ``None`` when no variable is named, or it is missing or empty. That is not an error here: the
    channel's sender then keeps its alerts pending rather than send them unsigned or without
    login, and says which variable to set.
    """
    if variable is None:
        return None
    return environ.get(variable) or None
