"""crawler.fetch_policy on literals, with ``now`` given: due or backing off, conditional headers,
back-off after failures, Retry-After."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from marsad.crawler.fetch_policy import (
    BACKOFF_BASE,
    UNCONDITIONAL_EVERY,
    Backoff,
    after_failure,
    backoff_seconds,
    body_hash,
    conditional_headers,
    failure_wait,
    is_due,
    requested_pause,
)
from marsad.storage.models import FeedState

NOW = datetime(2024, 5, 12, 12, 0, 0, tzinfo=UTC)
HOUR = 3600.0
STATE = FeedState(
    id=1,
    name="sahel",
    url="http://sahel.example/rss",
    etag='"v1"',
    last_modified="Sun, 12 May 2024 06:00:00 GMT",
    body_hash=None,
    consecutive_failures=0,
    backoff_until=None,
    fetch_count=0,
)


@pytest.mark.parametrize(
    ("backoff_until", "due"),
    [
        (None, True),
        ("", True),
        ("2024-05-12T11:59:59Z", True),
        ("2024-05-12T12:00:00Z", True),  # the moment it ends, the feed is due
        ("2024-05-12T12:00:01Z", False),
        ("2024-05-13T00:00:00Z", False),
    ],
)
def test_a_feed_is_due_unless_it_backs_off_past_now(backoff_until: str | None, due: bool) -> None:
    assert is_due(replace(STATE, backoff_until=backoff_until), NOW) is due


def test_is_due_reads_now_in_utc() -> None:
    state = replace(STATE, backoff_until="2024-05-12T12:30:00Z")
    beirut_noon_thirty_utc = datetime.fromisoformat("2024-05-12T15:31:00+03:00")
    assert is_due(state, beirut_noon_thirty_utc)


def test_conditional_headers_send_the_validators_held() -> None:
    assert conditional_headers(STATE) == {
        "If-None-Match": '"v1"',
        "If-Modified-Since": "Sun, 12 May 2024 06:00:00 GMT",
    }
    assert conditional_headers(replace(STATE, last_modified=None)) == {"If-None-Match": '"v1"'}
    assert conditional_headers(replace(STATE, etag=None, last_modified=None)) == {}


def test_every_tenth_fetch_is_unconditional() -> None:
    counts = range(3 * UNCONDITIONAL_EVERY)
    unconditional = [n for n in counts if not conditional_headers(replace(STATE, fetch_count=n))]
    assert unconditional == [9, 19, 29]


def test_body_hash_is_sha256_hex() -> None:
    assert body_hash(b"") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    assert body_hash(b"<rss/>") != body_hash(b"<rss />")


def test_backoff_doubles_from_one_minute_and_is_capped() -> None:
    assert BACKOFF_BASE == 60.0
    assert [backoff_seconds(n, HOUR) for n in (1, 2, 3, 4, 5, 6, 7)] == [
        60.0,
        120.0,
        240.0,
        480.0,
        960.0,
        1920.0,
        HOUR,
    ]
    assert backoff_seconds(10_000, 6 * HOUR) == 6 * HOUR


@pytest.mark.parametrize(
    ("status", "header", "pause"),
    [
        (503, b"120", 120.0),
        (429, "Sun, 12 May 2024 12:05:00 GMT", 300.0),
        (503, "Sun, 12 May 2024 11:00:00 GMT", 0.0),  # a date in the past: no wait
        (503, "soon", None),
        (503, None, None),
        (500, b"120", None),  # only 429 and 503 ask us to come back later
        (None, b"120", None),
    ],
)
def test_requested_pause(
    status: int | None, header: str | bytes | None, pause: float | None
) -> None:
    assert requested_pause(status, header, NOW) == pause


def test_a_longer_retry_after_wins_up_to_the_cap() -> None:
    assert failure_wait(1, HOUR) == 60.0
    assert failure_wait(1, HOUR, requested=120.0) == 120.0
    assert failure_wait(3, HOUR, requested=120.0) == 240.0  # the back-off is already longer
    assert failure_wait(1, HOUR, requested=10 * HOUR) == HOUR
    assert failure_wait(1, HOUR, requested=0.0) == 60.0


def test_after_failure_counts_the_failure_and_says_until_when() -> None:
    assert after_failure(STATE, NOW, max_backoff=HOUR) == Backoff(
        failures=1, wait=60.0, until="2024-05-12T12:01:00Z"
    )
    third = after_failure(replace(STATE, consecutive_failures=2), NOW, max_backoff=HOUR)
    assert third == Backoff(failures=3, wait=240.0, until="2024-05-12T12:04:00Z")
    busy = after_failure(STATE, NOW, max_backoff=HOUR, requested=120.0)
    assert busy.until == "2024-05-12T12:02:00Z"
    # The store's timestamps are whole seconds.
    fractional = datetime(2024, 5, 12, 12, 0, 0, 700_000, tzinfo=UTC)
    assert after_failure(STATE, fractional, max_backoff=HOUR).until == "2024-05-12T12:01:00Z"
