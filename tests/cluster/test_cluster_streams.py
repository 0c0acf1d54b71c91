"""The streams' edge cases, each on a real Redis with one real role process and Redis driven
from the test as the other roles (or a killed process) would leave it (#16):

- a fetcher blocked reading its jobs when the scheduler hands its stream on (its heartbeat was
  late) keeps taking jobs;
- a writer or fetcher restarted with messages it had read and not acknowledged (it was killed)
  applies those and then goes on taking new ones.

A message that is not ours is read, dropped and deleted by either role: the tests use that to
see a role read a message without a farm behind it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tests.cluster.harness import cluster_of, wait_for, write_config

if TYPE_CHECKING:
    from pathlib import Path

    from tests.cluster.harness import Cluster, RedisServer

JOBS = "marsad:jobs:f1"
ITEMS = "marsad:items"
NOT_OURS = {"t": "not-ours", "m": "{}"}
# A feed nobody polls here (no scheduler runs): a port nothing listens on.
FEEDS = [{"name": "quiet", "url": "http://127.0.0.1:9/feed.xml", "source": "quiet"}]


def _config(tmp_path: Path, redis_server: RedisServer) -> Path:
    return write_config(
        tmp_path / "marsad.toml",
        feeds=FEEDS,
        redis_url=redis_server.url,
        sink_url="http://127.0.0.1:9",
        delay=0.2,
    )


def _has_group(redis: Any, stream: str, group: str) -> bool:
    if not redis.exists(stream):
        return False
    return any(g["name"].decode() == group for g in redis.xinfo_groups(stream))


def _blocked_reading(redis: Any) -> bool:
    """Whether a client waits in XREADGROUP now (the fetcher: nothing else reads here)."""
    return any(
        c.get("cmd") == "xreadgroup" and "b" in c.get("flags", "") for c in redis.client_list()
    )


def _left_unacknowledged(redis: Any, stream: str, group: str, consumer: str, count: int) -> None:
    """``count`` messages read by ``consumer`` and never acknowledged: what a process killed
    after reading leaves in its group."""
    redis.xgroup_create(stream, group, id="0", mkstream=True)
    for _ in range(count):
        redis.xadd(stream, NOT_OURS)
    read = redis.xreadgroup(group, consumer, {stream: ">"}, count=count)
    assert len(read[0][1]) == count
    assert redis.xpending(stream, group)["pending"] == count


def _wait_started(cluster: Cluster, text: str) -> None:
    role = cluster.roles[-1]
    wait_for(lambda: text in role.text() or not role.alive(), 60, f"{role.name}: {text!r}")
    cluster.assert_alive()


def test_a_fetcher_whose_stream_is_handed_on_while_it_reads_keeps_taking_jobs(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    redis = redis_server.client()
    with cluster_of(tmp_path, _config(tmp_path, redis_server)) as cluster:
        fetcher = cluster.start("fetcher", "f1")
        _wait_started(cluster, "taking jobs from")
        wait_for(lambda: _has_group(redis, JOBS, "fetchers"), 10, "the fetcher's group")
        wait_for(lambda: _blocked_reading(redis), 10, "the fetcher blocked reading its jobs")
        # What the scheduler's hand-on does when it took f1 for gone (its heartbeats late on
        # a busy machine), while f1 is blocked in XREADGROUP on that stream.
        with redis.pipeline(transaction=True) as pipe:
            pipe.delete(JOBS)
            pipe.zrem("marsad:fetchers", "f1")
            pipe.execute()
        wait_for(
            lambda: _has_group(redis, JOBS, "fetchers") or not fetcher.alive(),
            10,
            "the fetcher starts its stream anew\n" + cluster.logs(),
        )
        redis.xadd(JOBS, NOT_OURS)
        wait_for(
            lambda: redis.xlen(JOBS) == 0,
            10,
            "the fetcher takes the job sent after the hand-on\n" + cluster.logs(),
        )
        cluster.assert_alive()
        assert cluster.terminate(fetcher) == 0, cluster.logs()


def test_a_writer_restarted_with_unacknowledged_messages_goes_on_to_new_ones(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    redis = redis_server.client()
    _left_unacknowledged(redis, ITEMS, "writers", "writer", 3)
    with cluster_of(tmp_path, _config(tmp_path, redis_server)) as cluster:
        writer = cluster.start("writer")
        _wait_started(cluster, "marsad writer running")
        wait_for(lambda: redis.xlen(ITEMS) == 0, 20, "the left messages read again")
        redis.xadd(ITEMS, NOT_OURS)
        wait_for(
            lambda: redis.xlen(ITEMS) == 0,
            10,
            "the writer reads a message sent after its restart\n" + cluster.logs(),
        )
        assert cluster.terminate(writer) == 0, cluster.logs()


def test_a_fetcher_restarted_under_its_id_with_unacknowledged_jobs_goes_on_to_new_ones(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    redis = redis_server.client()
    _left_unacknowledged(redis, JOBS, "fetchers", "f1", 3)
    with cluster_of(tmp_path, _config(tmp_path, redis_server)) as cluster:
        fetcher = cluster.start("fetcher", "f1")
        _wait_started(cluster, "taking jobs from")
        wait_for(lambda: redis.xlen(JOBS) == 0, 20, "the left jobs read again")
        redis.xadd(JOBS, NOT_OURS)
        wait_for(
            lambda: redis.xlen(JOBS) == 0,
            10,
            "the fetcher reads a job sent after its restart\n" + cluster.logs(),
        )
        assert cluster.terminate(fetcher) == 0, cluster.logs()
