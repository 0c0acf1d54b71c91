"""Alert channels as configured: ``[channels.NAME]`` tables, validated."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit


class ChannelError(ValueError):
    """A channel in the config is invalid; the message names the channel and the key."""


@dataclass(frozen=True)
class WebhookChannel:
    name: str
    url: str
    # Name of the environment variable holding the HMAC key; the key never sits in the file.
    secret_env: str | None = None
    timeout: float = 10.0
    headers: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class EmailChannel:
    name: str
    to: tuple[str, ...]
    sender: str = "marsad@localhost"
    smtp_host: str = "localhost"
    smtp_port: int = 25
    starttls: bool = False
    ssl: bool = False
    username: str | None = None
    password_env: str | None = None
    timeout: float = 30.0


Channel = WebhookChannel | EmailChannel

_WEBHOOK_KEYS = {"type", "url", "secret_env", "timeout", "headers"}
_EMAIL_KEYS = {
    "type",
    "to",
    "from",
    "smtp_host",
    "smtp_port",
    "starttls",
    "ssl",
    "username",
    "password_env",
    "timeout",
}


def parse_channels(
    tables: object, *, environ: Mapping[str, str], where: str = "channels"
) -> dict[str, Channel]:
    if tables is None:
        return {}
    if not isinstance(tables, Mapping):
        raise ChannelError(f"{where}: must be a table of [channels.NAME] tables")
    return {name: _parse_channel(name, table, f"{where}.{name}") for name, table in tables.items()}


def _parse_channel(name: str, table: object, where: str) -> Channel:
    if not isinstance(table, Mapping):
        raise ChannelError(f"{where}: must be a table")
    kind = table.get("type")
    if kind == "webhook":
        _reject_unknown(table, _WEBHOOK_KEYS, where)
        url = _required_str(table, "url", where)
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ChannelError(f"{where}.url: must be an http(s) URL, got {url!r}")
        headers = table.get("headers", {})
        if not isinstance(headers, Mapping) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in headers.items()
        ):
            raise ChannelError(f"{where}.headers: must be a table of strings")
        return WebhookChannel(
            name=name,
            url=url,
            secret_env=_optional_str(table, "secret_env", where),
            timeout=_positive_number(table, "timeout", where, 10.0),
            headers=tuple(sorted(headers.items())),
        )
    if kind == "email":
        _reject_unknown(table, _EMAIL_KEYS, where)
        to = table.get("to")
        if isinstance(to, str):
            to = [to]
        if (
            not isinstance(to, list)
            or not to
            or not all(isinstance(a, str) and "@" in a for a in to)
        ):
            raise ChannelError(f"{where}.to: must be a non-empty list of e-mail addresses")
        port = table.get("smtp_port", 25)
        if not isinstance(port, int) or isinstance(port, bool) or not 0 < port < 65536:
            raise ChannelError(f"{where}.smtp_port: must be a port number, got {port!r}")
        starttls = _bool(table, "starttls", where)
        ssl = _bool(table, "ssl", where)
        if starttls and ssl:
            raise ChannelError(f"{where}: starttls and ssl: choose one")
        username = _optional_str(table, "username", where)
        password_env = _optional_str(table, "password_env", where)
        if bool(username) != bool(password_env):
            raise ChannelError(f"{where}: username and password_env go together")
        return EmailChannel(
            name=name,
            to=tuple(to),
            sender=_optional_str(table, "from", where) or "marsad@localhost",
            smtp_host=_optional_str(table, "smtp_host", where) or "localhost",
            smtp_port=port,
            starttls=starttls,
            ssl=ssl,
            username=username,
            password_env=password_env,
            timeout=_positive_number(table, "timeout", where, 30.0),
        )
    raise ChannelError(f'{where}.type: must be "webhook" or "email", got {kind!r}')


def _reject_unknown(table: Mapping[str, object], known: set[str], where: str) -> None:
    unknown = sorted(set(table) - known)
    if unknown:
        raise ChannelError(f"{where}.{unknown[0]}: unknown key (known: {', '.join(sorted(known))})")


def _required_str(table: Mapping[str, object], key: str, where: str) -> str:
    value = table.get(key)
    if not isinstance(value, str) or not value.strip():
        raise ChannelError(f"{where}.{key}: required, a non-empty string")
    return value.strip()


def _optional_str(table: Mapping[str, object], key: str, where: str) -> str | None:
    value = table.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise ChannelError(f"{where}.{key}: must be a non-empty string")
    return value.strip()


def _bool(table: Mapping[str, object], key: str, where: str) -> bool:
    value = table.get(key, False)
    if not isinstance(value, bool):
        raise ChannelError(f"{where}.{key}: must be true or false, got {value!r}")
    return value


def _positive_number(table: Mapping[str, object], key: str, where: str, default: float) -> float:
    value = table.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise ChannelError(f"{where}.{key}: must be a positive number of seconds, got {value!r}")
    return float(value)
