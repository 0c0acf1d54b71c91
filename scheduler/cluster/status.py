"""What ``marsad status`` says of a cluster: each role's last heartbeat and figures, the
fetchers alive, and the queues (read from Redis with short timeouts; never writes)."""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Any

from marsad.scheduler.cluster.link import ITEMS_GROUP, JOBS_GROUP, Keys, as_text

if TYPE_CHECKING:
    from marsad.config import ClusterConfig

READ_TIMEOUT = 2.0


def cluster_status(cluster: ClusterConfig, environ: dict[str, str] | None = None) -> dict[str, Any]:
    """The cluster as Redis sees it now; ``{"error": ...}`` when Redis cannot be read."""
    import os

    from redis import Redis
    from redis.exceptions import RedisError

    env = os.environ if environ is None else environ
    password = env.get(cluster.password_env) if cluster.password_env else None
    keys = Keys(cluster.prefix)
    now = time.time()
    try:
        client = Redis.from_url(
            cluster.redis_url,
            password=password,
            socket_timeout=READ_TIMEOUT,
            socket_connect_timeout=READ_TIMEOUT,
        )
        try:
            ranked: Any = client.zrange(keys.fetchers, 0, -1, withscores=True)
            beats = {as_text(member): float(score) for member, score in ranked}
            roles = []
            for key in client.scan_iter(match=keys.roles, count=500):
                raw = client.get(key)
                if raw is None:
                    continue
                try:
                    figures = json.loads(raw)
                except ValueError:
                    continue
                if isinstance(figures, dict):
                    figures["seconds_since_heartbeat"] = round(now - float(figures.get("at", 0)), 1)
                    roles.append(figures)
            roles.sort(key=lambda r: (str(r.get("role")), str(r.get("id"))))
            fetchers = []
            for fetcher, beat in sorted(beats.items()):
                stream = keys.jobs(fetcher)
                fetchers.append(
                    {
                        "id": fetcher,
                        "alive": now - beat <= cluster.fetcher_ttl,
                        "seconds_since_heartbeat": round(now - beat, 1),
                        "jobs_queued": client.xlen(stream),
                        "jobs_taken": _pending(client, stream, JOBS_GROUP),
                    }
                )
            items = {
                "length": client.xlen(keys.items),
                "unacknowledged": _pending(client, keys.items, ITEMS_GROUP),
            }
        finally:
            client.close()
    except (RedisError, OSError) as exc:
        return {"redis_url": cluster.redis_url, "error": f"cannot read redis: {exc}"}
    return {
        "redis_url": cluster.redis_url,
        "roles": roles,
        "fetchers": fetchers,
        "items_stream": items,
    }


def describe_cluster(report: dict[str, Any]) -> list[str]:
    if "error" in report:
        return [f"cluster: {report['error']}"]
    lines = [f"cluster: {report['redis_url']}"]
    for role in report["roles"]:
        detail = ""
        if role.get("role") == "writer":
            detail = f", {role.get('applied', 0)} messages stored, backlog {role.get('backlog', 0)}"
        elif role.get("role") == "fetcher":
            detail = (
                f", {role.get('polls_running', 0)} polls running, {role.get('polls_done', 0)} done"
            )
        elif role.get("role") == "scheduler":
            detail = f", {role.get('jobs_sent', 0)} jobs sent, {role.get('jobs_moved', 0)} moved"
        lines.append(
            f"  {role.get('role')} {role.get('id')}: "
            f"heartbeat {role['seconds_since_heartbeat']}s ago{detail}"
        )
    alive = [f for f in report["fetchers"] if f["alive"]]
    lines.append(f"  fetchers alive: {len(alive)} of {len(report['fetchers'])}")
    for fetcher in report["fetchers"]:
        if not fetcher["alive"]:
            lines.append(
                f"    {fetcher['id']}: gone ({fetcher['seconds_since_heartbeat']}s), "
                f"{fetcher['jobs_queued']} jobs to hand on"
            )
    items = report["items_stream"]
    lines.append(f"  to store: {items['length']} messages ({items['unacknowledged']} being stored)")
    return lines


def _pending(client: Any, stream: str, group: str) -> int:
    from redis.exceptions import ResponseError

    try:
        summary = client.xpending(stream, group)
    except ResponseError:  # no such stream or group yet
        return 0
    return int(summary.get("pending", 0)) if isinstance(summary, dict) else 0
