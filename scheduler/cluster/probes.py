"""/healthz, /readyz and /metrics for a fetcher or the scheduler (the writer serves the
daemon's own: its store, its scheduler, its outbox).

Ready means: Redis answered this role's last heartbeat within ``fetcher_ttl`` (a fetcher that
cannot reach Redis has paused), and the role is not stopping. Metrics: the role's figures
(``marsad_cluster_*``), and for a fetcher its crawler's stats, as the daemon's.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from marsad.scheduler.metrics import CrawlCollector, ReadyCollector
from marsad.scheduler.probes import ProbeResult, Probes, ProbeServer, probe_app
from marsad.scheduler.services import serve_probes

if TYPE_CHECKING:
    from prometheus_client.metrics_core import Metric
    from scrapy.crawler import Crawler

    from marsad.config import Config


class RoleProbes(Probes):
    def __init__(self, loop: asyncio.AbstractEventLoop, config: Config, role: str) -> None:
        super().__init__(loop, config.store_path, config.http)
        assert config.cluster is not None
        self.role = role
        self.ttl = config.cluster.fetcher_ttl
        self.last_contact: float | None = None

    def contacted(self) -> None:
        """Redis answered a heartbeat."""
        self.last_contact = time.monotonic()

    def ready(self) -> ProbeResult:
        if self.last_contact is None:
            redis: dict[str, Any] = {"ok": False, "detail": "no heartbeat reached redis yet"}
        else:
            age = time.monotonic() - self.last_contact
            redis = {"ok": age <= self.ttl, "heartbeat_age_seconds": round(age, 3)}
            if age > self.ttl:
                redis["detail"] = f"redis has not answered a heartbeat for {age:.1f}s (paused)"
        checks = {"redis": redis}
        if self.stopping:
            checks["role"] = {"ok": False, "detail": "stopping"}
        return ProbeResult(all(check["ok"] for check in checks.values()), checks)


class FiguresCollector(Collector):
    """The role's figures (numbers only) as gauges ``marsad_cluster_<name>{role=...}``."""

    def __init__(self, role: str, figures: Callable[[], dict[str, Any]]) -> None:
        self.role = role
        self.figures = figures

    def describe(self) -> list[Metric]:
        return []

    def collect(self) -> Iterator[Metric]:
        for name, value in sorted(self.figures().items()):
            if isinstance(value, bool) or not isinstance(value, int | float):
                continue
            gauge = GaugeMetricFamily(
                f"marsad_cluster_{name}",
                f"The {self.role}'s {name.replace('_', ' ')}.",
                labels=["role"],
            )
            gauge.add_metric([self.role], float(value))
            yield gauge


def start_role_probes(
    config: Config,
    probes: RoleProbes,
    figures: Callable[[], dict[str, Any]],
    crawler: Callable[[], Crawler | None] | None = None,
) -> ProbeServer | None:
    """Serve the role's probes on ``[http] listen`` (the default port taken: any free one)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(ReadyCollector(probes.ready))
    registry.register(FiguresCollector(probes.role, figures))
    if crawler is not None:
        registry.register(CrawlCollector(crawler))
    server = serve_probes(config.http.listen, config.http.listen_given, probe_app(probes, registry))
    if server is not None:
        server.start()
    return server
