"""The daemon's Prometheus metrics, in a registry of its own (not prometheus_client's global one:
two daemons in one test process, or a library that registers its own, never mix).

Three sources, all read when Prometheus scrapes (from the probe server's thread):

- the crawler's stats collector (the engine's one crawler counts for the process's life:
  :mod:`marsad.crawler.telemetry`, the spider and the pipeline count into it), and the crawl
  telemetry's download-time histogram;
- the store, on a read-only connection of its own: feeds by state, the outbox, the files' sizes
  (:mod:`marsad.storage.status`);
- what the daemon counts itself: deliveries by channel and result, the event loop's lag.

No label names a feed (the number of series must not grow with the feeds); channels are few
and named in the config.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.process_collector import ProcessCollector
from prometheus_client.registry import Collector

from marsad.crawler.telemetry import COPIES_PREFIX, FETCH_RESULTS, FETCHES_PREFIX, telemetry_of
from marsad.storage.feeds import feed_state_counts
from marsad.storage.status import open_reader, outbox_summary, store_sizes
from marsad.times import from_iso, to_iso

if TYPE_CHECKING:
    from pathlib import Path

    from prometheus_client import Metric
    from scrapy.crawler import Crawler

log = logging.getLogger("marsad.metrics")

DELIVERY_RESULTS = ("sent", "retry", "dead", "lost")
ARTICLE_STATUSES = ("new", "copy", "known")
COPY_LAYERS = ("body_hash", "minhash")
LAG_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class DaemonMetrics:
    """The registry /metrics serves, and the counters the daemon feeds."""

    def __init__(
        self,
        store_path: Path,
        crawler: Callable[[], Crawler | None],
        *,
        channels: tuple[str, ...] = (),
        started: float | None = None,
    ) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.deliveries = Counter(
            "marsad_deliveries",
            "Alert delivery attempts, by channel and result (sent, retry, dead, lost).",
            ["channel", "result"],
            registry=self.registry,
        )
        for channel in channels:
            for result in DELIVERY_RESULTS:
                self.deliveries.labels(channel, result)
        self.loop_lag = Gauge(
            "marsad_event_loop_lag_seconds",
            "How late the event loop last ran a timer (measured twice a second).",
            registry=self.registry,
        )
        self.loop_delays = Histogram(
            "marsad_event_loop_delay_seconds",
            "How late the event loop ran its lag timer, every measure (spikes the gauge misses).",
            buckets=LAG_BUCKETS,
            registry=self.registry,
        )
        start = Gauge(
            "marsad_start_time_seconds",
            "When the daemon started (Unix time).",
            registry=self.registry,
        )
        start.set(time.time() if started is None else started)
        self.registry.register(CrawlCollector(crawler))
        self.registry.register(StoreCollector(store_path))
        ProcessCollector(namespace="marsad", registry=self.registry)

    def delivery_settled(self, channel: str, result: str) -> None:
        self.deliveries.labels(channel, result).inc()

    def loop_lagged(self, seconds: float) -> None:
        self.loop_lag.set(seconds)
        self.loop_delays.observe(seconds)


class ReadyCollector(Collector):
    """/readyz as metrics, asked at each scrape: an alert rule on ``marsad_ready == 0`` needs
    no probe of its own."""

    def __init__(self, ready: Callable[[], Any]) -> None:
        self._ready = ready  # () -> a result with .ok and .checks (scheduler.probes.Probes.ready)

    def describe(self) -> list[Metric]:
        return []

    def collect(self) -> Iterator[Metric]:
        result = self._ready()
        yield _gauge("marsad_ready", "1 while /readyz passes, else 0.", 1 if result.ok else 0)
        checks = GaugeMetricFamily(
            "marsad_ready_check", "Each /readyz check: 1 passing, 0 failing.", labels=["check"]
        )
        for name, check in sorted(result.checks.items()):
            checks.add_metric([name], 1 if check.get("ok") else 0)
        yield checks


class CrawlCollector(Collector):
    """The crawler's stats as metrics, read at each scrape."""

    def __init__(self, crawler: Callable[[], Crawler | None]) -> None:
        self._crawler = crawler

    def describe(self) -> list[Metric]:
        return []  # the series are known only once the crawler counts

    def collect(self) -> Iterator[Metric]:
        crawler = self._crawler()
        stats: dict[str, Any] = {}
        if crawler is not None and crawler.stats is not None:
            # A copy taken in one step (the loop's thread keeps counting while this one reads).
            stats = crawler.stats.get_stats().copy()

        def counter(name: str, doc: str, key: str) -> CounterMetricFamily:
            family = CounterMetricFamily(name, doc)
            family.add_metric([], _number(stats.get(key)))
            return family

        yield _by_suffix(
            "marsad_fetches",
            "Feed fetches, by how they ended.",
            "result",
            stats,
            FETCHES_PREFIX,
            FETCH_RESULTS,
        )
        articles = CounterMetricFamily(
            "marsad_articles_ingested",
            "Articles the crawl stored, by status: new, copy (of a stored story), known (seen "
            "again: a sighting).",
            labels=["status"],
        )
        for status in ARTICLE_STATUSES:
            articles.add_metric([status], _number(stats.get(f"marsad/articles_{status}")))
        yield articles
        yield _by_suffix(
            "marsad_copies",
            "Copies stored, by the copy-detection layer that found them.",
            "layer",
            stats,
            COPIES_PREFIX,
            COPY_LAYERS,
        )
        yield counter("marsad_alerts_raised", "Alerts queued to be sent.", "marsad/alerts_queued")
        yield counter(
            "marsad_crawl_articles_failed",
            "Articles the store refused (their entries are tried again).",
            "marsad/articles_failed",
        )
        yield counter(
            "marsad_crawl_requests",
            "Requests the crawler's downloader sent (feeds, pages, robots.txt).",
            "downloader/request_count",
        )
        yield counter(
            "marsad_crawl_response_bytes",
            "Bytes the crawler's downloader received.",
            "downloader/response_bytes",
        )
        yield _by_suffix(
            "marsad_crawl_responses",
            "Responses the crawler received, by HTTP status.",
            "status",
            stats,
            "downloader/response_status_count/",
            (),
        )
        yield _by_suffix(
            "marsad_crawl_download_errors",
            "Downloads that raised, by exception type.",
            "type",
            stats,
            "downloader/exception_type_count/",
            (),
        )
        yield counter("marsad_crawl_retries", "Requests retried.", "retry/count")
        yield counter(
            "marsad_crawl_robots_forbidden",
            "Requests robots.txt forbade.",
            "robotstxt/forbidden",
        )
        yield _by_suffix(
            "marsad_crawl_problems",
            "Problems the crawl survived, by kind (each also logged).",
            "kind",
            stats,
            "marsad/problems/",
            (),
        )
        telemetry = telemetry_of(crawler) if crawler is not None else None
        if telemetry is not None:
            yield from telemetry.fetch_seconds.collect()


class StoreCollector(Collector):
    """Gauges read from the store at each scrape, on a read-only connection of its own."""

    def __init__(self, store_path: Path, now: Callable[[], datetime] | None = None) -> None:
        self.store_path = store_path
        self._now = now or (lambda: datetime.now(UTC))

    def describe(self) -> list[Metric]:
        return []

    def collect(self) -> Iterator[Metric]:
        size, wal = store_sizes(self.store_path)
        yield _gauge("marsad_store_size_bytes", "The store's database file.", size)
        yield _gauge("marsad_store_wal_size_bytes", "The store's write-ahead log file.", wal)
        now = self._now()
        try:
            db = open_reader(self.store_path)
            try:
                states = feed_state_counts(db, to_iso(now))
                outbox = outbox_summary(db, to_iso(now))
            finally:
                db.close()
        except Exception as exc:  # the scrape still answers: with the store marked unread
            log.warning("metrics: cannot read the store: %s", exc)
            yield _gauge("marsad_store_readable", "Whether the last scrape read the store.", 0)
            return
        yield _gauge("marsad_store_readable", "Whether the last scrape read the store.", 1)
        feeds = GaugeMetricFamily(
            "marsad_feeds",
            "Feeds by state: ok, failing, silent (as last told on the [health] channels), "
            "backing_off (after failures not yet failing), retired (no longer configured).",
            labels=["state"],
        )
        for state, count in sorted(states.items()):
            feeds.add_metric([state], count)
        yield feeds
        yield _gauge("marsad_outbox_pending", "Alerts waiting to be sent.", outbox.pending)
        yield _gauge("marsad_outbox_due", "Pending alerts due now.", outbox.due)
        yield _gauge("marsad_outbox_dead", "Alerts given up on (dead letters).", outbox.dead)
        yield _gauge(
            "marsad_outbox_oldest_pending_age_seconds",
            "Since the oldest pending alert was queued (0: none pending).",
            _age(now, outbox.oldest_pending_at),
        )
        yield _gauge(
            "marsad_outbox_oldest_due_age_seconds",
            "Since the pending alert due longest fell due (0: none due).",
            _age(now, outbox.oldest_due_at),
        )


def _by_suffix(
    name: str,
    doc: str,
    label: str,
    stats: dict[str, Any],
    prefix: str,
    always: tuple[str, ...],
) -> CounterMetricFamily:
    """One counter family from every stat under ``prefix``, the rest of the key as ``label``;
    the ``always`` values are there from the start (at 0), so a rate never begins with a gap."""
    values = dict.fromkeys(always, 0.0)
    for key, value in stats.items():
        if key.startswith(prefix):
            values[key.removeprefix(prefix)] = _number(value)
    family = CounterMetricFamily(name, doc, labels=[label])
    for suffix, value in sorted(values.items()):
        family.add_metric([suffix], value)
    return family


def _gauge(name: str, doc: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, doc, value=value)


def _number(value: object) -> float:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0.0


def _age(now: datetime, at: str | None) -> float:
    return max(0.0, (now - from_iso(at)).total_seconds()) if at else 0.0
