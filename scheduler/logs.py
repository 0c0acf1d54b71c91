"""How the daemon and the crawling commands log: one line per record, UTC times with their
offset, as text for people or as JSON objects (python-json-logger) for a log pipeline.

Libraries speak only when something is wrong: Scrapy's, Twisted's and the extractors'
per-request lines, and APScheduler's per-job ones ("Running job…", "executed successfully"),
show from ``--log-level DEBUG`` on. Scrapy's retry middleware logs a request it gave up on as an
error although the spider's errback reports the same failure, with the feed it concerns: that
line is left to DEBUG too, so a refused connection is one line, not two.
"""

from __future__ import annotations

import logging
import sys
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from pythonjsonlogger.json import JsonFormatter

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

# Libraries whose per-request or per-step lines drown the daemon's own; warnings still show.
NOISY_LOGGERS = ("scrapy", "twisted", "trafilatura", "htmldate", "filelock", "httpx")
# Libraries whose INFO lines are per job or per step: shown at DEBUG, else from WARNING on.
CHATTY_LOGGERS = ("apscheduler",)
# "Gave up retrying <GET …>" (ERROR): the spider's errback logs the same failure, naming its
# feed; shown at DEBUG with the retries before it.
RETRY_LOGGER = "scrapy.downloadermiddlewares.retry"

LOG_FORMATS = ("text", "json")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# The JSON object's keys, in this order: time, level, logger, message (and exc_info when a
# record carries a traceback).
JSON_FIELDS = ("asctime", "levelname", "name", "message")
JSON_NAMES = {"asctime": "time", "levelname": "level", "name": "logger"}


def utc_timestamp(created: float) -> str:
    """A record's time as ISO 8601 in UTC with its offset, to the millisecond:
    ``2026-12-01T18:00:00.123+00:00``."""
    return datetime.fromtimestamp(created, UTC).isoformat(timespec="milliseconds")


class UtcTextFormatter(logging.Formatter):
    """``TIME LEVEL LOGGER: MESSAGE``, the time in UTC with its offset."""

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        return utc_timestamp(record.created)


class UtcJsonFormatter(JsonFormatter):
    """One JSON object a line; the time as :class:`UtcTextFormatter` writes it."""

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        return utc_timestamp(record.created)


def make_formatter(log_format: str = "text") -> logging.Formatter:
    if log_format == "json":
        # Arabic titles stay readable in the JSON (ensure_ascii off); it is still valid JSON.
        return UtcJsonFormatter(
            list(JSON_FIELDS), rename_fields=dict(JSON_NAMES), json_ensure_ascii=False
        )
    if log_format == "text":
        return UtcTextFormatter(TEXT_FORMAT)
    raise ValueError(f"log format must be one of {', '.join(LOG_FORMATS)}, not {log_format!r}")


def configure_logging(level: str = "INFO", log_format: str = "text") -> None:
    """One handler on stderr for the whole process, in ``log_format`` (text or json)."""
    numeric = getattr(logging, level.upper(), logging.INFO)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(make_formatter(log_format))
    logging.basicConfig(level=numeric, handlers=[handler], force=True)
    quiet_libraries(numeric)


def quiet_libraries(level: int) -> None:
    for noisy in NOISY_LOGGERS:
        logging.getLogger(noisy).setLevel(max(logging.WARNING, level))
    chatty = logging.DEBUG if level <= logging.DEBUG else logging.WARNING
    for name in CHATTY_LOGGERS:
        logging.getLogger(name).setLevel(chatty)
    logging.getLogger(RETRY_LOGGER).setLevel(
        logging.DEBUG if level <= logging.DEBUG else logging.CRITICAL
    )


class FirstRound:
    """The daemon's first round of polls, for a periodic progress line: which feeds have been
    polled once since the start, of how many, and whether a line is due (at most one every
    ``every`` seconds, and one when the round is complete). Time is injected."""

    def __init__(
        self,
        names: Iterable[str],
        *,
        every: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.waiting = set(names)
        self.total = len(self.waiting)
        self.every = every
        self.clock = clock
        self.started = clock()
        self._last_line = self.started
        self.finished = self.total == 0

    def add(self, names: Iterable[str]) -> None:
        """Feeds added by a reload while the round runs count in it."""
        if self.finished:
            return
        new = set(names) - self.waiting
        self.waiting |= new
        self.total += len(new)

    def drop(self, names: Iterable[str]) -> str | None:
        """Feeds removed by a reload no longer count (the round may end with them)."""
        if self.finished:
            return None
        gone = self.waiting & set(names)
        self.waiting -= gone
        self.total -= len(gone)
        return self._line()

    def polled(self, name: str) -> str | None:
        """A feed's poll ended: the progress line, when one is due, else None."""
        if self.finished or name not in self.waiting:
            return None
        self.waiting.discard(name)
        return self._line()

    def _line(self) -> str | None:
        now = self.clock()
        done = self.total - len(self.waiting)
        if not self.waiting:
            self.finished = True
            return (
                f"first round of polls done: {done}/{self.total} feeds in {now - self.started:.0f}s"
            )
        if now - self._last_line >= self.every:
            self._last_line = now
            return f"first round of polls: {done}/{self.total} feeds polled"
        return None
