"""One poll of some feeds on the long-lived crawl engine: what is still open, what it counted.

The engine runs many polls at once on one crawler (every feed of a site shares its downloader
slot), so a poll cannot wait for "the crawl is over". It counts its open units of work instead:
each feed request, each article request it follows and each item it hands to the pipeline is
opened when created and closed when done (its callback or errback has returned, or the item has
been committed or reported). When the count falls to zero the poll is over and its report is
ready. Counts (articles new, feeds failed, ...) and problems are kept per poll, so two polls
running together each report their own.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

# Keys of the counts a poll reports (CrawlReport's fields, without "feeds_skipped_backoff").
COUNTED = (
    "feeds_ok",
    "feeds_failed",
    "feeds_unchanged",
    "articles_new",
    "articles_copy",
    "articles_known",
    "alerts_queued",
    "articles_failed",
    "entries_skipped",
    "entries_gave_up",
    "entries_retrying",
)


@dataclass(frozen=True)
class CrawlReport:
    feeds_ok: int
    feeds_failed: int
    feeds_unchanged: int
    feeds_skipped_backoff: int
    articles_new: int
    articles_copy: int
    articles_known: int
    alerts_queued: int
    errors: tuple[str, ...]
    # Articles the store refused (their entries are tried again on later polls).
    articles_failed: int = 0
    # Entries newly skipped (they cannot be used), and newly given up (never stored).
    entries_skipped: int = 0
    entries_gave_up: int = 0
    # Entries whose page failed for now and whose feed gives no text: tried on the next poll.
    entries_retrying: int = 0


def empty_report(skipped: int) -> CrawlReport:
    return CrawlReport(
        feeds_ok=0,
        feeds_failed=0,
        feeds_unchanged=0,
        feeds_skipped_backoff=skipped,
        articles_new=0,
        articles_copy=0,
        articles_known=0,
        alerts_queued=0,
        errors=(),
    )


class Poll:
    """The open work and the counts of one poll. Created on the engine's event loop."""

    def __init__(self, feed_names: Iterable[str]) -> None:
        self.feed_names = frozenset(feed_names)
        self.counts: Counter[str] = Counter()
        self.errors: list[str] = []
        self._open = 0
        self._over: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._last_change = time.monotonic()

    def open(self) -> None:
        self._open += 1
        self._last_change = time.monotonic()

    def close(self) -> None:
        self._open -= 1
        self._last_change = time.monotonic()
        if self._open <= 0 and not self._over.done():
            self._over.set_result(None)

    def abandon(self) -> None:
        """The engine stopped: whatever is still open will not finish in this process (every
        entry not stored is still owed in the store, so the next poll takes it)."""
        if not self._over.done():
            self._over.set_result(None)

    @property
    def is_over(self) -> bool:
        return self._over.done()

    @property
    def open_units(self) -> int:
        return self._open

    async def wait(self, stall_seconds: float) -> bool:
        """Until the poll is over (True), or until nothing opened or closed in it for
        ``stall_seconds`` (False: a unit of work was lost; the poll is given up, so that its
        feeds are polled again, and what it did not store is still owed in the store)."""
        while not self._over.done():
            idle = time.monotonic() - self._last_change
            if idle >= stall_seconds:
                self.abandon()
                return False
            try:
                await asyncio.wait_for(asyncio.shield(self._over), stall_seconds - idle)
            except TimeoutError:
                continue
        return True

    def count(self, key: str, value: int = 1) -> None:
        if value:
            self.counts[key] += value

    def concerns(self, feed_name: str | None) -> bool:
        return feed_name is None or feed_name in self.feed_names

    def report(self, skipped: int) -> CrawlReport:
        c = self.counts
        return CrawlReport(
            feeds_ok=c["feeds_ok"],
            feeds_failed=c["feeds_failed"],
            feeds_unchanged=c["feeds_unchanged"],
            feeds_skipped_backoff=skipped,
            articles_new=c["articles_new"],
            articles_copy=c["articles_copy"],
            articles_known=c["articles_known"],
            alerts_queued=c["alerts_queued"],
            errors=tuple(self.errors),
            articles_failed=c["articles_failed"],
            entries_skipped=c["entries_skipped"],
            entries_gave_up=c["entries_gave_up"],
            entries_retrying=c["entries_retrying"],
        )


POLL_META = "marsad_poll"
