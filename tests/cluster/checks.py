"""What every cluster trial must show at its end, shared by the test files."""

from __future__ import annotations

import json
from collections import defaultdict
from typing import TYPE_CHECKING

from tests.cluster.harness import Cluster, wait_for

if TYPE_CHECKING:
    from tests.webhook_sink import WebhookSink


def wait_all_stored(cluster: Cluster, expected: set[str], timeout: float) -> None:
    wait_for(
        lambda: cluster.stored() >= len(expected),
        timeout,
        f"{len(expected)} articles stored (have {cluster.stored()})\n{cluster.logs()}",
    )


def assert_stored_once(cluster: Cluster, expected: set[str]) -> None:
    """Every article the farm lists stored, each once (by URL and by canonical URL)."""
    urls = cluster.canonical_urls()
    doubled = {url: n for url, n in cluster.canonical_urls().items() if n > 1}
    assert not doubled, f"stored twice: {doubled}"
    assert set(urls) == expected, (
        f"missing {sorted(expected - set(urls))[:5]}, unexpected {sorted(set(urls) - expected)[:5]}"
    )
    assert sum(urls.values()) == len(expected)


def assert_one_alert_per_story(cluster: Cluster, sink: WebhookSink, timeout: float) -> int:
    """One alert per matched story (per rule and channel) in the outbox, each sent; the sink
    got every alert's key, and a key only ever for one story: the same key may come again
    (a retry, at least once) but never two keys for one story. Returns the alerts."""
    alerts = cluster.article_alerts()
    by_story: dict[tuple[int, str, str, int], list[str]] = defaultdict(list)
    for story, rule, channel, follow_up, key, _ in alerts:
        by_story[(story, rule, channel, follow_up)].append(key)
    assert all(len(keys) == 1 for keys in by_story.values()), by_story
    stories = {story for story, *_ in alerts}
    assert stories == cluster.matched_stories()
    assert alerts, "the rule matched no article: the trial proves nothing about alerts"
    wait_for(lambda: cluster.unsent() == 0, timeout, "every alert sent\n" + cluster.logs())
    received: dict[str, set[int]] = defaultdict(set)
    for request in list(sink.requests):
        body = json.loads(request.body)
        received[request.headers["idempotency-key"]].add(int(body["article"]["story_id"]))
    keys = {key: story for story, _, _, _, key, _ in cluster.article_alerts()}
    assert set(received) == set(keys), "the sink got other keys than the outbox holds"
    for key, got in received.items():
        assert got == {keys[key]}, f"key {key} came for stories {got}"
    story_keys: dict[int, set[str]] = defaultdict(set)
    for key, got in received.items():
        for story in got:
            story_keys[story].add(key)
    assert all(len(k) == 1 for k in story_keys.values()), "two alerts for one story"
    return len(alerts)
