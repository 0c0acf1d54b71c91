"""What a reload (SIGHUP) changes: the config the daemon runs on + the one just read -> a plan.

Pure: two :class:`~marsad.config.Config` objects in, a :class:`ReloadPlan` out. The daemon
(:mod:`marsad.scheduler.daemon`) applies it: registers and schedules the new feeds, retires and
unschedules the removed ones, gives recompiled rules to the crawl engine and opens a new
delivery session for changed channels.

Some settings are built into objects that live as long as the process: ``[store] path`` (the
store connection and the daemon's lock) and ``[crawl]`` (the one crawler's downloader, its
politeness and its worker processes). A change to them is kept for the next start and said so
in the log; the rest of the new config takes effect at once (``[health]`` and ``[polling]``
are read by the jobs each time they run). A section this module does not know (added since)
is taken at the next start, never half-applied.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Iterable

    from marsad.config import Config
    from marsad.crawler.config import FeedConfig

# Config fields a reload applies (each below); source_path is where the config came from.
_APPLIED = {"feeds", "rules", "channels", "delivery", "alerts", "retention", "source_path"}
# Config fields the jobs read from the daemon's config each time they run: taking the new
# config applies them (source health, adaptive polling: marsad.scheduler.jobs).
_READ_EACH_TIME = {"health": "[health]", "polling": "[polling]"}
# Config fields whose change needs a restart, and how the log names them.
_RESTART = {"store_path": "[store] path", "crawl": "[crawl]"}


@dataclass(frozen=True)
class ReloadPlan:
    """What changes from the running config to the one read.

    ``config`` is what the daemon runs on after the reload: the new config, except that what
    needs a restart (``needs_restart``, named as in the config file) keeps its running value.
    ``feeds_changed`` holds the new versions of feeds whose url, interval, kind or source
    changed. ``rules_changed``: the rules or ``[alerts]`` changed, so the rules are recompiled.
    ``delivery_changed``: a channel or a ``[delivery]`` setting changed, so delivery needs a new
    session; ``delivery_every_changed``: its job's interval too."""

    config: Config
    feeds_added: tuple[FeedConfig, ...] = ()
    feeds_changed: tuple[FeedConfig, ...] = ()
    feeds_removed: tuple[str, ...] = ()
    rules_changed: bool = False
    delivery_changed: bool = False
    delivery_every_changed: bool = False
    retention_changed: bool = False
    sections_changed: tuple[str, ...] = ()  # of _READ_EACH_TIME, as the config names them
    needs_restart: tuple[str, ...] = ()

    @property
    def feeds_touched(self) -> bool:
        return bool(self.feeds_added or self.feeds_changed or self.feeds_removed)

    @property
    def applies_anything(self) -> bool:
        return (
            self.feeds_touched
            or self.rules_changed
            or self.delivery_changed
            or self.retention_changed
            or bool(self.sections_changed)
        )

    def summary(self) -> str:
        """One line for the log: what the reload changed, and what waits for a restart."""
        parts: list[str] = []
        if self.feeds_added:
            parts.append(f"feeds added: {_names(f.name for f in self.feeds_added)}")
        if self.feeds_changed:
            parts.append(f"feeds changed: {_names(f.name for f in self.feeds_changed)}")
        if self.feeds_removed:
            parts.append(f"feeds removed (retired): {_names(self.feeds_removed)}")
        if self.rules_changed:
            parts.append(f"rules recompiled ({len(self.config.rules)})")
        if self.delivery_changed:
            parts.append(f"channels or [delivery] changed ({len(self.config.channels)} channels)")
        if self.retention_changed:
            parts.append("[retention] changed")
        parts.extend(f"{section} changed" for section in self.sections_changed)
        line = "; ".join(parts) if parts else "nothing changed"
        if self.needs_restart:
            line += f"; changed but kept until a restart: {', '.join(self.needs_restart)}"
        return f"config reloaded: {line}"


def plan_reload(running: Config, read: Config) -> ReloadPlan:
    """Compare the config the daemon runs on with the one just read (both valid)."""
    restart: list[str] = []
    live: list[str] = []
    kept: dict[str, Any] = {}
    for item in fields(running):
        if item.name in _APPLIED:
            continue
        if item.name in _READ_EACH_TIME:
            if getattr(running, item.name) != getattr(read, item.name):
                live.append(_READ_EACH_TIME[item.name])
            continue
        if getattr(running, item.name) != getattr(read, item.name):
            restart.append(_RESTART.get(item.name, f"[{item.name}]"))
            kept[item.name] = getattr(running, item.name)
    config = replace(read, **kept) if kept else read

    old = {feed.name: feed for feed in running.feeds}
    new = {feed.name: feed for feed in read.feeds}
    return ReloadPlan(
        config=config,
        feeds_added=tuple(feed for name, feed in new.items() if name not in old),
        feeds_changed=tuple(
            feed for name, feed in new.items() if name in old and old[name] != feed
        ),
        feeds_removed=tuple(name for name in old if name not in new),
        rules_changed=running.rules != read.rules or running.alerts != read.alerts,
        delivery_changed=(
            dict(running.channels) != dict(read.channels) or running.delivery != read.delivery
        ),
        delivery_every_changed=running.delivery.every != read.delivery.every,
        retention_changed=running.retention != read.retention,
        sections_changed=tuple(live),
        needs_restart=tuple(restart),
    )


def reload_problem(config: Config) -> str | None:
    """Why the daemon cannot run on ``config`` although it loaded (the checks ``marsad run``
    makes at start), in one line; None when it can."""
    where = f"{config.source_path}: " if config.source_path else ""
    if not config.feeds:
        return f"{where}no [[feeds]]: nothing to watch"
    for channel in config.channels.values():
        for variable in channel.unset_variables():
            return (
                f"{where}channels.{channel.name}: environment variable {variable} is not set "
                "(the daemon's environment is the one it started with)"
            )
    return None


def _names(names: Iterable[str]) -> str:
    listed = list(names)
    shown = ", ".join(listed[:10])
    return shown + (f" and {len(listed) - 10} more" if len(listed) > 10 else "")
