"""``marsad import`` as a library call: JSON lines through the ingest path, in large commits.

One commit for many articles spares rewriting the same index pages each time; each article is
still its own savepoint inside it, so an alert is never kept without its article. Articles are
taken one at a time, so only those in flight are held in memory, and workers prepare the next
ones (:mod:`marsad.ingest.ahead`) while this process writes.

A line that cannot be stored is reported with its number and skipped, whatever is wrong with it;
the lines before and after it are stored. What stops an import (the file cannot be read on, the
store stays locked by another writer) stops it after the articles before are committed, and
:class:`ImportStopped` says how many that was.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass, fields
from pathlib import Path
from typing import IO, TYPE_CHECKING

from marsad.ingest.ahead import prepared_ahead
from marsad.ingest.article import ingest_article
from marsad.ingest.jsonl import Item, LineError, open_jsonl, read_articles
from marsad.storage.suppressions import count_suppressions
from marsad.storage.transactions import StoreBusy, write_transaction

if TYPE_CHECKING:
    from sqlite_utils import Database

    from marsad.alerts.matching import RuleIndex
    from marsad.ingest.prepare import PreparedArticle

log = logging.getLogger("marsad.import")

# Articles per commit. Each commit rewrites every page of the copy-detection index's small
# level it touched, so fewer, larger commits write less (at 1M stored, 2,000 gave 479 and
# 552/s against 384 and 514/s for 500, paired runs).
IMPORT_BATCH = 2_000

# Failures of the store or the machine rather than of one line: they stop the import instead of
# skipping the line (every later line would fail the same way).
_STOPS_THE_IMPORT = (sqlite3.OperationalError, sqlite3.InterfaceError, OSError, MemoryError)


@dataclass(frozen=True)
class ImportProgress:
    """How far an import has gone, after each line: the last line taken, how far into the file
    (bytes of the file as stored: compressed for .gz; None for a pipe) of how many (None when
    unknown), and the articles stored, already held and bad lines so far (those of the batch
    in hand included: a failed commit takes them back)."""

    line: int
    read_bytes: int | None
    total_bytes: int | None
    stored: int
    known: int
    bad: int

    @property
    def fraction(self) -> float | None:
        if not self.total_bytes or self.read_bytes is None:
            return None
        return min(1.0, self.read_bytes / self.total_bytes)


def describe_progress(progress: ImportProgress, elapsed: float) -> str:
    """One line for a log or a terminal that is not a tty. Pure."""
    share = progress.fraction
    where = f" ({share:.0%} of {_size(progress.total_bytes or 0)})" if share is not None else ""
    rate = f"; {progress.line / elapsed:,.0f} lines/s" if elapsed > 0 else ""
    return (
        f"import: line {progress.line:,}{where}: {progress.stored:,} stored, "
        f"{progress.known:,} already held, {progress.bad:,} bad{rate}"
    )


def _size(count: int) -> str:
    for unit, size in (("GB", 1 << 30), ("MB", 1 << 20), ("KB", 1 << 10)):
        if count >= size:
            return f"{count / size:.1f} {unit}"
    return f"{count} bytes"


@dataclass
class ImportCounts:
    new: int = 0
    copy: int = 0
    known: int = 0
    bad: int = 0
    alerts: int = 0
    # Alerts held back rather than queued (--no-alerts, or older than the alert window).
    suppressed: int = 0

    @property
    def stored(self) -> int:
        """Articles the import added to the store (new ones and copies)."""
        return self.new + self.copy

    def add(self, other: ImportCounts) -> None:
        for f in fields(self):
            setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))


class ImportStopped(Exception):
    """The import stopped at ``line`` because of ``cause``; ``counts`` are what was committed
    before it, and stays stored (a re-run recognises those articles and goes on)."""

    def __init__(self, cause: Exception, counts: ImportCounts, line: int) -> None:
        super().__init__(str(cause))
        self.cause = cause
        self.counts = counts
        self.line = line


def import_file(
    db: Database,
    path: Path,
    rules: RuleIndex,
    *,
    workers: int = 0,
    on_bad_line: Callable[[LineError], None] = lambda error: None,
    batch: int = IMPORT_BATCH,
    hold_alerts: str | None = None,
    on_progress: Callable[[ImportProgress], None] | None = None,
    after: Callable[[Database], object] | None = None,
) -> ImportCounts:
    """Ingest every article of ``path`` (.jsonl or .jsonl.gz); each bad line is passed to
    ``on_bad_line`` and skipped. ``hold_alerts``, a reason, records every alert as held back
    instead of queuing it (matches are still stored). ``on_progress`` is told how far it has
    gone after each line (cheap: the caller decides how often to show it). ``after`` runs on
    ``db`` once every article is committed, if any was stored (``marsad import`` passes the
    cross-lingual linking pass).

    Raises :class:`ImportStopped` when reading the file fails part-way (a file cut short), the
    store stays busy or fails (a full disk), with the counts of what was committed before.
    """
    counts = ImportCounts()
    run = _Batches(db, rules, hold_alerts, on_bad_line)
    try:
        with open_jsonl(path) as stream:
            if on_progress is not None:
                run.progress = _Reporter(on_progress, _file_size(path), _teller(stream), counts)
            items = prepared_ahead(read_articles(stream), workers)
            while run.import_some(items, batch, counts):
                pass
    except (StoreBusy, OSError, EOFError, sqlite3.Error) as exc:
        raise ImportStopped(exc, counts, run.line) from exc
    if after is not None and counts.stored:
        # What runs on the articles stored, once they are committed: `marsad import` passes
        # the cross-lingual linking pass (bounded; #17). Its failure loses no article.
        try:
            after(db)
        except (StoreBusy, sqlite3.Error) as exc:
            log.warning("after the import: %s: %s", type(exc).__name__, exc)
    return counts


@dataclass
class _Batches:
    db: Database
    rules: RuleIndex
    hold_alerts: str | None
    on_bad_line: Callable[[LineError], None]
    # The number of the last line taken: where an import that stops, stopped.
    line: int = 0
    progress: _Reporter | None = None

    def import_some(
        self,
        items: Iterator[tuple[Item, PreparedArticle | None]],
        size: int,
        counts: ImportCounts,
    ) -> bool:
        """Ingest up to ``size`` items in one commit and add them to ``counts`` once committed;
        False once ``items`` is exhausted. A read error ends the batch: the items before it are
        committed, then it is raised."""
        # The first item is in hand before the write lock is taken: waiting for input (a slow
        # pipe, a worker) must not keep the daemon from writing.
        entry = next(items, None)
        if entry is None:
            return False
        self.line = entry[0].line
        done = ImportCounts()
        taken = 0
        error: OSError | EOFError | None = None
        with write_transaction(self.db):
            # Counted inside the transaction, which holds the write lock: no other writer's
            # suppressions (the daemon's) are counted with this import's.
            held_before = count_suppressions(self.db)
            while entry is not None:
                taken += 1
                self._ingest(*entry, done)
                if self.progress is not None:
                    self.progress.report(self.line, done)
                if taken == size:
                    break
                try:
                    entry = next(items, None)
                except (OSError, EOFError) as exc:
                    error = exc
                    break
            done.suppressed = count_suppressions(self.db) - held_before
        counts.add(done)
        if error is not None:
            raise error
        return taken == size

    def _ingest(self, item: Item, prepared: PreparedArticle | None, counts: ImportCounts) -> None:
        self.line = item.line
        if isinstance(item, LineError):
            self._bad(item, counts)
            return
        try:
            result = ingest_article(
                self.db, item.article, self.rules, prepared=prepared, hold_alerts=self.hold_alerts
            )
        except _STOPS_THE_IMPORT:
            raise
        except Exception as exc:  # this line's data; its savepoint was rolled back
            self._bad(LineError(item.line, f"not stored: {type(exc).__name__}: {exc}"), counts)
            return
        setattr(counts, result.status, getattr(counts, result.status) + 1)
        counts.alerts += result.alerts_queued

    def _bad(self, error: LineError, counts: ImportCounts) -> None:
        counts.bad += 1
        self.on_bad_line(error)


@dataclass
class _Reporter:
    """Builds each :class:`ImportProgress` from the committed counts and the batch in hand."""

    on_progress: Callable[[ImportProgress], None]
    total_bytes: int | None
    tell: Callable[[], int | None]
    committed: ImportCounts

    def report(self, line: int, in_hand: ImportCounts) -> None:
        done = self.committed
        self.on_progress(
            ImportProgress(
                line=line,
                read_bytes=self.tell(),
                total_bytes=self.total_bytes,
                stored=done.stored + in_hand.stored,
                known=done.known + in_hand.known,
                bad=done.bad + in_hand.bad,
            )
        )


def _file_size(path: Path) -> int | None:
    try:
        return path.stat().st_size if path.is_file() else None
    except OSError:
        return None


def _teller(stream: IO[bytes]) -> Callable[[], int | None]:
    """How far into the file as stored (a gzip stream: its compressed file's position; the
    workers read a little ahead of the writer, which a progress bar does not mind)."""
    raw = getattr(stream, "fileobj", None) or stream

    def tell() -> int | None:
        try:
            return int(raw.tell())
        except (OSError, ValueError):  # a pipe, or closed
            return None

    return tell
