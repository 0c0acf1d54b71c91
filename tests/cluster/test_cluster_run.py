"""The cluster as real processes (#16): writer, scheduler and two fetchers on a real Redis,
against a loopback web of 8 sites; a third fetcher joins mid-run and takes sites over."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from tests.cluster.checks import assert_one_alert_per_story, assert_stored_once, wait_all_stored
from tests.cluster.harness import (
    FIRST,
    JOINING,
    SECOND,
    FarmSpec,
    WebFarm,
    cluster_of,
    farm_expectations,
    role_figures,
    same_site_gaps,
    wait_for,
    write_config,
)
from tests.webhook_sink import WebhookSink

if TYPE_CHECKING:
    from pathlib import Path

    from tests.cluster.harness import RedisServer

DELAY = 0.25


@pytest.mark.slow
def test_two_fetchers_store_every_article_once_alert_once_and_stay_polite(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    spec = FarmSpec(sites=8, feeds=8, initial=96, generate=True)
    redis = redis_server.client()
    with WebFarm(spec, tmp_path / "farm") as farm, WebhookSink() as sink:
        expected = farm_expectations(farm)
        config = write_config(
            tmp_path / "marsad.toml",
            feeds=farm.info["feeds"],
            redis_url=redis_server.url,
            sink_url=sink.url,
            delay=DELAY,
            every=10,  # polled again within the run, after the third fetcher joined
        )
        with cluster_of(tmp_path, config) as cluster:
            cluster.start("writer")
            cluster.start("scheduler")
            cluster.start("fetcher", FIRST)
            cluster.start("fetcher", SECOND)
            cluster.wait_ready()
            wait_for(lambda: cluster.stored() > 0, 60, "a first article stored")
            cluster.start("fetcher", JOINING)
            cluster.wait_ready()
            wait_all_stored(cluster, expected, 90)
            # The sites it owns now are polled there.
            wait_for(
                lambda: role_figures(redis, "fetcher", JOINING).get("polls_done", 0) >= 1,
                60,
                f"{JOINING} polls the feeds of the sites it took\n{cluster.logs()}",
            )
            cluster.assert_alive()
            assert_stored_once(cluster, expected)
            assert_one_alert_per_story(cluster, sink, 30)
            codes = cluster.stop_all()
        assert set(codes.values()) == {0}, codes
        requests = farm.new_requests()
    gaps = same_site_gaps(requests, DELAY)
    assert gaps.count > len(expected)
    assert gaps.under_half == 0, (
        f"{gaps.under_half} same-site gaps under {DELAY / 2}s "
        f"(shortest {gaps.min_gap:.3f}s): {gaps.short_pairs}"
    )
    # No article page fetched twice: each fetcher knows what the store holds (the scheduler
    # sends it with the job), wherever the feed's site went.
    pages = [r for r in requests if r.kind == "article" and r.status == 200]
    assert len(pages) == len({(r.site, r.ref) for r in pages}) == len(expected)
