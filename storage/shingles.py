"""The shingle sets copy verification compares, kept with each article so that they are read, not
recomputed.

Verifying a candidate (:mod:`storage.dedup`) compares the exact shingle sets of two bodies: the
text with its credits cut out, normalised, cut into word shingles (:mod:`storage.fingerprint`).
The incoming article's set comes from its own preparation, computed once with its fingerprint;
each stored article's is kept in ``article_shingles`` when it is stored, so a candidate's
original is one row read instead of its text re-cut, re-normalised and re-fingerprinted.

The stored form is the sorted distinct 64-bit hashes themselves, little-endian, 8 bytes a
shingle: the very set :func:`~storage.fingerprint.shingle_hashes` gives, so a verdict from the
stored set is the verdict from the text, to the last shingle. A 32-bit truncation would halve
the bytes but could count a shingle as shared that is not (about |A|·|B|/2³² per pair: one
verification in a few thousand for 3,000-shingle texts), and delta coding plus zlib saves
under 3% on random 64-bit values.

Each set carries the version of the rules that computed it (:func:`current_version`): credit
patterns, normalisation and shingling change, and a set of another version is recomputed from
the text, never trusted. An article without a stored set (stored before 0010, or under other
rules) is computed from its text the same way, so it is only slower.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING

import numpy as np

from marsad.arabic import normalize
from marsad.arabic.credits import Credits, split_credits
from marsad.storage import articles as store
from marsad.storage.fingerprint import U64, shingle_hashes
from marsad.storage.transactions import write_transaction

if TYPE_CHECKING:
    from sqlite_utils import Database

# Bump for a change the canary below cannot show: the stored form, or a credit or
# normalisation rule its text does not exercise. A new version makes every stored set
# stale: a migration recording "fill_shingles" (as 0010 does) computes them again.
RULES = 1
# Our own text, through every step a body goes through before it is shingled: a dateline and
# agency in front, a trailing agency, a "read also" line, a share button, a source line,
# diacritics, tatweel, hamza seats, alef forms, Persian letters, both kinds of digits, Latin.
_CANARY = (
    "الرياض - واس - أعلنَ المسؤولُ عن الهيئةِ العامّةِ للإحصاءِ أنّ عددَ المسافرينَ عبرَ "
    "المطاراتِ بلغَ ١٢٣٤٥ مسافراً خلالَ الأسبوعِ الماضي، بزيادةٍ قدرُها 7% عن العـــامِ السابقِ.\n"
    "وقالَ مسئولٌ آخرُ في مؤتمرٍ صحفيٍّ إنّ الأرقامَ الكاملةَ ستُنشرُ في تقريرٍ مفصّلٍ "
    "الشهرَ المقبلَ، وإنّ منظمة UN تتابعُ الملفَّ مع شرکاء إقلیميين. (أ ف ب)\n"
    "اقرأ أيضاً: خطة جديدة لتطوير الموانئ\n"
    "شارك هذا الخبر\n"
    "المصدر : وكالات"
)
# Originals filled per transaction by the derived task, newest stories first, and how many at
# most: a candidate is far more often a recent article (index buckets give their newest first),
# and each one filled costs about a millisecond of the store's opening (the dev set: 2,386 in
# 3.4 s of CPU), so the bound keeps an upgrade's first opening near a minute. Older originals
# are computed from their texts when they are compared, as before 0010.
FILL_BATCH = 500
FILL_LIMIT = 50_000


@dataclass(frozen=True)
class ShingleSet:
    """A body's distinct shingle hashes, sorted, as little-endian uint64 bytes, and the version
    of the rules that computed them. Plain bytes: it crosses to the writer's process cheaply."""

    hashes: bytes
    version: int

    def values(self) -> U64:
        return np.frombuffer(self.hashes, dtype="<u8")


def comparable_body(text: str) -> tuple[Credits, str]:
    """What copy detection compares of an article's text: its credits and boilerplate cut out
    (kept as provenance), and the rest normalised."""
    credits = split_credits(text)
    return credits, normalize(credits.body)


def body_shingles(text: str) -> U64:
    """The shingle set verification compares for an article's stored text."""
    return shingle_hashes(comparable_body(text)[1])


def encode(hashes: U64) -> bytes:
    return hashes.astype("<u8", copy=False).tobytes()


def shingle_set(hashes: U64) -> ShingleSet:
    """``hashes`` (sorted, distinct, as :func:`shingle_hashes` gives them) under today's rules."""
    return ShingleSet(encode(hashes), current_version())


@cache
def current_version() -> int:
    """The version of today's rules (:func:`version_of` :func:`body_shingles`)."""
    return version_of(body_shingles)


def version_of(rules: Callable[[str], U64]) -> int:
    """The version of the rules that turn a text into its shingle set: :data:`RULES` and the
    set they give the canary, so a change to the credit patterns, normalisation or shingling
    that alters the canary is a new version without anyone remembering to bump it."""
    digest = hashlib.blake2b(f"rules {RULES}".encode(), digest_size=7)
    digest.update(encode(rules(_CANARY)))
    return int.from_bytes(digest.digest(), "big")


def insert_shingles(db: Database, article_id: int, shingles: ShingleSet) -> None:
    db.execute(
        "INSERT OR REPLACE INTO article_shingles (article_id, version, hashes) VALUES (?, ?, ?)",
        [article_id, shingles.version, shingles.hashes],
    )


def stored_shingles(db: Database, article_ids: Sequence[int], version: int) -> dict[int, U64]:
    """The stored sets of these articles that ``version`` computed."""
    if not article_ids:
        return {}
    marks = ",".join("?" * len(article_ids))
    rows = db.execute(
        f"SELECT article_id, hashes FROM article_shingles "
        f"WHERE article_id IN ({marks}) AND version = ?",
        [*article_ids, version],
    ).fetchall()
    # A blob cut short is not trusted either: its text says what it should hold.
    return {int(i): np.frombuffer(h, dtype="<u8") for i, h in rows if len(h) % 8 == 0}


def shingles_of(db: Database, article_ids: Sequence[int]) -> dict[int, U64]:
    """The shingle set of each of these articles (those that exist): as stored under today's
    rules, else computed from its text."""
    found = stored_shingles(db, article_ids, current_version())
    missing = [i for i in article_ids if i not in found]
    for article_id, text in store.article_bodies(db, missing).items():
        found[article_id] = body_shingles(text)
    return found


def originals_without_shingles(
    db: Database, version: int, before: int, limit: int
) -> list[tuple[int, int, str]]:
    """(story id, original id, original's text) of up to ``limit`` stories with ids below
    ``before``, newest first, whose original has a text (not a title alone, nor a body pruned)
    and no set of ``version`` stored."""
    rows = db.execute(
        """
        SELECT s.id, a.id, a.text FROM stories s JOIN articles a ON a.id = s.original_id
        WHERE s.id < ? AND s.merged_into IS NULL AND a.text != '' AND NOT EXISTS (
            SELECT 1 FROM article_shingles k WHERE k.article_id = a.id AND k.version = ?
        )
        ORDER BY s.id DESC LIMIT ?
        """,
        [before, version, limit],
    ).fetchall()
    return [(int(s), int(a), str(t)) for s, a, t in rows]


def fill_shingles(db: Database, batch: int = FILL_BATCH, limit: int = FILL_LIMIT) -> int:
    """Store today's shingle set for the originals of the newest ``limit`` stories that lack
    one (only a story's original is ever compared); return how many were stored. A derived
    task (:mod:`storage.derived`): interrupted, it resumes with the originals still without."""
    version = current_version()
    done, before = 0, 2**63 - 1
    while done < limit and (rows := originals_without_shingles(db, version, before, batch)):
        rows = rows[: limit - done]
        # Computed before the write lock is taken: the texts never change.
        computed = [(article_id, shingle_set(body_shingles(text))) for _, article_id, text in rows]
        with write_transaction(db):
            for article_id, shingles in computed:
                insert_shingles(db, article_id, shingles)
        done += len(rows)
        before = rows[-1][0]
    return done
