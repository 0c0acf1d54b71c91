"""The cluster's Redis: the connection, the key names, and waiting out an outage.

Keys (``P`` is ``[cluster] prefix``):

- ``P:fetchers`` sorted set: fetcher id -> its last heartbeat (Unix time). A fetcher whose
  heartbeat is older than ``fetcher_ttl`` has left; the scheduler hands its work on.
- ``P:jobs:<fetcher>`` stream: due feeds for that fetcher (group ``fetchers``). A job stays in
  the stream until its poll is over (then XACK and XDEL), so whatever a dead fetcher left is
  exactly what the stream still holds.
- ``P:items`` stream: outcomes, articles, entries not stored and ends of polls, for the writer
  (group ``writers``). Bounded by the writer: it deletes what it has committed.
- ``P:inflight:<feed>``: the feed's poll is under way (set by the scheduler, cleared by the
  writer once the poll is stored; expires after the engine's stall time).
- ``P:site:<site>``: a fetcher's lease on a site for one download delay (politeness while
  sites move between fetchers).
- ``P:role:<role>:<id>``: each process's last heartbeat and figures, for ``marsad status``.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from redis import Redis as SyncRedis
    from redis.asyncio import Redis

    from marsad.config import ClusterConfig

log = logging.getLogger("marsad.cluster")
T = TypeVar("T")

JOBS_GROUP = "fetchers"
ITEMS_GROUP = "writers"
# Waits between attempts while Redis is unreachable: doubling from the first to the last.
OUTAGE_FIRST_WAIT = 0.2
OUTAGE_LAST_WAIT = 5.0


class ClusterConfigError(ValueError):
    """The cluster cannot be reached as configured (one line: what and where)."""


@dataclass(frozen=True)
class Keys:
    prefix: str

    @property
    def fetchers(self) -> str:
        return f"{self.prefix}:fetchers"

    def jobs(self, fetcher: str) -> str:
        return f"{self.prefix}:jobs:{fetcher}"

    @property
    def items(self) -> str:
        return f"{self.prefix}:items"

    def inflight(self, feed: str) -> str:
        return f"{self.prefix}:inflight:{feed}"

    def site(self, site: str) -> str:
        return f"{self.prefix}:site:{site}"

    def role(self, role: str, ident: str) -> str:
        return f"{self.prefix}:role:{role}:{ident}"

    @property
    def roles(self) -> str:
        return f"{self.prefix}:role:*"


def as_text(value: Any) -> str:
    """A Redis reply (bytes: the clients do not decode) as text."""
    return value.decode() if isinstance(value, bytes) else str(value)


def connect(cluster: ClusterConfig, environ: Mapping[str, str] | None = None) -> Redis:
    """A client for ``cluster.redis_url`` (the password from ``password_env``); it connects on
    first use."""
    from redis.asyncio import Redis

    try:
        client: Redis = Redis.from_url(cluster.redis_url, **_client_options(cluster, environ))
    except ValueError as exc:
        raise ClusterConfigError(f"cluster.redis_url: {exc}") from None
    return client


def connect_sync(cluster: ClusterConfig, environ: Mapping[str, str] | None = None) -> SyncRedis:
    """A blocking client, for a thread of its own (a fetcher's heartbeats)."""
    from redis import Redis as SyncRedis

    try:
        client: SyncRedis = SyncRedis.from_url(
            cluster.redis_url, **_client_options(cluster, environ)
        )
    except ValueError as exc:
        raise ClusterConfigError(f"cluster.redis_url: {exc}") from None
    return client


def _client_options(cluster: ClusterConfig, environ: Mapping[str, str] | None) -> dict[str, Any]:
    env = os.environ if environ is None else environ
    password = None
    if cluster.password_env is not None:
        password = env.get(cluster.password_env)
        if not password:
            raise ClusterConfigError(
                f"cluster.password_env: the environment variable {cluster.password_env} is unset"
            )
    return {
        "password": password,
        "socket_timeout": 10.0,
        "socket_connect_timeout": 5.0,
        "health_check_interval": 30,
    }


def is_outage(exc: BaseException) -> bool:
    """Whether ``exc`` means Redis cannot be reached now (wait and try again)."""
    from redis.exceptions import BusyLoadingError, ConnectionError, TimeoutError

    if is_refused_login(exc):  # waiting would not change the password
        return False
    return isinstance(exc, ConnectionError | TimeoutError | BusyLoadingError | OSError)


def is_refused_login(exc: BaseException) -> bool:
    """Whether Redis refused this client's password or rights (a configuration error)."""
    from redis.exceptions import AuthenticationError, AuthorizationError, NoPermissionError

    return isinstance(exc, AuthenticationError | AuthorizationError | NoPermissionError)


async def until_done(
    what: str,
    attempt: Callable[[], Awaitable[T]],
    stop: asyncio.Event | None = None,
) -> T:
    """``attempt()`` until it succeeds, waiting out Redis outages (logged once each); raises
    :class:`asyncio.CancelledError` if ``stop`` is set while waiting."""
    wait = OUTAGE_FIRST_WAIT
    down_since: float | None = None
    loop = asyncio.get_running_loop()
    while True:
        try:
            result = await attempt()
        except Exception as exc:
            if not is_outage(exc):
                raise
            if down_since is None:
                down_since = loop.time()
                log.warning("redis unreachable (%s): %s; waiting", what, exc)
            if stop is not None and stop.is_set():
                raise asyncio.CancelledError(
                    f"stopped while redis is unreachable ({what})"
                ) from None
            await asyncio.sleep(wait)
            wait = min(OUTAGE_LAST_WAIT, wait * 2)
            continue
        if down_since is not None:
            log.info("redis reachable again (%s) after %.1fs", what, loop.time() - down_since)
        return result


async def ensure_group(redis: Redis, stream: str, group: str) -> None:
    """The consumer group on ``stream`` (created with the stream when either is missing)."""
    from redis.exceptions import ResponseError

    try:
        await redis.xgroup_create(stream, group, id="0", mkstream=True)
    except ResponseError as exc:
        if "BUSYGROUP" not in str(exc):
            raise
