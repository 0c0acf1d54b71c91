"""What a crawl needs to know: the feeds and the politeness limits, as frozen records."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class FeedConfig:
    name: str
    url: str
    every: float  # seconds between polls, before jitter
    source: str  # the outlet name stored on its articles
    kind: str = "rss"  # which spider reads it: a key of marsad.crawler.spiders.SPIDERS
    # Whether its interval adapts to how often it publishes (``every`` is then the starting
    # point: marsad.crawler.polling); false keeps it at ``every``.
    adaptive: bool = True
    # Silent once nothing new has arrived for this long (seconds); None: judged from its
    # usual gap between new entries (marsad.crawler.health).
    expect_every: float | None = None


@dataclass(frozen=True)
class PollingConfig:
    """``[polling]``: the bounds of adaptive intervals (marsad.crawler.polling)."""

    min_interval: float = 5 * 60.0
    max_interval: float = 6 * 3600.0
    # Miniflux's entry-frequency factor: interval = week / (new entries in a week x factor),
    # so 2 polls twice per expected entry.
    factor: float = 1.0


@dataclass(frozen=True)
class CrawlConfig:
    user_agent: str = "marsad/0.1 (+https://github.com/marsad; Arabic news monitor)"
    obey_robots: bool = True
    download_timeout: float = 30.0
    max_page_bytes: int = 5 * 1024 * 1024
    concurrency_per_domain: int = 2
    # Requests in flight over all sites: politeness is per site, so this only bounds the
    # crawler's own load (Scrapy's default of 16 starved a crawl of many sites).
    concurrency: int = 64
    delay: float = 1.0
    max_articles_per_feed: int = 200
    # After this many consecutive failures a feed waits up to max_backoff between tries.
    max_backoff: float = 6 * 3600.0
    # Addresses the crawler may fetch beyond the public internet: CIDRs ("10.0.0.0/8",
    # "127.0.0.1/32") or host names ("localhost"). Empty: public addresses only.
    allow_private: tuple[str, ...] = ()
    # Worker processes that turn pages into articles; None: one per core but one (1 to 4); 0: none,
    # the crawl's own process does it.
    workers: int | None = None
