"""Digests, the pure parts: the ``digest``/``timezone`` keys, period boundaries in a zone
(daylight-saving changes included), and a period's stories merged, ordered and cut."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, time

import pytest

from marsad.alerts.channels import ChannelError, parse_channels
from marsad.alerts.channels.digest_schedule import DigestSchedule, parse_digest
from marsad.alerts.digest import (
    MemberAlert,
    Period,
    closed_periods,
    digest_payload,
    last_closed_period,
    period_containing,
    stories_of,
)

RIYADH_0700 = DigestSchedule("daily", "Asia/Riyadh", time(7, 0))


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)  # type: ignore[misc]


@pytest.mark.parametrize(
    ("table", "expected"),
    [
        ({}, None),
        ({"digest": "none"}, None),
        ({"digest": "hourly"}, DigestSchedule("hourly", "UTC")),
        ({"digest": "daily 07:00", "timezone": "Asia/Riyadh"}, RIYADH_0700),
        ({"digest": " Daily  7:05 "}, DigestSchedule("daily", "UTC", time(7, 5))),
    ],
)
def test_digest_keys(table: dict[str, object], expected: DigestSchedule | None) -> None:
    assert parse_digest(table, "channels.x") == expected


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ({"digest": "daily 24:00"}, 'channels.x.digest: must be "none", "hourly" or "daily HH:MM"'),
        ({"digest": "daily 7"}, "channels.x.digest: must be"),
        ({"digest": "weekly"}, "channels.x.digest: must be"),
        ({"digest": 7}, "channels.x.digest: must be"),
        ({"digest": "hourly", "timezone": "Mars/Olympus"}, "channels.x.timezone: not a known"),
        ({"digest": "hourly", "timezone": "../../etc/passwd"}, "channels.x.timezone: not a known"),
        ({"digest": "hourly", "timezone": 3}, "channels.x.timezone: not a known time zone"),
    ],
)
def test_a_bad_digest_or_zone_is_one_line_naming_the_key(
    table: dict[str, object], message: str
) -> None:
    with pytest.raises(ChannelError) as info:
        parse_digest(table, "channels.x")
    assert str(info.value).startswith(message)
    assert "\n" not in str(info.value)


def test_every_channel_type_reads_the_digest_keys() -> None:
    channels = parse_channels(
        {
            "hook": {"type": "webhook", "url": "http://127.0.0.1:9/", "digest": "hourly"},
            "mail": {"type": "email", "to": ["a@b.example"], "digest": "daily 07:00"},
            "chat": {"type": "apprise", "url_env": "U", "digest": "daily 07:00"},
        },
        environ={},
    )
    assert [getattr(c, "digest", None) for c in channels.values()] == [
        DigestSchedule("hourly", "UTC"),
        DigestSchedule("daily", "UTC", time(7, 0)),
        DigestSchedule("daily", "UTC", time(7, 0)),
    ]
    with pytest.raises(ChannelError, match=r"^channels.mail.timezone: not a known"):
        parse_channels(
            {"mail": {"type": "email", "to": "a@b.example", "timezone": "Nowhere/Land"}},
            environ={},
        )


def test_daily_0700_riyadh_periods() -> None:
    # 07:00 in Riyadh (UTC+3, no daylight-saving time) is 04:00 UTC.
    assert last_closed_period(RIYADH_0700, utc(2025, 3, 2, 5, 0)) == Period(
        utc(2025, 3, 1, 4, 0), utc(2025, 3, 2, 4, 0)
    )
    # One second before 07:00: the period ending today has not ended.
    assert last_closed_period(RIYADH_0700, utc(2025, 3, 2, 3, 59, 59)) == Period(
        utc(2025, 2, 28, 4, 0), utc(2025, 3, 1, 4, 0)
    )
    # At 07:00 sharp it has.
    assert last_closed_period(RIYADH_0700, utc(2025, 3, 2, 4, 0)).end == utc(2025, 3, 2, 4, 0)
    assert period_containing(RIYADH_0700, utc(2025, 3, 2, 4, 0)) == Period(
        utc(2025, 3, 2, 4, 0), utc(2025, 3, 3, 4, 0)
    )


def test_daily_periods_across_daylight_saving_changes_still_end_at_0700() -> None:
    berlin = DigestSchedule("daily", "Europe/Berlin", time(7, 0))
    # 30 March 2025: clocks go from 02:00 CET to 03:00 CEST; that day's period is 23 hours.
    spring = period_containing(berlin, utc(2025, 3, 29, 12, 0))
    assert spring == Period(utc(2025, 3, 29, 6, 0), utc(2025, 3, 30, 5, 0))
    # 26 October 2025: back from 03:00 CEST to 02:00 CET; 25 hours.
    autumn = period_containing(berlin, utc(2025, 10, 25, 12, 0))
    assert autumn == Period(utc(2025, 10, 25, 5, 0), utc(2025, 10, 26, 6, 0))
    # A time the clocks skip (02:30 on 30 March) ends the period just after the jump.
    skipped = DigestSchedule("daily", "Europe/Berlin", time(2, 30))
    assert last_closed_period(skipped, utc(2025, 3, 30, 12, 0)).end == utc(2025, 3, 30, 1, 30)


def test_hourly_periods_follow_the_zone_and_the_repeated_hour() -> None:
    # Kolkata is UTC+5:30: its hours start at half past, UTC.
    kolkata = DigestSchedule("hourly", "Asia/Kolkata")
    assert last_closed_period(kolkata, utc(2025, 3, 1, 12, 10)) == Period(
        utc(2025, 3, 1, 10, 30), utc(2025, 3, 1, 11, 30)
    )
    # Berlin's 02:00-03:00 happens twice on 26 October 2025: two periods of an hour each.
    berlin = DigestSchedule("hourly", "Europe/Berlin")
    first = period_containing(berlin, utc(2025, 10, 26, 0, 30))
    second = period_containing(berlin, utc(2025, 10, 26, 1, 30))
    assert first == Period(utc(2025, 10, 26, 0, 0), utc(2025, 10, 26, 1, 0))
    assert second == Period(utc(2025, 10, 26, 1, 0), utc(2025, 10, 26, 2, 0))


def test_moments_go_to_their_ended_periods_only() -> None:
    hourly = DigestSchedule("hourly", "UTC")
    moments = [utc(2025, 3, 1, 9, 59), utc(2025, 3, 1, 10, 0), utc(2025, 3, 1, 10, 30)]
    assert closed_periods(hourly, moments, utc(2025, 3, 1, 10, 45)) == {
        Period(utc(2025, 3, 1, 9, 0), utc(2025, 3, 1, 10, 0)): [0]
    }


def member(
    alert_id: int, story: int, rule: str, at: str, words: list[str], outlets: int = 1
) -> MemberAlert:
    return MemberAlert(
        id=alert_id,
        story_id=story,
        rule=rule,
        created_at=at,
        payload={
            "article": {
                "title": f"خبر {story}",
                "url": f"https://a.example/{story}",
                "source": "أ",
            },
            "matches": [{"keyword": w, "surface": w} for w in words],
        },
        outlets=outlets,
    )


def test_a_storys_alerts_merge_into_one_entry_newest_first() -> None:
    members = [
        member(1, 10, "r1", "2025-03-01T05:00:00Z", ["الانسحاب"]),
        member(2, 11, "r1", "2025-03-01T06:00:00Z", ["الهدنة"], outlets=2),
        member(3, 10, "r2", "2025-03-01T07:00:00Z", ["الانسحاب", "القاعدة"], outlets=3),
    ]
    stories = stories_of(members)
    assert [(s.story_id, s.rules, s.words, s.outlets, s.alerted_at) for s in stories] == [
        (10, ("r1", "r2"), ("الانسحاب", "القاعدة"), 3, "2025-03-01T07:00:00Z"),
        (11, ("r1",), ("الهدنة",), 2, "2025-03-01T06:00:00Z"),
    ]
    assert stories[0].alert_ids == (1, 3)


def test_past_the_limit_the_digest_counts_the_rest() -> None:
    members = [member(i, 100 + i, "r", f"2025-03-01T05:{i:02d}:00Z", ["ك"]) for i in range(25)]
    period = Period(utc(2025, 3, 1, 4, 0), utc(2025, 3, 2, 4, 0))
    payload = digest_payload("hook", RIYADH_0700, period, stories_of(members), limit=20)
    assert payload["total"] == 25
    assert payload["more"] == 5
    assert [s["story_id"] for s in payload["stories"]] == list(range(124, 104, -1))
    assert payload["period"] == {"start": "2025-03-01T04:00:00Z", "end": "2025-03-02T04:00:00Z"}
    assert payload["schedule"] == "daily 07:00 Asia/Riyadh"


@pytest.mark.parametrize(
    "module", ["marsad.alerts.digest", "marsad.alerts.channels.digest_schedule"]
)
def test_the_digest_modules_import_first_in_a_fresh_process(module: str) -> None:
    # Imported before the channel registry, a schedule module outside the channels package
    # made a cycle (the registry's types import the schedule back).
    subprocess.run(
        [sys.executable, "-c", f"import {module}"], check=True, timeout=60, capture_output=True
    )
