"""The cross-lingual worker: profiles articles and finds their translations, off the writer's path.

One process (spawned: the daemon's holds an open store connection and a running event loop a
forked child must not inherit), in which the model loads once. It keeps the window's document
vectors in memory, per language (:class:`WindowIndex`), and brings them up to date at each call
from the profiles the store received since (a read-only connection of its own); only the few
candidates a screen keeps are read back whole to be verified. It writes nothing: the results go
back to the daemon's process, which writes them (:mod:`marsad.scheduler.crosslingual`).

A worker that dies costs the batch in hand: the articles stay unchecked in the store and the
next pass sends them again, to a new worker that rebuilds its index from the store.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from marsad.crosslingual.linking import Found
from marsad.storage.crosslingual import profile_rows, window_vectors
from marsad.worker_exit import SpawnedPool

if TYPE_CHECKING:
    from numpy.typing import NDArray
    from sqlite_utils import Database

    from marsad.crosslingual.profile import Profile
    from marsad.storage.crosslingual import ArticleText

log = logging.getLogger("marsad.crosslingual")

# The candidates a screen keeps for verifying, at most (the best by document cosine).
MAX_CANDIDATES = 8


class WorkerDied(RuntimeError):
    """The worker process died before answering (its batch stays unchecked)."""


@dataclass(frozen=True)
class CheckRequest:
    """Articles to check, in order, against the window starting at ``since``; ``store`` is
    the store's file (the worker reads the window's profiles from it)."""

    store: str
    since: str
    articles: tuple[ArticleText, ...]


@dataclass(frozen=True)
class Checked:
    """One article checked: its profile's columns (None: nothing to profile), the
    translations verified, how many candidates were verified, and the CPU it took."""

    article_id: int
    fetched_at: str
    row: dict[str, object] | None
    language: str | None
    found: tuple[Found, ...]
    verified: int
    cpu_seconds: float


class _Side:
    """The document vectors of one language, in a buffer that grows by doubling."""

    def __init__(self, dims: int) -> None:
        self.dims = dims
        self.matrix: NDArray[np.float32] = np.zeros((64, dims), dtype=np.float32)
        self.ids: list[int] = []
        self.fetched: list[str] = []
        self.rows: dict[int, int] = {}

    def __len__(self) -> int:
        return len(self.ids)

    def put(self, article_id: int, fetched_at: str, vector: bytes) -> None:
        values = np.frombuffer(vector, dtype="<f4")
        row = self.rows.get(article_id)
        if row is None:
            row = len(self.ids)
            if row == self.matrix.shape[0]:
                grown = np.zeros((row * 2, self.dims), dtype=np.float32)
                grown[:row] = self.matrix
                self.matrix = grown
            self.ids.append(article_id)
            self.fetched.append(fetched_at)
            self.rows[article_id] = row
        self.matrix[row] = values

    def drop_before(self, since: str) -> None:
        keep = [i for i, f in enumerate(self.fetched) if f >= since]
        if len(keep) == len(self.ids):
            return
        self.matrix = np.ascontiguousarray(self.matrix[keep]) if keep else self.matrix[:0]
        if self.matrix.shape[0] == 0:
            self.matrix = np.zeros((64, self.dims), dtype=np.float32)
        self.ids = [self.ids[i] for i in keep]
        self.fetched = [self.fetched[i] for i in keep]
        self.rows = {article_id: row for row, article_id in enumerate(self.ids)}

    def view(self) -> NDArray[np.float32]:
        return self.matrix[: len(self.ids)]


class WindowIndex:
    """The window's document vectors, per language, kept in step with the store."""

    def __init__(self, model: str, dims: int) -> None:
        self.model = model
        self.seq = 0
        self.sides = {"ar": _Side(dims), "other": _Side(dims)}

    def refresh(self, db: Database, since: str) -> int:
        """Add the profiles written since the last refresh, drop those out of the window;
        how many were added."""
        rows = window_vectors(db, after_seq=self.seq, since=since, model=self.model)
        for seq, article_id, language, fetched_at, vector in rows:
            self.seq = max(self.seq, seq)
            if language in self.sides:
                self.sides[language].put(article_id, fetched_at, vector)
        for side in self.sides.values():
            side.drop_before(since)
        return len(rows)

    def add(self, article_id: int, profile: Profile, fetched_at: str) -> None:
        if profile.language in self.sides:
            self.sides[profile.language].put(article_id, fetched_at, profile.doc_vector)

    def candidates(self, profile: Profile, limit: int) -> list[tuple[int, float]]:
        """The other language's articles whose document vector is closest to ``profile``'s,
        at or above the screen's threshold, best first."""
        from marsad.crosslingual.verify import SCREEN_MIN, screen_many

        side = self.sides["other" if profile.language == "ar" else "ar"]
        if not len(side):
            return []
        cosines = screen_many(profile, side.view())
        picked = np.flatnonzero(cosines >= SCREEN_MIN)
        if picked.size > limit:
            picked = picked[np.argsort(-cosines[picked], kind="stable")[:limit]]
        ranked = sorted(((side.ids[i], float(cosines[i])) for i in picked), key=lambda c: -c[1])
        return ranked

    def size(self) -> dict[str, int]:
        return {language: len(side) for language, side in self.sides.items()}


# -- in the worker process -------------------------------------------------------------------------

_indexes: dict[str, tuple[Database, WindowIndex]] = {}


def _index_for(store: str, db: Database | None) -> tuple[Database, WindowIndex]:
    """This process's index of ``store`` and a connection to read it (read-only, its own,
    unless the caller runs the check in its own process and gives its connection)."""
    from marsad.crosslingual.profile import DIMS, MODEL_ID

    key = store if db is None else f"{store}#{id(db)}"
    if key not in _indexes:
        if db is None:
            from sqlite_utils import Database

            conn = sqlite3.connect(f"file:{store}?mode=ro", uri=True, timeout=30.0)
            db = Database(conn)
        _indexes[key] = (db, WindowIndex(MODEL_ID, DIMS))
    return _indexes[key]


def forget_index(store: str, db: Database) -> None:
    """Drop the in-process index of a connection that is closing."""
    _indexes.pop(f"{store}#{id(db)}", None)


def check_batch(request: CheckRequest, db: Database | None = None) -> list[Checked]:
    """Profile each article and verify it against the window's closest articles of the other
    language (those checked before it, in this batch too), in order."""
    from marsad.crosslingual.profile import MODEL_ID, profile_article, profile_from_row
    from marsad.crosslingual.profile import profile_to_row as to_row
    from marsad.crosslingual.verify import evidence_to_json, verify

    store_db, index = _index_for(request.store, db)
    index.refresh(store_db, request.since)
    fresh: dict[int, Profile] = {}
    results: list[Checked] = []
    for article in request.articles:
        started = time.process_time()
        profile = profile_article(article.title, article.text, article.language)
        found: list[Found] = []
        verified = 0
        if profile is not None:
            candidates = [
                (cid, cos)
                for cid, cos in index.candidates(profile, MAX_CANDIDATES)
                if cid != article.article_id
            ]
            stored = profile_rows(store_db, [cid for cid, _ in candidates if cid not in fresh])
            for cid, _ in candidates:
                other = fresh.get(cid)
                if other is None and cid in stored:
                    other = profile_from_row(stored[cid])
                if other is None or other.model != MODEL_ID:
                    continue
                verified += 1
                arabic, foreign = (profile, other) if profile.language == "ar" else (other, profile)
                verdict = verify(arabic, foreign)
                if verdict.is_translation:
                    ids = (
                        (article.article_id, cid)
                        if profile.language == "ar"
                        else (cid, article.article_id)
                    )
                    evidence = evidence_to_json(verdict.evidence)
                    found.append(Found(ids[0], ids[1], verdict.evidence.score, evidence))
            index.add(article.article_id, profile, article.fetched_at)
            fresh[article.article_id] = profile
        results.append(
            Checked(
                article_id=article.article_id,
                fetched_at=article.fetched_at,
                row=to_row(profile) if profile is not None else None,
                language=profile.language if profile is not None else None,
                found=tuple(found),
                verified=verified,
                cpu_seconds=time.process_time() - started,
            )
        )
    return results


def _warm() -> int:
    """Load the model now (the first batch then waits for nothing but its own work); the
    process's resident memory in KB, for the log."""
    from marsad.crosslingual.embed import encode

    encode(["warm up"])
    return _rss_kb()


def _rss_kb() -> int:
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def worker_rss_kb() -> int:
    """Resident memory of the worker process (run in it)."""
    return _rss_kb()


# -- in the caller's process -----------------------------------------------------------------------


class LinkWorker:
    """``await worker.check(request)``: in one worker process, started on first use (a store
    that needs no linking starts none), or in the caller's own process with ``inline``
    (``marsad link``, ``marsad import``: no event loop to keep free)."""

    def __init__(self, *, inline: bool = False, db: Database | None = None) -> None:
        self.inline = inline
        self._db = db
        self.pool = SpawnedPool(1, _warm, "the cross-lingual worker")
        self.started = False

    @property
    def running(self) -> bool:
        return self.pool.running

    def start(self) -> None:
        if not self.inline and self.pool.start():
            self.started = True
            log.info("cross-lingual worker started (the model loads in it)")

    async def check(self, request: CheckRequest) -> list[Checked]:
        if self.inline:
            self.started = True
            return check_batch(request, self._db)
        self.start()
        try:
            return await self.pool.run(check_batch, request)
        except BrokenProcessPool as exc:
            raise WorkerDied("the cross-lingual worker died; its batch is checked again") from exc

    async def rss_kb(self) -> int | None:
        """The worker's resident memory (None: no worker process)."""
        if self.inline:
            return _rss_kb()
        if not self.pool.running:
            return None
        try:
            return await self.pool.run(worker_rss_kb)
        except BrokenProcessPool:
            return None

    def close(self) -> None:
        self.pool.close()
