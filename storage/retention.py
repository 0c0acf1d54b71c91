"""Retention: what the store forgets, and when (``[retention]`` in marsad.toml).

Kept for ever: stories; every article's row (title, URLs, GUID, source, dates, story, copy
evidence, provenance), so ``marsad show URL``, ``stories`` and a search on titles find a story
after its bodies went; watch-rule matches with their snippets; alerts (payload, status,
attempts, last error, sent time), held-back alerts and quotes; feeds.

Forgotten, each after its own period (``None``: kept for ever):

- **bodies**, story by story: once a story has had no new article for the period, each of its
  articles loses its text (``text``, ``text_norm``, and with them its full-text entry; the title
  stays indexed) and what copy detection keeps of it: its fingerprint, its shingle set and its
  rows in the three levels of the band index. Its ``body_hash`` is prefixed ``pruned:``, so no
  later article is its exact copy either. A pruned article is no longer a copy-detection
  candidate: the same URL or GUID arriving again is still a sighting of it, but a copy of its
  text under another URL starts a story of its own. A story goes as a whole because a copy is
  verified against its story's original: a story that still receives copies keeps its text.
- **sightings** older than the period;
- **deliveries** (attempts) older than the period, of alerts no longer pending; each alert's
  last attempt stays, with the alert's own final state;
- **fetch history**: entries the crawler could not store, of feeds no longer in the config
  (a listed feed's entries are forgotten by its own polls, :mod:`storage.feeds`).
- **cross-lingual profiles** of articles fetched before ``[crosslingual] window`` (as the
  linking pass last wrote it): they are no longer candidates. The provenance of translations
  linked stays.

Every change is made in short write transactions ("batches") whose size adapts so that each
holds the write lock for about :data:`HOLD_SECONDS`, with a pause between two (:func:`pause_after`)
longer than a writer waiting for the lock (the daemon, an import) sleeps between two tries: it
gets the lock in the pause, so it never waits longer than one batch. What a batch removes is
read and computed before it takes the lock, and checked again under the lock; the WAL is
checkpointed in the pauses, not inside a commit. Bodies go in rounds of up to :data:`ROUND`
articles: first the round's rows in the large level of the index, in key order, then the
bodies (see :func:`_unfile_round` for why).
"""

from __future__ import annotations

import json
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from itertools import islice
from typing import TYPE_CHECKING, Any

from marsad.storage.crosslingual import count_due_profiles, prune_profiles, read_state
from marsad.storage.fingerprint import MIN_SHINGLES, Fingerprint, chunk_keys, shingle_sequence
from marsad.storage.lsh import LEVELS, index_keys, insert_keys
from marsad.storage.shingles import comparable_body
from marsad.storage.transactions import write_transaction
from marsad.times import from_iso, to_iso

if TYPE_CHECKING:
    from sqlite_utils import Database

DAY = 86400.0

# How long one batch should hold the write lock.
HOLD_SECONDS = 0.1
# SQLite's busy handler (sqliteDefaultBusyCallback, what a connection's timeout installs) sleeps
# 1, 2, 5, 10, 15, 20, 25, 25, 25, 50, 50 ms, then 100 ms, between tries: after waiting this
# long (the first key), a writer sleeps at most this long (the value) before it tries again.
_BUSY_SLEEPS = ((0.128, 0.025), (0.228, 0.05))
_LONGEST_BUSY_SLEEP = 0.1
# Added to the pause for the waiting writer's process to be scheduled.
_PAUSE_MARGIN = 0.015
# A batch that waited this long for the lock was not alone: the pause after it is the longest.
_CONTENDED = 0.002
_LONG_WAIT = 1.0
# Rows a batch starts with and may grow to; it grows while batches are quick and shrinks when
# one holds the lock too long.
FIRST_BATCH = 16
MAX_BATCH = 2_000
# What the daemon's daily prune may take. At 300,000 stored (2 cores), a day's due (1,700
# bodies and as many sightings) took 5 s and 30,000 bodies 70 s; what is left waits a day.
DAILY_BUDGET_SECONDS = 600.0
# Keys removed from the large index level per batch: first and most.
FIRST_KEY_BATCH = 1_024
MAX_KEY_BATCH = 50_000
# Keys and articles removed per statement inside a batch, between two looks at the clock.
_KEY_STEP = 512
_BODY_STEP = 8
# Articles per round (their keys are held in memory: ~50 each).
ROUND = 20_000
# Stories and articles read per query while walking what is due (bounds memory, not locks).
_STORY_PAGE = 200
_ARTICLE_PAGE = 500


@dataclass(frozen=True)
class Retention:
    """How long each kind of history is kept, in seconds; ``None`` keeps it for ever."""

    bodies: float | None = 180 * DAY
    sightings: float | None = 90 * DAY
    deliveries: float | None = 90 * DAY
    fetch_history: float | None = 30 * DAY


KINDS = ("bodies", "sightings", "deliveries", "fetch_history")


@dataclass
class PruneReport:
    """What a prune removed (or, with ``dry_run``, would remove).

    ``before``: per kind, the time before which it is due (None: kept for ever). ``articles``
    had their bodies emptied, ``stories`` were pruned whole; ``text_bytes`` is the size of those
    texts (their normalised copies and full-text entries went as well); ``index_rows`` is None
    for a dry run (counting them means re-cutting every text). ``batches`` write transactions,
    the longest holding the write lock ``longest_batch`` seconds. ``complete``: nothing due was
    left when it stopped (False when the time budget ran out or it was asked to stop).
    ``free_bytes``: pages free inside the store file afterwards (new rows reuse them; VACUUM
    gives them back to the disk)."""

    dry_run: bool
    before: dict[str, str | None]
    articles: int = 0
    stories: int = 0
    text_bytes: int = 0
    fingerprints: int = 0
    shingle_sets: int = 0
    index_rows: int | None = 0
    sightings: int = 0
    deliveries: int = 0
    fetch_history: int = 0
    # Cross-lingual profiles of articles out of [crosslingual] window (#17).
    profiles: int = 0
    batches: int = 0
    longest_batch: float = 0.0
    elapsed: float = 0.0
    complete: bool = True
    free_bytes: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.__dataclass_fields__}

    def summary(self) -> str:
        """One line for a log: what went, in how many batches, the longest, and if more is due."""
        verb = "would prune" if self.dry_run else "pruned"
        line = (
            f"{verb} the bodies of {self.articles:,} articles ({self.stories:,} stories), "
            f"{self.sightings:,} sightings, {self.deliveries:,} delivery attempts, "
            f"{self.fetch_history:,} fetch-history entries"
        )
        if self.profiles:
            line += f", {self.profiles:,} cross-lingual profiles out of the window"
        if not self.dry_run:
            line += (
                f" in {self.batches:,} batches ({self.elapsed:.1f}s, the longest holding the "
                f"write lock {self.longest_batch:.3f}s)"
            )
        if not self.complete:
            line += "; more is due"
        return line


def cutoffs(retention: Retention, now: str) -> dict[str, str | None]:
    """Per kind, the time (ISO-8601 UTC) before which it is due at ``now``. Pure."""
    moment = from_iso(now)
    found: dict[str, str | None] = {}
    for kind in KINDS:
        period = getattr(retention, kind)
        found[kind] = None if period is None else to_iso(moment - timedelta(seconds=period))
    return found


def prune_due(
    db: Database,
    retention: Retention,
    now: str,
    *,
    budget: float | None = None,
    dry_run: bool = False,
    should_stop: Callable[[], bool] = lambda: False,
    max_batch: int = MAX_BATCH,
    clock: Callable[[], float] = time.monotonic,
) -> PruneReport:
    """Remove what ``retention`` says is old at ``now`` (ISO-8601 UTC), in batches (see the
    module's docstring); with ``dry_run``, count it and change nothing.

    No batch starts once ``budget`` seconds have passed or ``should_stop()`` is true; what is
    left is due at the next call (``report.complete`` says whether anything was). Sightings,
    deliveries and fetch history go first: they are quick, so a short budget still clears them.

    Blocking, on ``db``'s connection: the daemon runs it in a thread of its own with a
    connection of its own (a connection is never shared between threads), so its event loop
    keeps answering; each batch takes the write lock for about HOLD_SECONDS."""
    before = cutoffs(retention, now)
    report = PruneReport(dry_run=dry_run, before=before)
    started = clock()
    if dry_run:
        _count_due(db, before, report, now)
    else:
        pacer = _Pacer(db, report, clock, started, budget, should_stop, max_batch)
        # Checkpoints in the pauses (_Pacer.held), not in the commits, which would stretch
        # the time a batch seems to hold the lock and leave none of the pause to the others.
        autocheckpoint = set_wal_autocheckpoint(db, 0)
        try:
            for kind, prune in (
                ("sightings", _prune_sightings),
                ("deliveries", _prune_deliveries),
                ("fetch_history", _prune_fetch_history),
                ("bodies", _prune_bodies),
            ):
                cutoff = before[kind]
                if cutoff is not None and not prune(db, cutoff, now, pacer, pacer.new_size()):
                    report.complete = False
                    break
            else:
                if not _prune_profiles(db, now, pacer, pacer.new_size()):
                    report.complete = False
        finally:
            set_wal_autocheckpoint(db, autocheckpoint)
    report.elapsed = clock() - started
    report.free_bytes = free_bytes(db)
    return report


# -- pacing -------------------------------------------------------------------------------------


@dataclass
class _Size:
    """A batch size that adapts to how long batches hold the write lock."""

    rows: int
    limit: int

    def adapt(self, held: float) -> None:
        if held > HOLD_SECONDS:
            self.rows = max(1, int(self.rows * HOLD_SECONDS / held * 0.8))
        elif held < HOLD_SECONDS / 2:
            self.rows = min(self.limit, self.rows * 2)


def pause_after(held: float) -> float:
    """How long to leave the write lock free after a batch that held it ``held`` seconds: a
    writer that began waiting during the batch has waited at most that long, so it tries again
    within the busy handler's sleep at that point (plus a margin for its scheduling)."""
    for waited, sleep in _BUSY_SLEEPS:
        if held < waited:
            return sleep + _PAUSE_MARGIN
    return _LONGEST_BUSY_SLEEP + _PAUSE_MARGIN


@dataclass
class _Pacer:
    """Counts batches, keeps the pause between them and the time budget."""

    db: Database
    report: PruneReport
    clock: Callable[[], float]
    started: float
    budget: float | None
    should_stop: Callable[[], bool]
    max_batch: int
    _free_from: float | None = field(default=None)

    def new_size(self) -> _Size:
        return _Size(min(FIRST_BATCH, self.max_batch), self.max_batch)

    def may_start(self) -> bool:
        """Whether another batch may start (waiting out the pause after the last one)."""
        if self.should_stop():
            return False
        if self.budget is not None and self.clock() - self.started >= self.budget:
            return False
        if self._free_from is not None:
            wait = self._free_from - self.clock()
            if wait > 0:
                time.sleep(wait)
        return True

    @staticmethod
    def now() -> float:
        return time.perf_counter()

    def held(self, asked: float, since: float, size: _Size, *, cut: bool = False) -> None:
        """A batch that asked for the lock at ``asked`` and had it from ``since`` (both
        :meth:`now`) has committed; ``cut``: it stopped short, having held the lock long
        enough (its size stays)."""
        held = time.perf_counter() - since
        self.report.batches += 1
        self.report.longest_batch = max(self.report.longest_batch, held)
        # Had it to wait, another writer held the lock, and others may have waited since
        # before it: as long as they like, so they sleep the busy handler's longest sleep.
        contended = since - asked > _CONTENDED
        self._free_from = self.clock() + pause_after(_LONG_WAIT if contended else held)
        if not cut:
            size.adapt(held)
        # Part of the pause (a checkpoint holds no write lock): the batch's pages go to the
        # store file, so the WAL stays small however long the prune.
        checkpoint(self.db)


# -- sightings, deliveries, fetch history --------------------------------------------------------


def _prune_sightings(db: Database, before: str, now: str, pacer: _Pacer, size: _Size) -> bool:
    while True:
        ids = due_sightings(db, before, size.rows)
        if not ids:
            return True
        if not pacer.may_start():
            return False
        asked = pacer.now()
        with write_transaction(db):
            since = pacer.now()
            removed = delete_sightings(db, ids, before)
        pacer.held(asked, since, size)
        pacer.report.sightings += removed


def _prune_deliveries(db: Database, before: str, now: str, pacer: _Pacer, size: _Size) -> bool:
    after = ("", 0)
    while True:
        rows = due_deliveries(db, before, after, size.rows)
        if not rows:
            return True
        if not pacer.may_start():
            return False
        asked = pacer.now()
        with write_transaction(db):
            since = pacer.now()
            removed = delete_deliveries(db, [i for i, _ in rows], before)
        pacer.held(asked, since, size)
        pacer.report.deliveries += removed
        after = rows[-1][1], rows[-1][0]


def _prune_fetch_history(db: Database, before: str, now: str, pacer: _Pacer, size: _Size) -> bool:
    after = (0, "")
    while True:
        rows = due_fetch_history(db, before, after, size.rows)
        if not rows:
            return True
        if not pacer.may_start():
            return False
        asked = pacer.now()
        with write_transaction(db):
            since = pacer.now()
            removed = delete_fetch_history(db, rows, before)
        pacer.held(asked, since, size)
        pacer.report.fetch_history += removed
        after = rows[-1]


def _prune_profiles(db: Database, now: str, pacer: _Pacer, size: _Size) -> bool:
    """Cross-lingual profiles of articles fetched before the window the linking pass last
    wrote (storage.crosslingual: none when linking never ran): no longer candidates."""
    before = profiles_cutoff(db, now)
    if before is None:
        return True
    while count_due_profiles(db, before):
        if not pacer.may_start():
            return False
        asked = pacer.now()
        with write_transaction(db):
            since = pacer.now()
            removed = prune_profiles(db, before, size.rows)
        pacer.held(asked, since, size)
        pacer.report.profiles += removed
    return True


def profiles_cutoff(db: Database, now: str) -> str | None:
    """The time before which cross-lingual profiles are due at ``now`` (None: never)."""
    state = read_state(db)
    if state is None:
        return None
    return to_iso(from_iso(now) - timedelta(seconds=state.window))


# -- bodies ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Body:
    """An article whose body is due, with the index keys it is filed under (computed from its
    text before the lock is taken)."""

    article_id: int
    story_id: int
    text_bytes: int
    keys: tuple[int, ...]


@dataclass(frozen=True)
class _StoryDone:
    """Every article of the story read so far was handed out: mark it pruned if none is left."""

    story_id: int


def _bodies_due(db: Database, before: str) -> Iterator[_Body | _StoryDone]:
    """The articles whose bodies are due, story by story, oldest story first; each story
    followed by a :class:`_StoryDone`. Reads only; the caller pulls from it between batches."""
    after = ("", 0)
    while stories := due_stories(db, before, after, _STORY_PAGE):
        for story_id, _ in stories:
            last = 0
            while rows := unpruned_articles(db, story_id, last, _ARTICLE_PAGE):
                for row in rows:
                    yield _body(row)
                last = int(rows[-1]["id"])
            yield _StoryDone(story_id)
        last_seen, story_id = stories[-1][1], stories[-1][0]
        after = (last_seen, story_id)


def _body(row: dict[str, Any]) -> _Body:
    """The keys an article was filed under: its band keys from its stored signature, its
    chunk keys re-cut from its text, as :func:`storage.lsh.index_keys` filed them."""
    text = row["text"] or ""
    keys: list[int] = []
    if row["signature"] is not None and row["shingles"] >= MIN_SHINGLES:
        sequence = shingle_sequence(comparable_body(text)[1])
        fp = Fingerprint(bytes(row["signature"]), int(row["shingles"]), chunk_keys(sequence))
        keys = index_keys(fp)
    return _Body(int(row["id"]), int(row["story_id"]), len(text.encode("utf-8")), tuple(keys))


def _prune_bodies(db: Database, before: str, now: str, pacer: _Pacer, size: _Size) -> bool:
    """Round after round of up to ROUND articles: first their rows in the large index level go,
    all keys of the round in key order (:func:`_unfile_round`), then their bodies, in batches
    of whole articles (:func:`_prune_batch`)."""
    due = _bodies_due(db, before)
    keys = _Size(FIRST_KEY_BATCH, MAX_KEY_BATCH)
    while True:
        # Read and cut the round's texts before taking the lock.
        queue: deque[_Body | _StoryDone] = deque(islice(due, ROUND))
        if not queue:
            return True
        if not _unfile_round(db, [b for b in queue if isinstance(b, _Body)], pacer, keys):
            return False
        while queue:
            if not pacer.may_start():
                return False
            batch = [queue.popleft() for _ in range(min(size.rows, len(queue)))]
            # A story's marker rides with its last articles, so it is marked in their batch.
            while queue and isinstance(queue[0], _StoryDone):
                batch.append(queue.popleft())
            taken = 0
            asked = pacer.now()
            with write_transaction(db):
                since = pacer.now()
                # A few articles at a time, until the batch has held the lock long enough.
                while taken < len(batch) and pacer.now() - since < HOLD_SECONDS:
                    group = _group(batch, taken, _BODY_STEP)
                    _prune_batch(db, group, before, now, pacer.report)
                    taken += len(group)
            queue.extendleft(reversed(batch[taken:]))
            pacer.held(asked, since, size, cut=taken < len(batch))


def _unfile_round(db: Database, bodies: Sequence[_Body], pacer: _Pacer, size: _Size) -> bool:
    """Remove the round's rows from the large index level, in key order: a key is random, so
    removing one article's keys touches a page of the B-tree per key, and removing a round's
    all at once in order touches each page once however many of its rows go (the difference
    between rewriting the level once and once per batch when much of the archive is due). In
    batches of keys; an article keeps its body until its own batch, so one stopped between the
    two phases is only missing from the index until the next prune."""
    pairs = sorted((key, b.article_id) for b in bodies for key in b.keys)
    done = 0
    while done < len(pairs):
        if not pacer.may_start():
            return False
        end = min(done + size.rows, len(pairs))
        removed = 0
        asked = pacer.now()
        with write_transaction(db):
            since = pacer.now()
            while done < end and pacer.now() - since < HOLD_SECONDS:
                step = pairs[done : min(done + _KEY_STEP, end)]
                removed += delete_index_rows(db, LEVELS[-1], step)
                done += len(step)
        pacer.held(asked, since, size, cut=done < end)
        pacer.report.index_rows = (pacer.report.index_rows or 0) + removed
    return True


def _group(
    batch: Sequence[_Body | _StoryDone], start: int, bodies: int
) -> list[_Body | _StoryDone]:
    """Items of ``batch`` from ``start``: up to ``bodies`` articles and the story markers that
    follow them."""
    group: list[_Body | _StoryDone] = []
    count = 0
    for item in batch[start:]:
        if isinstance(item, _Body):
            if count == bodies:
                break
            count += 1
        group.append(item)
    return group


def _prune_batch(
    db: Database, batch: Sequence[_Body | _StoryDone], before: str, now: str, report: PruneReport
) -> None:
    bodies = [item for item in batch if isinstance(item, _Body)]
    # Under the lock: a story that took a new article since it was read is not due any more;
    # its articles get back the rows the round removed.
    still_due = stories_still_due(db, sorted({b.story_id for b in bodies}), before)
    for body in bodies:
        if body.story_id not in still_due:
            _refile(db, body)
    bodies = [b for b in bodies if b.story_id in still_due]
    ids = [b.article_id for b in bodies]
    emptied = set(empty_bodies(db, ids, now))
    bodies = [b for b in bodies if b.article_id in emptied]
    ids = [b.article_id for b in bodies]
    report.articles += len(bodies)
    report.text_bytes += sum(b.text_bytes for b in bodies)
    report.fingerprints += delete_fingerprints(db, ids)
    report.shingle_sets += delete_shingle_sets(db, ids)
    # The small levels, one statement per article and level, under the lock: a fold (which
    # moves their rows on) is due by the count of the articles they hold.
    removed, held = 0, {}
    for table in LEVELS[:-1]:
        held[table] = 0
        for b in bodies:
            gone = delete_index_rows(db, table, [(key, b.article_id) for key in b.keys])
            removed += gone
            held[table] += gone > 0
    forget_level_articles(db, recent=held["lsh_recent"], middle=held["lsh_middle"])
    report.index_rows = (report.index_rows or 0) + removed
    done = [item.story_id for item in batch if isinstance(item, _StoryDone)]
    report.stories += mark_stories_pruned(db, done, before, now)


def _refile(db: Database, body: _Body) -> None:
    """File an article whose rows the round removed from the large level under its keys again
    (in the small level, where new rows go), unless a small level holds it."""
    if not body.keys or any(
        has_index_row(db, table, body.keys[0], body.article_id) for table in LEVELS[:-1]
    ):
        return
    insert_keys(db, LEVELS[0], body.article_id, body.keys)
    count_level_article(db)


# -- dry run -----------------------------------------------------------------------------------


def _count_due(db: Database, before: dict[str, str | None], report: PruneReport, now: str) -> None:
    report.index_rows = None
    if before["sightings"] is not None:
        report.sightings = count_due_sightings(db, before["sightings"])
    if before["deliveries"] is not None:
        report.deliveries = count_due_deliveries(db, before["deliveries"])
    if before["fetch_history"] is not None:
        report.fetch_history = count_due_fetch_history(db, before["fetch_history"])
    profiles_before = profiles_cutoff(db, now)
    if profiles_before is not None:
        report.profiles = count_due_profiles(db, profiles_before)
    if before["bodies"] is not None:
        due = count_due_bodies(db, before["bodies"])
        report.stories = due["stories"]
        report.articles = due["articles"]
        report.text_bytes = due["text_bytes"]
        report.fingerprints = due["fingerprints"]
        report.shingle_sets = due["shingle_sets"]


# -- the statements -------------------------------------------------------------------------------

# A story whose bodies are due: not pruned, not merged (its articles moved on), quiet since.
_DUE_STORY = "s.pruned_at IS NULL AND s.merged_into IS NULL AND s.last_seen < :before"


def due_stories(
    db: Database, before: str, after: tuple[str, int], limit: int
) -> list[tuple[int, str]]:
    """(id, last_seen) of up to ``limit`` stories whose bodies are due, after ``after``
    (last_seen, id) in that order."""
    rows = db.execute(
        f"""
        SELECT s.id, s.last_seen FROM stories s
        WHERE {_DUE_STORY} AND (s.last_seen, s.id) > (:seen, :id)
        ORDER BY s.last_seen, s.id LIMIT :limit
        """,
        {"before": before, "seen": after[0], "id": after[1], "limit": limit},
    ).fetchall()
    return [(int(i), str(seen)) for i, seen in rows]


def unpruned_articles(db: Database, story_id: int, after: int, limit: int) -> list[dict[str, Any]]:
    """Up to ``limit`` articles of the story with ids above ``after`` whose body is still held:
    id, story_id, text and their fingerprint (shingles, signature; null when none)."""
    return list(
        db.query(
            """
            SELECT a.id, a.story_id, a.text, f.shingles, f.signature
            FROM articles a LEFT JOIN fingerprints f ON f.article_id = a.id
            WHERE a.story_id = ? AND a.id > ? AND a.pruned_at IS NULL
            ORDER BY a.id LIMIT ?
            """,
            [story_id, after, limit],
        )
    )


def stories_still_due(db: Database, story_ids: Sequence[int], before: str) -> set[int]:
    if not story_ids:
        return set()
    rows = db.execute(
        f"""
        SELECT s.id FROM stories s
        WHERE s.id IN (SELECT value FROM json_each(:ids)) AND {_DUE_STORY}
        """,
        {"ids": json.dumps(list(story_ids)), "before": before},
    ).fetchall()
    return {int(r[0]) for r in rows}


def empty_bodies(db: Database, article_ids: Sequence[int], now: str) -> list[int]:
    """Empty the text of these articles (those not pruned yet) and mark them; their ids. The
    full-text index follows by its triggers: the title stays indexed, the text goes."""
    if not article_ids:
        return []
    rows = db.execute(
        """
        UPDATE articles SET text = '', text_norm = '', body_hash = 'pruned:' || body_hash,
            pruned_at = :now
        WHERE id IN (SELECT value FROM json_each(:ids)) AND pruned_at IS NULL
        RETURNING id
        """,
        {"ids": json.dumps(list(article_ids)), "now": now},
    ).fetchall()
    return [int(r[0]) for r in rows]


def delete_fingerprints(db: Database, article_ids: Sequence[int]) -> int:
    if not article_ids:
        return 0
    cursor = db.execute(
        "DELETE FROM fingerprints WHERE article_id IN (SELECT value FROM json_each(?))",
        [json.dumps(list(article_ids))],
    )
    return int(cursor.rowcount)


def delete_shingle_sets(db: Database, article_ids: Sequence[int]) -> int:
    if not article_ids:
        return 0
    cursor = db.execute(
        "DELETE FROM article_shingles WHERE article_id IN (SELECT value FROM json_each(?))",
        [json.dumps(list(article_ids))],
    )
    return int(cursor.rowcount)


def delete_index_rows(db: Database, table: str, pairs: Sequence[tuple[int, int]]) -> int:
    """Remove these (key, article) rows from ``table``, one of :data:`storage.lsh.LEVELS`: one
    primary-key seek each. How many there were."""
    if table not in LEVELS:
        raise ValueError(f"not an index level: {table}")
    if not pairs:
        return 0
    cursor = db.conn.executemany(
        f"DELETE FROM {table} WHERE band_key = ? AND article_id = ?", pairs
    )
    return int(cursor.rowcount)


def has_index_row(db: Database, table: str, key: int, article_id: int) -> bool:
    if table not in LEVELS:
        raise ValueError(f"not an index level: {table}")
    found = db.execute(
        f"SELECT 1 FROM {table} WHERE band_key = ? AND article_id = ?", [key, article_id]
    ).fetchone()
    return found is not None


def count_level_article(db: Database) -> None:
    """One more article in the small level (as :func:`storage.lsh.index_article` counts)."""
    db.execute("UPDATE lsh_state SET recent_articles = recent_articles + 1")


def forget_level_articles(db: Database, *, recent: int, middle: int) -> None:
    """The small levels hold fewer articles: their next fold comes when it would have come
    without the pruned ones."""
    if recent or middle:
        db.execute(
            "UPDATE lsh_state SET recent_articles = max(recent_articles - ?, 0), "
            "middle_articles = max(middle_articles - ?, 0)",
            [recent, middle],
        )


def mark_stories_pruned(db: Database, story_ids: Sequence[int], before: str, now: str) -> int:
    """Mark each of these stories pruned if it is still due and none of its articles holds a
    body any more; how many were."""
    if not story_ids:
        return 0
    cursor = db.execute(
        f"""
        UPDATE stories AS s SET pruned_at = :now
        WHERE s.id IN (SELECT value FROM json_each(:ids)) AND {_DUE_STORY} AND NOT EXISTS (
            SELECT 1 FROM articles a WHERE a.story_id = s.id AND a.pruned_at IS NULL
        )
        """,
        {"ids": json.dumps(list(story_ids)), "before": before, "now": now},
    )
    return int(cursor.rowcount)


def due_sightings(db: Database, before: str, limit: int) -> list[int]:
    rows = db.execute(
        "SELECT id FROM sightings WHERE seen_at < ? ORDER BY seen_at, id LIMIT ?",
        [before, limit],
    ).fetchall()
    return [int(r[0]) for r in rows]


def delete_sightings(db: Database, ids: Sequence[int], before: str) -> int:
    cursor = db.execute(
        "DELETE FROM sightings WHERE id IN (SELECT value FROM json_each(?)) AND seen_at < ?",
        [json.dumps(list(ids)), before],
    )
    return int(cursor.rowcount)


def count_due_sightings(db: Database, before: str) -> int:
    row = db.execute("SELECT count(*) FROM sightings WHERE seen_at < ?", [before]).fetchone()
    return int(row[0])


# A delivery attempt that may go: old, of an alert no longer pending, and not its last attempt
# (which the alert_deliveries view reports as the alert's last status).
_DUE_DELIVERY = """
    d.attempted_at < :before
    AND NOT EXISTS (SELECT 1 FROM alerts al WHERE al.id = d.alert_id AND al.status = 'pending')
    AND d.id != (SELECT x.id FROM deliveries x WHERE x.alert_id = d.alert_id
                 ORDER BY x.attempted_at DESC, x.id DESC LIMIT 1)
"""


def due_deliveries(
    db: Database, before: str, after: tuple[str, int], limit: int
) -> list[tuple[int, str]]:
    """(id, attempted_at) of up to ``limit`` delivery attempts that are due, after ``after``
    (attempted_at, id) in that order."""
    rows = db.execute(
        f"""
        SELECT d.id, d.attempted_at FROM deliveries d
        WHERE {_DUE_DELIVERY} AND (d.attempted_at, d.id) > (:at, :id)
        ORDER BY d.attempted_at, d.id LIMIT :limit
        """,
        {"before": before, "at": after[0], "id": after[1], "limit": limit},
    ).fetchall()
    return [(int(i), str(at)) for i, at in rows]


def delete_deliveries(db: Database, ids: Sequence[int], before: str) -> int:
    cursor = db.execute(
        f"""
        DELETE FROM deliveries AS d
        WHERE d.id IN (SELECT value FROM json_each(:ids)) AND {_DUE_DELIVERY}
        """,
        {"ids": json.dumps(list(ids)), "before": before},
    )
    return int(cursor.rowcount)


def count_due_deliveries(db: Database, before: str) -> int:
    row = db.execute(
        f"SELECT count(*) FROM deliveries d WHERE {_DUE_DELIVERY}", {"before": before}
    ).fetchone()
    return int(row[0])


# An entry not stored, of a feed that is no longer polled (retired), last tried long ago.
_DUE_ENTRY = """
    e.last_attempt_at < :before
    AND e.feed_id IN (SELECT f.id FROM feeds f WHERE f.retired_at IS NOT NULL)
"""


def due_fetch_history(
    db: Database, before: str, after: tuple[int, str], limit: int
) -> list[tuple[int, str]]:
    """(feed id, entry key) of up to ``limit`` feed entries that are due, after ``after``."""
    rows = db.execute(
        f"""
        SELECT e.feed_id, e.entry_key FROM feed_entries e
        WHERE {_DUE_ENTRY} AND (e.feed_id, e.entry_key) > (:feed, :key)
        ORDER BY e.feed_id, e.entry_key LIMIT :limit
        """,
        {"before": before, "feed": after[0], "key": after[1], "limit": limit},
    ).fetchall()
    return [(int(f), str(k)) for f, k in rows]


def delete_fetch_history(db: Database, rows: Sequence[tuple[int, str]], before: str) -> int:
    cursor = db.execute(
        f"""
        DELETE FROM feed_entries AS e
        WHERE (e.feed_id, e.entry_key) IN (
            SELECT value ->> 0, value ->> 1 FROM json_each(:rows)
        ) AND {_DUE_ENTRY}
        """,
        {"rows": json.dumps([list(r) for r in rows]), "before": before},
    )
    return int(cursor.rowcount)


def count_due_fetch_history(db: Database, before: str) -> int:
    row = db.execute(
        f"SELECT count(*) FROM feed_entries e WHERE {_DUE_ENTRY}", {"before": before}
    ).fetchone()
    return int(row[0])


def count_due_bodies(db: Database, before: str) -> dict[str, int]:
    """How many stories and articles are due, the size of their texts, and how many
    fingerprints and shingle sets they have."""
    row = db.execute(
        f"""
        SELECT count(DISTINCT s.id), count(a.id),
               coalesce(sum(length(CAST(a.text AS BLOB))), 0),
               count(f.article_id), count(k.article_id)
        FROM stories s
        LEFT JOIN articles a ON a.story_id = s.id AND a.pruned_at IS NULL
        LEFT JOIN fingerprints f ON f.article_id = a.id
        LEFT JOIN article_shingles k ON k.article_id = a.id
        WHERE {_DUE_STORY}
        """,
        {"before": before},
    ).fetchone()
    keys = ("stories", "articles", "text_bytes", "fingerprints", "shingle_sets")
    return {key: int(value) for key, value in zip(keys, row, strict=True)}


def set_wal_autocheckpoint(db: Database, pages: int) -> int:
    """Set this connection's automatic checkpoint threshold (0: none); the one it had."""
    had = int(db.execute("PRAGMA wal_autocheckpoint").fetchone()[0])
    db.execute(f"PRAGMA wal_autocheckpoint = {int(pages)}")
    return had


def checkpoint(db: Database) -> None:
    """Copy what the WAL holds into the store file, as far as readers allow, waiting for no
    one (a checkpoint never holds the write lock)."""
    db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()


def free_bytes(db: Database) -> int:
    """Bytes of free pages inside the store file (reused by new rows; VACUUM returns them)."""
    pages = db.execute("PRAGMA freelist_count").fetchone()[0]
    size = db.execute("PRAGMA page_size").fetchone()[0]
    return int(pages) * int(size)
