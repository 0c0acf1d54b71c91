"""marsad.times: the store's one time format, durations, and times people type."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta, timezone

import pytest

from marsad.times import format_duration, parse_duration, parse_when, to_iso, to_utc_iso

NOW = datetime(2024, 5, 3, 15, 30, tzinfo=UTC)
WEEK = 7 * 86400


def test_iso_round_trip_in_utc_whole_seconds() -> None:
    moment = datetime(2024, 5, 3, 18, 30, 5, 999, tzinfo=timezone(timedelta(hours=3)))
    assert to_iso(moment) == "2024-05-03T15:30:05Z"
    # Python reads it back as it is: no parser of our own needed.
    assert datetime.fromisoformat("2024-05-03T15:30:05Z") == datetime(
        2024, 5, 3, 15, 30, 5, tzinfo=UTC
    )
    assert to_iso(datetime(2024, 5, 3, 15, 30)) == "2024-05-03T15:30:00Z"  # naive is UTC


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("90s", 90),
        ("5m", 300),
        ("2h", 7200),
        ("1d", 86400),
        ("1w", 604800),
        ("1.5h", 5400),
        ("45", 45),
        (45, 45),
        (0.5, 0.5),
    ],
)
def test_durations(value: object, seconds: float) -> None:
    assert parse_duration(value, low=0.1, high=WEEK) == seconds


@pytest.mark.parametrize(
    "value",
    [
        "often",
        "0s",
        "-5m",
        0,
        -3,
        True,
        "5 weeks",
        None,
        "2w",  # beyond the range
        10**30,
        float("inf"),
        float("nan"),
        "inf",
        "nan",
    ],
)
def test_bad_durations_say_the_syntax_and_the_range(value: object) -> None:
    expected = (
        'must be a duration from 1s to 1w ("90s", "5m", "2h", "1d", "1w" or a number of '
        f"seconds), got {value!r}"
    )
    with pytest.raises(ValueError) as info:
        parse_duration(value, low=1, high=WEEK)
    assert str(info.value) == expected


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [(259200, "3d"), (604800, "1w"), (90, "90s"), (5400, "90m"), (3600, "1h"), (0.3, "0.3s")],
)
def test_durations_are_shown_in_their_largest_whole_unit(seconds: float, shown: str) -> None:
    assert format_duration(seconds) == shown


@pytest.mark.parametrize(
    ("text", "end_of_day", "expected"),
    [
        ("today", False, "2024-05-03T00:00:00Z"),
        ("today", True, "2024-05-04T00:00:00Z"),
        ("yesterday", False, "2024-05-02T00:00:00Z"),
        ("6h", False, "2024-05-03T09:30:00Z"),
        ("7d", False, "2024-04-26T15:30:00Z"),
        ("30m", False, "2024-05-03T15:00:00Z"),
        ("90s", False, "2024-05-03T15:28:30Z"),
        ("2w", False, "2024-04-19T15:30:00Z"),
        ("2024-05-01", False, "2024-05-01T00:00:00Z"),
        ("2024-05-01", True, "2024-05-02T00:00:00Z"),
        ("2024-05-01T10:00:00+03:00", False, "2024-05-01T07:00:00Z"),
        ("2024-05-01T10:00:00Z", True, "2024-05-01T10:00:00Z"),
    ],
)
def test_parse_when(text: str, end_of_day: bool, expected: str) -> None:
    assert parse_when(text, NOW, end_of_day=end_of_day) == expected


@pytest.mark.parametrize("text", ["soon", "30", "2024-02-31x", "", "99999999999d"])
def test_parse_when_rejects_nonsense(text: str) -> None:
    with pytest.raises(ValueError, match="expected today"):
        parse_when(text, NOW)


def test_parse_when_rejects_an_impossible_date() -> None:
    with pytest.raises(ValueError, match="not a date"):
        parse_when("2024-02-31", NOW)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2020-03-29", "2020-03-29T00:00:00Z"),
        ("2020-03-29T10:00:00+03:00", "2020-03-29T07:00:00Z"),
        ("Sun, 29 Mar 2020 10:00:00 +0300", "2020-03-29T07:00:00Z"),
        (1585465200, "2020-03-29T07:00:00Z"),
        (time.struct_time((2020, 3, 29, 7, 0, 0, 6, 89, 0)), "2020-03-29T07:00:00Z"),
        ("yesterday-ish", None),
        ("1850-01-01", None),
        (True, None),
        # Numbers an import line may hold: no date, and no exception that stops the import.
        (float("inf"), None),
        (float("nan"), None),
        (1e20, None),
        (-1e20, None),
    ],
)
def test_publication_dates(value: object, expected: str | None) -> None:
    assert to_utc_iso(value) == expected
