"""Redis down while the cluster runs (#16): the roles wait it out and keep running, nothing is
lost once it is back; a role stopped while it waits stops cleanly."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from tests.cluster.checks import assert_one_alert_per_story, assert_stored_once, wait_all_stored
from tests.cluster.harness import (
    FIRST,
    SECOND,
    FarmSpec,
    WebFarm,
    cluster_of,
    farm_expectations,
    free_port,
    wait_for,
    write_config,
)
from tests.webhook_sink import WebhookSink

if TYPE_CHECKING:
    from pathlib import Path

    from tests.cluster.harness import RedisServer

FEEDS = [{"name": "quiet", "url": "http://127.0.0.1:9/feed.xml", "source": "quiet"}]
UNREACHABLE = "redis unreachable"


def test_roles_stopped_while_redis_cannot_be_reached_exit_0(tmp_path: Path) -> None:
    config = write_config(
        tmp_path / "marsad.toml",
        feeds=FEEDS,
        redis_url=f"redis://127.0.0.1:{free_port()}/0",  # nothing listens there
        sink_url="http://127.0.0.1:9",
        delay=0.2,
    )
    with cluster_of(tmp_path, config) as cluster:
        roles = [cluster.start("writer"), cluster.start("fetcher", FIRST)]
        for role in roles:
            wait_for(
                lambda role=role: UNREACHABLE in role.text() or not role.alive(),
                90,
                f"{role.name} waits for Redis",
            )
        cluster.assert_alive()
        codes = cluster.stop_all()
    assert set(codes.values()) == {0}, f"{codes}\n{cluster.logs()}"
    assert "Traceback" not in cluster.logs(), cluster.logs()


@pytest.mark.slow
def test_redis_stopped_and_started_again_loses_nothing(
    tmp_path: Path, redis_aof: RedisServer
) -> None:
    spec = FarmSpec(sites=8, feeds=8, initial=96, generate=True)
    with WebFarm(spec, tmp_path / "farm") as farm, WebhookSink() as sink:
        expected = farm_expectations(farm)
        config = write_config(
            tmp_path / "marsad.toml",
            feeds=farm.info["feeds"],
            redis_url=redis_aof.url,
            sink_url=sink.url,
            delay=0.2,
        )
        with cluster_of(tmp_path, config) as cluster:
            cluster.start("writer")
            cluster.start("scheduler")
            fetchers = [cluster.start("fetcher", FIRST), cluster.start("fetcher", SECOND)]
            cluster.wait_ready()
            wait_for(
                lambda: cluster.stored() >= len(expected) // 3,
                90,
                "a third stored\n" + cluster.logs(),
            )
            assert redis_aof.stop() == 0  # SIGTERM: it writes its append-only file out
            # The fetchers notice (their heartbeats fail) and wait; every role keeps running.
            for fetcher in fetchers:
                wait_for(
                    lambda fetcher=fetcher: (
                        "heartbeat not sent" in fetcher.text() or not fetcher.alive()
                    ),
                    30,
                    f"{fetcher.name} notices Redis is gone",
                )
            cluster.assert_alive()
            redis_aof.start()
            wait_all_stored(cluster, expected, 90)
            cluster.assert_alive()
            assert_stored_once(cluster, expected)
            assert_one_alert_per_story(cluster, sink, 30)
            codes = cluster.stop_all()
        assert set(codes.values()) == {0}, f"{codes}\n{cluster.logs()}"
