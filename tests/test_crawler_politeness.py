"""The crawler's politeness pieces: back-off, conditional GET, Retry-After, settings, how long a
robots.txt is kept, first polls spread."""

from __future__ import annotations

import random
from collections import Counter
from datetime import UTC, datetime

from marsad.crawler.config import CrawlConfig, FeedConfig
from marsad.crawler.fetch_policy import (
    BACKOFF_BASE,
    UNCONDITIONAL_EVERY,
    backoff_seconds,
    conditional_headers,
)
from marsad.crawler.middlewares import robots_txt_lifetime
from marsad.crawler.runner import crawler_settings
from marsad.retry import retry_after_seconds
from marsad.scheduler.first_polls import SPACING, first_poll_times
from marsad.storage.models import FeedState


def _state(
    fetch_count: int, etag: str | None = '"v1"', lm: str | None = "Sun, 12 May 2024"
) -> FeedState:
    return FeedState(1, "f", "http://e/", etag, lm, None, 0, None, fetch_count)


def test_backoff_doubles_and_is_capped() -> None:
    waits = [backoff_seconds(n, 3600.0) for n in range(1, 10)]
    assert waits[:3] == [BACKOFF_BASE, 2 * BACKOFF_BASE, 4 * BACKOFF_BASE]
    assert waits[-1] == 3600.0
    assert waits == sorted(waits)
    assert backoff_seconds(10_000, 6 * 3600.0) == 6 * 3600.0


def test_conditional_headers_and_the_periodic_unconditional_fetch() -> None:
    assert conditional_headers(_state(0)) == {
        "If-None-Match": '"v1"',
        "If-Modified-Since": "Sun, 12 May 2024",
    }
    assert conditional_headers(_state(0, etag=None, lm=None)) == {}
    sent = [bool(conditional_headers(_state(n))) for n in range(3 * UNCONDITIONAL_EVERY)]
    assert sent.count(False) == 3  # servers lie about validators: check the body now and then


def test_retry_after() -> None:
    now = datetime(2024, 5, 12, 12, 0, 0, tzinfo=UTC)
    assert retry_after_seconds(b"120", now) == 120.0
    assert retry_after_seconds("Sun, 12 May 2024 12:05:00 GMT", now) == 300.0
    assert retry_after_seconds("Sun, 12 May 2024 11:00:00 GMT", now) == 0.0
    assert retry_after_seconds("soon", now) is None
    assert retry_after_seconds(None, now) is None


def test_settings_carry_the_crawl_config() -> None:
    crawl = CrawlConfig(
        user_agent="ua/1",
        delay=0.0,
        download_timeout=3.0,
        max_page_bytes=1000,
        concurrency_per_domain=1,
        obey_robots=True,
    )
    settings = crawler_settings(crawl)
    assert settings.get("USER_AGENT") == "ua/1"
    assert settings.getfloat("DOWNLOAD_DELAY") == 0.0
    assert settings.getfloat("DOWNLOAD_TIMEOUT") == 3.0
    assert settings.getint("DOWNLOAD_MAXSIZE") == 1000
    assert settings.getint("CONCURRENT_REQUESTS_PER_DOMAIN") == 1
    assert settings.getbool("ROBOTSTXT_OBEY") is True
    assert settings.getdict("ITEM_PIPELINES") == {"marsad.crawler.pipelines.StorePipeline": 300}
    assert 503 not in settings.getlist("RETRY_HTTP_CODES")


def test_the_delay_is_not_randomised_and_global_concurrency_follows_the_config() -> None:
    settings = crawler_settings(CrawlConfig(delay=1.0, concurrency=200))
    # Randomised, the mean gap was 1.22 x the delay and some gaps half of it.
    assert settings.getfloat("DOWNLOAD_DELAY_JITTER") == 0
    assert settings.getint("CONCURRENT_REQUESTS") == 200
    assert crawler_settings(CrawlConfig()).getint("CONCURRENT_REQUESTS") == 64


def test_a_robots_txt_is_kept_a_day_or_as_long_as_its_max_age_says_within_an_hour() -> None:
    assert robots_txt_lifetime(None) == 24 * 3600.0
    assert robots_txt_lifetime(b"public, max-age=7200") == 7200.0
    assert robots_txt_lifetime(b"max-age=0, no-cache") == 3600.0  # not before every page
    assert robots_txt_lifetime(b"Max-Age = 999999") == 24 * 3600.0  # RFC 9309: a day at most
    assert robots_txt_lifetime(b"no-store") == 24 * 3600.0


def test_first_polls_are_spread_over_each_interval_as_wide_as_the_feeds_need() -> None:
    start = datetime(2024, 5, 12, 12, 0, tzinfo=UTC)
    many = [FeedConfig(f"f{n}", f"http://s{n}.example/", 30.0, f"f{n}") for n in range(750)]
    offsets = [
        (at - start).total_seconds()
        for at in first_poll_times(many, start, random.Random(1)).values()
    ]
    assert min(offsets) >= 0 and max(offsets) <= 30.0
    # Spread over the interval: each tenth of it holds about a tenth of the first polls.
    tenths = Counter(int(offset // 3.0) for offset in offsets)
    assert all(50 <= tenths[k] <= 100 for k in range(10)), tenths
    few = [FeedConfig(f"f{n}", f"http://s{n}.example/", 600.0, f"f{n}") for n in range(3)]
    soon = first_poll_times(few, start, random.Random(2)).values()
    assert max((at - start).total_seconds() for at in soon) <= SPACING * 3  # at once
