"""Alert channels: the registry of channel types and the ``[channels.NAME]`` tables it parses.

A channel type is one module of this package (its config, parsing, rendering and sending) that
exports a :class:`ChannelType`; adding a type is that module plus one entry in
:data:`CHANNEL_TYPES`.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from marsad.alerts.channels import apprise, email, webhook
from marsad.alerts.channels.channel_type import Channel, ChannelType, Sender
from marsad.alerts.channels.fields import ChannelError

__all__ = ["CHANNEL_TYPES", "Channel", "ChannelError", "ChannelType", "Sender", "parse_channels"]

CHANNEL_TYPES: Mapping[str, ChannelType[Any]] = MappingProxyType(
    {
        channel_type.name: channel_type
        for channel_type in (webhook.CHANNEL_TYPE, email.CHANNEL_TYPE, apprise.CHANNEL_TYPE)
    }
)


def parse_channels(
    tables: object,
    *,
    environ: Mapping[str, str],
    where: str = "channels",
    channel_types: Mapping[str, ChannelType[Any]] = CHANNEL_TYPES,
) -> dict[str, Channel]:
    """The channels of the config's ``[channels]`` table, each parsed by its type.

    Secrets are looked up in ``environ`` here, once, and kept on the channel: no sender reads the
    process environment.
    """
    if tables is None:
        return {}
    if not isinstance(tables, Mapping):
        raise ChannelError(f"{where}: must be a table of [channels.NAME] tables")
    channels: dict[str, Channel] = {}
    for name, table in tables.items():
        here = f"{where}.{name}"
        if not isinstance(table, Mapping):
            raise ChannelError(f"{here}: must be a table")
        kind = table.get("type")
        channel_type = channel_types.get(kind) if isinstance(kind, str) else None
        if channel_type is None:
            raise ChannelError(f"{here}.type: must be {_one_of(channel_types)}, got {kind!r}")
        channels[name] = channel_type.parse(name, table, here, environ)
    return channels


def _one_of(names: Mapping[str, object]) -> str:
    """``"webhook" or "email"``: the registered type names, in registration order."""
    quoted = [f'"{name}"' for name in names]
    if not quoted:
        return "a registered channel type (none are)"
    if len(quoted) == 1:
        return quoted[0]
    return f"{', '.join(quoted[:-1])} or {quoted[-1]}"
