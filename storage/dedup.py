"""Deciding whether an incoming article is a copy of one the store already holds.

Layers from cheap to expensive; the first that decides wins (same canonical URL or GUID is
caught before this, as the same article seen again):

1. ``body_hash``: the normalised body, credit lines and boilerplate removed, hashed exactly.
2. ``minhash``: LSH candidates from the band index, screened on their MinHash estimates and then
   verified on the actual word shingles. A candidate is a copy when the Jaccard similarity of the
   two shingle sets reaches ``JACCARD_ACCEPT`` (re-titled, re-credited, a paragraph dropped) or
   when the smaller set is contained in the larger by ``CONTAINMENT_ACCEPT`` (a truncated copy, an
   excerpt, a copy with an added introduction).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from sqlite_utils import Database

from marsad.arabic import normalize
from marsad.arabic.credits import Credits, split_credits
from marsad.storage import articles as store
from marsad.storage import lsh
from marsad.storage.fingerprint import (
    Fingerprint,
    Similarity,
    estimate,
    exact,
    fingerprint,
    shingle_hashes,
)
from marsad.storage.models import DuplicateVerdict

# On the dev set every labelled copy pair has containment ≥ 0.92 (54 of 900 have Jaccard < 0.6:
# the truncations and excerpts) and other outlets' write-ups of the same event reach at most
# Jaccard 0.16 and containment 0.32. The thresholds (the trial's) sit inside that gap, not on
# its edges; tests/test_dedup.py holds our own shapes on both sides of them.
JACCARD_ACCEPT = 0.6
CONTAINMENT_ACCEPT = 0.7
# Containment of a very short text says little: three sentences of a stock template are
# "contained" in every market report. Below this the Jaccard rule alone decides.
CONTAINMENT_MIN_SHINGLES = 20
# How many LSH candidates (most bands shared first) are looked at, and the MinHash estimates a
# candidate needs before its text is fetched for verification (about four standard deviations
# of the estimate below the acceptance thresholds).
CANDIDATE_LIMIT = 16
SCREEN_JACCARD = 0.4
SCREEN_CONTAINMENT = 0.5
SCREEN_CHUNKS = 2


@dataclass(frozen=True)
class PreparedBody:
    """An article body ready for comparison: credits cut out, normalised, hashed, fingerprinted."""

    credits: Credits
    body_norm: str
    body_hash: str
    fingerprint: Fingerprint

    def provenance_json(self) -> str | None:
        found = self.credits.provenance()
        return json.dumps(found, ensure_ascii=False) if found else None


@dataclass(frozen=True)
class _Verified:
    article_id: int
    story_id: int
    similarity: Similarity
    rule: str
    evidence: dict[str, Any] = field(default_factory=dict)


def body_hash(body_norm: str, title_norm: str) -> str:
    # An article with no body (a feed entry with a title only) is identified by its title.
    basis = body_norm or f"title:{title_norm}"
    return hashlib.sha256(basis.encode("utf-8")).hexdigest()


def prepare_body(text: str, title_norm: str) -> PreparedBody:
    credits = split_credits(text)
    body_norm = normalize(credits.body)
    return PreparedBody(
        credits=credits,
        body_norm=body_norm,
        body_hash=body_hash(body_norm, title_norm),
        fingerprint=fingerprint(body_norm),
    )


def find_duplicate(db: Database, body: PreparedBody) -> DuplicateVerdict | None:
    """The story ``body`` belongs to, or None when it is new.

    ``original_id`` of the verdict is the story's current original; ``evidence["matched"]`` is
    the article that proved it. ``evidence["merge"]`` lists other stories the article also
    matched: they are one story, and the caller merges them.
    """
    found = store.find_original_by_body_hash(db, body.body_hash)
    if found is not None:
        matched, story_id = found
        return _verdict(db, story_id, 1.0, {"layer": "body_hash", "matched": matched})
    if not body.fingerprint.indexable:
        return None
    accepted = _near_duplicates(db, body)
    if not accepted:
        return None
    best = max(accepted, key=lambda v: (v.similarity.jaccard, v.similarity.containment))
    score = best.similarity.jaccard if best.rule == "jaccard" else best.similarity.containment
    evidence = dict(best.evidence)
    others = sorted({v.story_id for v in accepted} - {best.story_id})
    if others:
        evidence["merge"] = others
    return _verdict(db, best.story_id, score, evidence)


def _near_duplicates(db: Database, body: PreparedBody) -> list[_Verified]:
    fp = body.fingerprint
    found = lsh.candidates(db, fp, CANDIDATE_LIMIT)
    prints = lsh.fingerprints_of(db, [c.article_id for c in found])
    screened: list[tuple[lsh.Candidate, Similarity]] = []
    for cand in found:
        other = prints.get(cand.article_id)
        if other is None:
            continue
        guess = estimate(fp, other)
        # A short excerpt's estimated containment is too noisy to screen on; sharing two whole
        # chunks (each some eight words in a row) is evidence enough to look at the text.
        if (
            guess.jaccard >= SCREEN_JACCARD
            or guess.containment >= SCREEN_CONTAINMENT
            or cand.chunks >= SCREEN_CHUNKS
        ) and (
            guess.jaccard >= SCREEN_JACCARD
            or min(fp.shingles, other.shingles) >= CONTAINMENT_MIN_SHINGLES
        ):
            screened.append((cand, guess))
    if not screened:
        return []
    mine = shingle_hashes(body.body_norm)
    texts = store.article_bodies(db, [cand.article_id for cand, _ in screened])
    accepted: list[_Verified] = []
    for cand, guess in screened:
        article_id = cand.article_id
        if article_id not in texts:
            continue
        text, title_norm, story_id = texts[article_id]
        theirs = shingle_hashes(prepare_body(text, title_norm).body_norm)
        sim = exact(mine, theirs)
        rule = decide(sim, len(mine), len(theirs))
        if rule is None:
            continue
        accepted.append(
            _Verified(
                article_id=article_id,
                story_id=story_id,
                similarity=sim,
                rule=rule,
                evidence={
                    "layer": "minhash",
                    "rule": rule,
                    "matched": article_id,
                    "jaccard": round(sim.jaccard, 4),
                    "containment": round(sim.containment, 4),
                    "estimated_jaccard": round(guess.jaccard, 4),
                    "bands": cand.bands,
                    "chunks": cand.chunks,
                    "shingles": [len(mine), len(theirs)],
                },
            )
        )
    return accepted


def decide(sim: Similarity, size_a: int, size_b: int) -> str | None:
    """Which rule makes two shingle sets copies of each other ("jaccard", "containment"), if any."""
    if sim.jaccard >= JACCARD_ACCEPT:
        return "jaccard"
    if sim.containment >= CONTAINMENT_ACCEPT and min(size_a, size_b) >= CONTAINMENT_MIN_SHINGLES:
        return "containment"
    return None


def _verdict(
    db: Database, story_id: int, similarity: float, evidence: dict[str, Any]
) -> DuplicateVerdict:
    original = store.story_original(db, story_id)
    return DuplicateVerdict(
        original_id=original if original is not None else int(evidence["matched"]),
        story_id=story_id,
        similarity=round(similarity, 4),
        evidence=evidence,
    )
