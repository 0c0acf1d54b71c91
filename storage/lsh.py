"""The near-duplicate index in the store: signatures and key rows, one function per statement.

An article is filed under its 37 MinHash band keys (finds copies by Jaccard) and its
content-defined chunk keys (finds excerpts and truncated copies by containment), in
``WITHOUT ROWID`` tables keyed by (key, article).

Three tables, as in a log-structured merge: new rows go to the small ``lsh_recent``; every
``RECENT_LIMIT`` articles they are folded in key order into ``lsh_middle``, and every
``MIDDLE_LIMIT`` articles that is folded into the large ``lsh_bands``. Keys are random, so
writing an article straight into a 50M-row B-tree dirties ~50 separate pages, each written twice
(WAL, checkpoint). A fold writes each page it touches once, so the big tree is rewritten once
per 100,000 articles instead of a page per key; the middle level keeps the folds of the small
one from touching the big one. A lookup reads all three (one seek per key and table).

Nothing is held in memory: a lookup is one bounded seek per key and table, so a lookup in a
store of a million articles costs a few more page reads than in one of ten thousand (about 1.5×
the time, bench/README.md), no more.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING

from sqlite_utils import Database

from marsad.storage.fingerprint import BANDS, Fingerprint, band_keys
from marsad.storage.shingles import insert_shingles

if TYPE_CHECKING:
    from marsad.storage.shingles import ShingleSet

# How many articles one bucket may contribute, newest first. A bucket shared by thousands of
# articles (a template every outlet prints) must not make one lookup scan them all.
BUCKET_LIMIT = 32
# Articles per level before it is folded into the next. A fold rewrites most pages of the level
# it goes into, so each level is about ten times the one above; a smaller lsh_recent is folded
# more often, a larger one outgrows the page cache between commits (a micro-benchmark of the
# index at 1M stored: 5k/10k/20k/40k, 10k best). Folding lsh_middle rewrites lsh_bands once
# per MIDDLE_LIMIT articles: ~1 s per 100k stored.
RECENT_LIMIT = 10_000
MIDDLE_LIMIT = 100_000
# Chunk-key lists are padded to a multiple of this, so a handful of statement shapes is
# prepared and cached instead of one per chunk count.
_PAD = 16
_NO_KEY = 0  # padding; a real key is 0 with probability 2^-64

_BRANCH = (
    "SELECT article_id, {kind} AS kind FROM (SELECT article_id FROM {table} "
    "WHERE band_key = ? ORDER BY article_id DESC LIMIT {limit})"
)
# The index's tables, newest rows first.
LEVELS = ("lsh_recent", "lsh_middle", "lsh_bands")


@dataclass(frozen=True)
class Candidate:
    article_id: int
    bands: int  # MinHash bands shared
    chunks: int  # content-defined chunks shared


@lru_cache(maxsize=32)
def _candidates_sql(bands: int, chunks: int) -> str:
    # One statement for all keys; each branch is one index seek bounded by BUCKET_LIMIT. The
    # keys are bound once per table, in LEVELS order.
    branches = []
    for table in LEVELS:
        branches += [_BRANCH.format(kind=0, table=table, limit=BUCKET_LIMIT)] * bands
        branches += [_BRANCH.format(kind=1, table=table, limit=BUCKET_LIMIT)] * chunks
    return (
        "SELECT article_id, count(*) - sum(kind) AS bands, sum(kind) AS chunks FROM ("
        + " UNION ALL ".join(branches)
        + ") GROUP BY article_id ORDER BY count(*) DESC, article_id DESC LIMIT ?"
    )


@lru_cache(maxsize=256)
def _insert_sql(table: str, count: int) -> str:
    return f"INSERT OR IGNORE INTO {table} (band_key, article_id) VALUES " + ", ".join(
        ["(?, ?)"] * count
    )


def index_keys(fp: Fingerprint) -> list[int]:
    """Every key the article is filed under: its MinHash bands, then its chunks."""
    return [*band_keys(fp), *fp.chunks] if fp.indexable else []


def index_article(
    db: Database, article_id: int, fp: Fingerprint, shingles: ShingleSet | None = None
) -> None:
    """Store the article's signature, its shingle set if given (what a later article is
    verified against, storage/shingles.py) and, if it is long enough to compare, its index
    rows (in lsh_recent; the article that fills a level folds it into the next)."""
    insert_fingerprint(db, article_id, fp)
    if shingles is not None:
        insert_shingles(db, article_id, shingles)
    keys = index_keys(fp)
    if not keys:
        return
    insert_keys(db, "lsh_recent", article_id, keys)
    db.execute("UPDATE lsh_state SET recent_articles = recent_articles + 1")
    recent, middle = level_counts(db)
    if recent >= RECENT_LIMIT:
        fold_recent(db)
        if recent + middle >= MIDDLE_LIMIT:
            fold_middle(db)


def insert_fingerprint(db: Database, article_id: int, fp: Fingerprint) -> None:
    db.execute(
        "INSERT OR REPLACE INTO fingerprints (article_id, shingles, signature) VALUES (?, ?, ?)",
        [article_id, fp.shingles, fp.signature],
    )


def insert_keys(db: Database, table: str, article_id: int, keys: Sequence[int]) -> None:
    """File ``article_id`` under ``keys`` in ``table`` (one of the three levels)."""
    if not keys:
        return
    params: list[int] = []
    for key in keys:
        params += (key, article_id)
    db.execute(_insert_sql(table, len(keys)), params)


def level_counts(db: Database) -> tuple[int, int]:
    """How many articles' rows wait in lsh_recent and in lsh_middle."""
    row = db.execute("SELECT recent_articles, middle_articles FROM lsh_state").fetchone()
    return int(row[0]), int(row[1])


def fold_recent(db: Database) -> None:
    """Move lsh_recent's rows into lsh_middle."""
    _fold(db, "lsh_recent", "lsh_middle")
    db.execute(
        "UPDATE lsh_state SET middle_articles = middle_articles + recent_articles, "
        "recent_articles = 0"
    )


def fold_middle(db: Database) -> None:
    """Move lsh_middle's rows into lsh_bands."""
    _fold(db, "lsh_middle", "lsh_bands")
    db.execute("UPDATE lsh_state SET middle_articles = 0")


def _fold(db: Database, source: str, target: str) -> None:
    # In key order, so each page of the target is visited once.
    db.execute(
        f"INSERT OR IGNORE INTO {target} (band_key, article_id) "
        f"SELECT band_key, article_id FROM {source} ORDER BY band_key, article_id"
    )
    db.execute(f"DELETE FROM {source}")


def candidates(db: Database, fp: Fingerprint, limit: int) -> list[Candidate]:
    """Articles sharing a band or a chunk with ``fp``, the most keys shared first."""
    if not fp.indexable:
        return []
    chunks = list(fp.chunks)
    chunks += [_NO_KEY] * (-len(chunks) % _PAD)
    keys = [*band_keys(fp), *chunks]
    rows = db.query(_candidates_sql(BANDS, len(chunks)), [*keys * len(LEVELS), limit])
    return [Candidate(int(r["article_id"]), int(r["bands"]), int(r["chunks"])) for r in rows]


def fingerprints_of(db: Database, article_ids: Sequence[int]) -> dict[int, Fingerprint]:
    if not article_ids:
        return {}
    marks = ",".join("?" * len(article_ids))
    rows = db.query(
        f"SELECT article_id, shingles, signature FROM fingerprints WHERE article_id IN ({marks})",
        list(article_ids),
    )
    return {
        int(r["article_id"]): Fingerprint(signature=bytes(r["signature"]), shingles=r["shingles"])
        for r in rows
    }
