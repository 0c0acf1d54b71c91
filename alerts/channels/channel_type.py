"""The seam a channel type plugs into: what a configured channel is, what sends over it, and the
record that registers the type (:data:`marsad.alerts.channels.CHANNEL_TYPES`)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar, Generic, Protocol, TypeVar

if TYPE_CHECKING:
    from marsad.alerts.channels.digest_schedule import DigestSchedule
    from marsad.alerts.outcome import Outcome
    from marsad.storage.models import DueAlert


class Channel(Protocol):
    """One configured channel: its name in the config, and the name of its type."""

    # The ``type`` of its [channels.NAME] table: how delivery finds the type's sender.
    kind: ClassVar[str]

    @property
    def name(self) -> str: ...

    def unset_variables(self) -> tuple[str, ...]:
        """The environment variables it names that held nothing when the config was read: its
        alerts stay queued (never sent unsigned) until marsad starts with them set."""
        ...


def refused_for_unset_secret(channel: Channel, consequence: str) -> Outcome | None:
    """A retry, before any network I/O, when a secret the channel names was not set at start:
    the alert stays queued rather than go out unsigned or without its login."""
    from marsad.alerts.outcome import Outcome

    unset = channel.unset_variables()
    if not unset:
        return None
    return Outcome.retry(
        f"channel {channel.name}: environment variable {unset[0]} is not set{consequence}"
    )


# Sends delivery runs at once over one channel (one receiver, one SMTP server: a hanging one
# ties up its own sends only). A sender may hold as many connections per channel, and need no
# more.
CHANNEL_CONCURRENCY = 4

ChannelT = TypeVar("ChannelT", bound=Channel)
ChannelT_contra = TypeVar("ChannelT_contra", contravariant=True)


class Sender(Protocol[ChannelT_contra]):
    """Sends alerts over channels of one type for the life of one delivery session (the
    daemon's: its whole life), many passes, so it may keep connections from send to send. It is
    given at most :data:`CHANNEL_CONCURRENCY` sends at once per channel; ``aclose`` is called
    once, when the session ends."""

    async def send(
        self, alert: DueAlert, story: Mapping[str, Any], channel: ChannelT_contra, *, now: datetime
    ) -> Outcome: ...

    async def aclose(self) -> None: ...


# parse(name, table, where, environ): the channel configured by ``table``, its secrets looked up
# in ``environ``; raises ChannelError naming ``where`` and the key.
Parse = Callable[[str, Mapping[str, object], str, Mapping[str, str]], ChannelT]


@dataclass(frozen=True)
class ChannelType(Generic[ChannelT]):
    """A kind of channel, registered once: how to read its table and what sends over it."""

    name: str
    parse: Parse[ChannelT]
    # Called once per delivery session, at the first alert it sends over this type.
    sender: Callable[[], Sender[ChannelT]]
    # What sends a digest (an outbox row listing a period's stories) over this type; a type
    # without one cannot have ``digest`` set (its channels' digests are dead letters).
    digest_sender: Callable[[], Sender[ChannelT]] | None = None


def digest_of(channel: Channel) -> DigestSchedule | None:
    """The channel's digest schedule (its ``digest`` key), ``None`` when each alert goes out on
    its own (and for a channel type that has no such key)."""
    schedule: DigestSchedule | None = getattr(channel, "digest", None)
    return schedule
