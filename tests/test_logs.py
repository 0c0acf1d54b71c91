"""Logs people can read: UTC times with their offset, JSON lines that parse, one line per
failure (a refused connection, an unresolvable name), the first round's progress."""

from __future__ import annotations

import json
import logging
import re
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from marsad.scheduler.logs import (
    CHATTY_LOGGERS,
    RETRY_LOGGER,
    FirstRound,
    make_formatter,
    quiet_libraries,
    utc_timestamp,
)
from tests.feedserver import FeedServer

JSON = ("--log-format", "json")
ISO_UTC = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00")


def record(message: str, *args: object, level: int = logging.WARNING) -> logging.LogRecord:
    made = logging.LogRecord("marsad.test", level, __file__, 1, message, args, None)
    made.created = 1_796_148_000.123  # 2026-12-01T18:00:00.123Z
    return made


def test_times_are_utc_iso_8601_with_their_offset() -> None:
    assert utc_timestamp(1_796_148_000.123) == "2026-12-01T18:00:00.123+00:00"
    line = make_formatter("text").format(record("feed %s: %d new", "شمال", 3))
    assert line == "2026-12-01T18:00:00.123+00:00 WARNING marsad.test: feed شمال: 3 new"


def test_json_lines_parse_and_keep_arabic_and_tracebacks_on_one_line() -> None:
    formatter = make_formatter("json")
    parsed = json.loads(formatter.format(record("خبر %s", "عاجل")))
    assert parsed == {
        "time": "2026-12-01T18:00:00.123+00:00",
        "level": "WARNING",
        "logger": "marsad.test",
        "message": "خبر عاجل",
    }
    try:
        raise ValueError("boom")
    except ValueError:
        failed = record("failed")
        failed.exc_info = sys.exc_info()
    line = formatter.format(failed)
    assert "\n" not in line
    assert "ValueError: boom" in json.loads(line)["exc_info"]


def test_an_unknown_log_format_is_refused() -> None:
    with pytest.raises(ValueError, match="text, json"):
        make_formatter("xml")


@pytest.fixture
def library_levels() -> Iterator[None]:
    names = (*CHATTY_LOGGERS, RETRY_LOGGER, "scrapy")
    saved = {name: logging.getLogger(name).level for name in names}
    yield
    for name, level in saved.items():
        logging.getLogger(name).setLevel(level)


def test_apscheduler_per_job_lines_and_scrapys_give_up_line_show_only_at_debug(
    library_levels: None,
) -> None:
    quiet_libraries(logging.INFO)
    assert not logging.getLogger("apscheduler.executors.default").isEnabledFor(logging.INFO)
    assert logging.getLogger("apscheduler.scheduler").isEnabledFor(logging.WARNING)
    assert not logging.getLogger(RETRY_LOGGER).isEnabledFor(logging.ERROR)
    quiet_libraries(logging.DEBUG)
    assert logging.getLogger("apscheduler.executors.default").isEnabledFor(logging.INFO)
    assert logging.getLogger(RETRY_LOGGER).isEnabledFor(logging.ERROR)


def test_the_first_round_says_feeds_done_of_all_now_and_then_and_when_complete() -> None:
    now = [0.0]
    first = FirstRound(["a", "b", "c", "d"], every=30.0, clock=lambda: now[0])
    now[0] = 5.0
    assert first.polled("a") is None  # too soon for a line
    now[0] = 31.0
    assert first.polled("b") == "first round of polls: 2/4 feeds polled"
    assert first.polled("b") is None  # its second poll is not the first round's
    first.add(["e"])  # a reload added a feed
    now[0] = 40.0
    assert first.polled("c") is None
    assert first.drop(["e"]) is None  # a reload dropped it again
    now[0] = 95.0
    assert first.polled("d") == "first round of polls done: 4/4 feeds in 95s"
    assert first.finished and first.polled("a") is None


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.mark.slow
def test_a_refused_connection_and_an_unresolvable_name_are_one_json_line_each(
    tmp_path: Path,
) -> None:
    dead = free_port()
    config = tmp_path / "marsad.toml"
    with FeedServer() as site:
        config.write_text(
            f"""
[store]
path = "store.db"
[crawl]
delay = 0
download_timeout = "5s"
allow_private = ["127.0.0.0/8"]
workers = 0
[[feeds]]
name = "refused"
url = "http://127.0.0.1:{dead}/feed.xml"
[[feeds]]
name = "nodns"
url = "http://no-such-host.invalid/feed.xml"
[[feeds]]
name = "fine"
url = "{site.serve_numbered(1)}"
""",
            encoding="utf-8",
        )
        crawl = subprocess.run(
            [sys.executable, "-m", "marsad", "crawl", "--config", str(config), *JSON],
            capture_output=True,
            text=True,
            timeout=120,
            cwd=tmp_path,
        )
    assert crawl.returncode == 3, crawl.stderr  # partial: two of three feeds failed
    records = [json.loads(line) for line in crawl.stderr.splitlines()]
    assert records and all(ISO_UTC.fullmatch(r["time"]) for r in records)
    assert "Traceback" not in crawl.stderr and "Gave up retrying" not in crawl.stderr
    # Where it happened (the crawler: one line, what and where), then the crawl's summary.
    spider = [r["message"] for r in records if r["logger"] == "marsad.crawler.spiders.base"]
    [refused] = [m for m in spider if "'refused'" in m]
    assert refused.startswith(
        f"feed 'refused' (http://127.0.0.1:{dead}/feed.xml): Connection refused by "
        f"127.0.0.1:{dead}; failure 1 in a row, next try after "
    )
    [nodns] = [m for m in spider if "'nodns'" in m]
    assert "DNS lookup failed: no address found for no-such-host.invalid" in nodns
