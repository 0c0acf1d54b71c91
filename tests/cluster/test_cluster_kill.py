"""kill -9 of each role while work is in flight (#16): when the store holds about half the
farm's articles. Nothing is lost, nothing stored twice, no story alerted twice."""

from __future__ import annotations

import time
from datetime import datetime
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
    wait_for,
    write_config,
)
from tests.webhook_sink import WebhookSink

if TYPE_CHECKING:
    from pathlib import Path

    from tests.cluster.harness import Cluster, RedisServer, Role

DELAY = 0.2
TTL = 4.0
SPEC = FarmSpec(sites=8, feeds=8, initial=96, generate=True)


def _started(cluster: Cluster) -> dict[str, Role]:
    roles = {
        "writer": cluster.start("writer"),
        "scheduler": cluster.start("scheduler"),
        "fetcher": cluster.start("fetcher", FIRST),
        "other": cluster.start("fetcher", SECOND),
    }
    cluster.wait_ready()
    return roles


def _log_time(line: str) -> float:
    return datetime.fromisoformat(line.split(" ", 1)[0]).timestamp()


@pytest.mark.slow
@pytest.mark.parametrize("role", ["writer", "fetcher", "scheduler"])
def test_kill_9_of_a_role_with_work_in_flight_loses_nothing_and_doubles_nothing(
    tmp_path: Path, redis_server: RedisServer, role: str
) -> None:
    with WebFarm(SPEC, tmp_path / "farm") as farm, WebhookSink() as sink:
        expected = farm_expectations(farm)
        config = write_config(
            tmp_path / "marsad.toml",
            feeds=farm.info["feeds"],
            redis_url=redis_server.url,
            sink_url=sink.url,
            delay=DELAY,
            fetcher_ttl=TTL,
        )
        with cluster_of(tmp_path, config) as cluster:
            roles = _started(cluster)
            wait_for(
                lambda: cluster.stored() >= len(expected) // 2,
                90,
                "half the articles stored\n" + cluster.logs(),
            )
            assert cluster.stored() < len(expected), "all stored already: nothing in flight"
            killed_at = time.time()
            cluster.kill9(roles[role])
            if role == "fetcher":
                # Its sites move to the other within the TTL and a scheduler tick (a busy
                # machine's lag allowed for).
                scheduler = roles["scheduler"]
                line = wait_for(
                    lambda: next(
                        (
                            x
                            for x in scheduler.text().splitlines()
                            if f"fetcher {FIRST} left" in x and _log_time(x) > killed_at
                        ),
                        None,
                    ),
                    TTL + 30,
                    f"{FIRST}'s jobs handed on\n{cluster.logs()}",
                )
                assert _log_time(line) - killed_at < TTL + 1.0 + 10.0, line
            else:
                cluster.start(role)
                cluster.wait_ready()
            wait_all_stored(cluster, expected, 90)
            cluster.assert_alive()
            assert_stored_once(cluster, expected)
            assert_one_alert_per_story(cluster, sink, 30)
            codes = cluster.stop_all()
        assert set(codes.values()) == {0}, codes
