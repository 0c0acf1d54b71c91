"""/metrics of a real daemon changes as its feeds are fetched; the collectors on their own.

The exposition is prometheus_client's; these tests read it back with prometheus_client's parser.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families
from scrapy.exceptions import (
    CannotResolveHostError,
    DownloadCancelledError,
    DownloadConnectionRefusedError,
    DownloadTimeoutError,
    IgnoreRequest,
    ResponseDataLossError,
)
from twisted.internet.error import DNSLookupError
from twisted.python.failure import Failure

from marsad.crawler.middlewares import RobotsTxtUnavailable
from marsad.crawler.signals import FeedOutcome
from marsad.crawler.telemetry import classify_failure, result_of
from marsad.scheduler.metrics import DaemonMetrics, StoreCollector
from marsad.storage.db import open_store
from marsad.times import to_iso
from tests.test_probes import Daemon, GatedSite, config_text, daemons, site, wait_for
from tests.webhook_sink import WebhookSink

__all__ = ["daemons", "site"]  # fixtures used here

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def samples(text: str) -> Samples:
    """Every sample of an exposition, by (name, sorted labels)."""
    out: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


def value(found: Samples, name: str, **labels: str) -> float:
    return found.get((name, tuple(sorted(labels.items()))), 0.0)


@pytest.fixture
def sink() -> Iterator[WebhookSink]:
    with WebhookSink() as receiver:
        yield receiver


@pytest.mark.slow
def test_metrics_change_as_feeds_are_fetched(
    tmp_path: Path, site: GatedSite, sink: WebhookSink, daemons: list[Daemon]
) -> None:
    feeds = {
        # Held until the first scrape has been read: it shows nothing fetched yet.
        "bridge": site.feed("/bridge.xml", "one", "two", gated=True),
        "broken": site.base + "/missing.xml",  # 404
        "private": site.base + "/private/feed.xml",  # robots.txt disallows /private/
    }
    extra = f"""
[[rules]]
name = "bridge"
keywords = ["الجسر"]
channels = ["hook"]

[channels.hook]
type = "webhook"
url = "{sink.url}/hook"
secret_env = "METRICS_TEST_SECRET"
"""
    daemon = Daemon(
        tmp_path, config_text(feeds, extra=extra), env={"METRICS_TEST_SECRET": "s3cret"}
    )
    daemons.append(daemon)
    daemon.runtime()
    status, text = daemon.get("/metrics")
    assert status == 200
    before = samples(text)
    assert value(before, "marsad_fetches_total", result="ok") == 0
    assert value(before, "marsad_articles_ingested_total", status="new") == 0
    assert value(before, "marsad_deliveries_total", channel="hook", result="sent") == 0
    states = ("ok", "failing", "silent", "backing_off", "retired")
    assert sum(value(before, "marsad_feeds", state=state) for state in states) == 3
    assert value(before, "marsad_store_size_bytes") > 0
    assert ("marsad_process_resident_memory_bytes", ()) in before

    site.release.set()

    def fetched() -> Samples | None:
        # Every feed's first poll told (the three are polled in any order, the 404 last at
        # times) and the alert delivered.
        now = samples(daemon.get("/metrics")[1])
        done = value(now, "marsad_deliveries_total", channel="hook", result="sent") >= 1
        polled = all(
            value(now, "marsad_fetches_total", result=result)
            for result in ("ok", "http_error", "robots")
        )
        return now if done and polled else None

    after = wait_for(fetched, 20, "the feeds fetched and an alert delivered")
    assert value(after, "marsad_fetches_total", result="ok") == 1
    assert value(after, "marsad_fetches_total", result="http_error") == 1
    assert value(after, "marsad_fetches_total", result="robots") == 1
    assert value(after, "marsad_articles_ingested_total", status="new") == 1
    assert value(after, "marsad_copies_total", layer="body_hash") == 1  # two links, one text
    assert value(after, "marsad_alerts_raised_total") == 1
    assert value(after, "marsad_fetch_duration_seconds_count", kind="feed") == 2
    assert value(after, "marsad_fetch_duration_seconds_count", kind="page") == 2
    assert value(after, "marsad_crawl_responses_total", status="404") >= 1
    assert value(after, "marsad_feeds", state="backing_off") == 2  # the 404 and the robots
    assert value(after, "marsad_outbox_pending") == 0
    assert value(after, "marsad_ready") == 1
    assert value(after, "marsad_ready_check", check="store") == 1
    # Each metric once, however many heartbeats went by (a repeated family is invalid
    # exposition, and a collector added per heartbeat grows without bound).
    lines = [line for line in daemon.get("/metrics")[1].splitlines() if line.startswith("marsad_")]
    assert len(lines) == len(set(lines)), sorted(x for x in lines if lines.count(x) > 1)[:5]
    assert sum(line.startswith("marsad_ready ") for line in lines) == 1
    # Never a label naming a feed.
    assert not any(dict(labels).get(k) in feeds for _, labels in after for k in ("feed", "name"))
    assert all(not name or name.startswith("marsad_") for name, _ in after)
    assert daemon.stop() == 0, daemon.output


def test_two_daemons_metrics_in_one_process_do_not_mix(tmp_path: Path) -> None:
    db = open_store(tmp_path / "a.db")
    db.close()
    first = DaemonMetrics(tmp_path / "a.db", lambda: None, channels=("hook",))
    second = DaemonMetrics(tmp_path / "a.db", lambda: None, channels=("hook",))
    first.delivery_settled("hook", "sent")
    assert (
        first.registry.get_sample_value(
            "marsad_deliveries_total", {"channel": "hook", "result": "sent"}
        )
        == 1
    )
    assert (
        second.registry.get_sample_value(
            "marsad_deliveries_total", {"channel": "hook", "result": "sent"}
        )
        == 0
    )


def test_store_gauges_read_feeds_and_the_outbox(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    db = open_store(path)
    now = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
    db.conn.executescript(
        f"""
        INSERT INTO feeds (id, name, url, created_at) VALUES (1, 'a', 'http://a/', 'x');
        INSERT INTO feeds (id, name, url, created_at, retired_at)
            VALUES (2, 'b', 'http://b/', 'x', 'y');
        INSERT INTO feeds (id, name, url, created_at, consecutive_failures, backoff_until)
            VALUES (3, 'c', 'http://c/', 'x', 1, '{to_iso(now + timedelta(minutes=5))}');
        INSERT INTO stories (id, first_seen, last_seen) VALUES (1, 'x', 'x');
        INSERT INTO articles
            (id, canonical_url, url, source, fetched_at, story_id, extraction, body_hash)
            VALUES (1, 'http://a/1', 'http://a/1', 'a', 'x', 1, 'feed', 'h');
        """
    )
    for n, (status, due) in enumerate([("pending", -300), ("pending", 600), ("dead", -900)]):
        db.execute(
            "INSERT INTO alerts (article_id, story_id, rule, channel, idempotency_key, payload,"
            " status, next_attempt_at, created_at) VALUES (1, 1, ?, 'hook', ?, '{}', ?, ?, ?)",
            [
                f"r{n}",
                f"k{n}",
                status,
                to_iso(now + timedelta(seconds=due)),
                to_iso(now - timedelta(hours=1)),
            ],
        )
    db.conn.commit()
    db.close()
    found = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in StoreCollector(path, now=lambda: now).collect()
        for s in family.samples
    }
    assert value(found, "marsad_feeds", state="ok") == 1
    assert value(found, "marsad_feeds", state="retired") == 1
    assert value(found, "marsad_feeds", state="backing_off") == 1
    assert value(found, "marsad_outbox_pending") == 2
    assert value(found, "marsad_outbox_due") == 1
    assert value(found, "marsad_outbox_dead") == 1
    assert value(found, "marsad_outbox_oldest_pending_age_seconds") == 3600
    assert value(found, "marsad_outbox_oldest_due_age_seconds") == 300
    assert value(found, "marsad_store_readable") == 1


def test_a_store_that_cannot_be_read_is_said_not_hidden(tmp_path: Path) -> None:
    path = tmp_path / "not-a-store.db"
    path.write_bytes(b"this is not SQLite" * 100)
    found = {s.name: s.value for family in StoreCollector(path).collect() for s in family.samples}
    assert found["marsad_store_readable"] == 0
    assert found["marsad_store_size_bytes"] == 1800


@pytest.mark.parametrize(
    ("error", "result"),
    [
        (CannotResolveHostError("no such host"), "dns"),
        (DNSLookupError("no results"), "dns"),
        (DownloadTimeoutError("took too long"), "timeout"),
        (IgnoreRequest("Forbidden by robots.txt"), "robots"),
        (RobotsTxtUnavailable("robots.txt not fetched"), "robots"),
        (IgnoreRequest("not sent: example.com asked to wait"), "not_sent"),
        (DownloadConnectionRefusedError("refused"), "connection"),
        (ResponseDataLossError("cut short"), "connection"),
        (DownloadCancelledError("over the size limit"), "too_large"),
        (ValueError("something else"), "error"),
    ],
)
def test_a_failed_download_is_classified_by_its_cause(error: Exception, result: str) -> None:
    assert classify_failure(Failure(error)) == result


def test_fetch_results_of_outcomes_the_spider_sends() -> None:
    def outcome(kind: str, status: int | None) -> FeedOutcome:
        return FeedOutcome(1, "f", "http://x/", kind, status, "2026-01-01T00:00:00Z")

    assert result_of(outcome("ok", 200)) == "ok"
    assert result_of(outcome("unchanged", 304)) == "not_modified"
    assert result_of(outcome("unchanged", 200)) == "same_hash"
    assert result_of(outcome("failed", 200)) == "parse_error"  # answered, but not a feed
    assert result_of(outcome("failed", 503)) is None  # counted by the errback, with its cause
    assert result_of(outcome("failed", None)) is None
