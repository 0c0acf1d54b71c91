"""Is this Arabic article a translation of that one? A verdict from two profiles, with evidence.

Whole-document vectors capture the topic: an Arab outlet's own report on an event scores nearly
as high as a translation of the wire story. What separates them is the paragraphs: a translation
renders the original paragraph by paragraph, so each of its paragraphs has a counterpart that
says the same thing, while an independent report, even with the same facts, says them in other
paragraphs, in its own order. So paragraphs are matched both ways (each to its closest on the
other side, kept when that one's closest is it too: either side may be truncated), the matches
must keep their order on both sides, and the anchors (numbers, designations) weigh in: a matched
pair whose numbers differ is strong evidence against. The score is the share of the shorter
side's paragraphs so matched times their mean cosine; the document vectors only screen.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from marsad.crosslingual.alignment import Bead, align

if TYPE_CHECKING:
    from numpy.typing import NDArray

    from marsad.crosslingual.profile import Profile

# Doc-vector cosine below which a pair is not even verified (a translation's is far above).
SCREEN_MIN = 0.5
# A paragraph pair counts as a match from this cosine up (a translated paragraph against its
# original scores 0.7–0.9; a paragraph on the same facts written independently rarely 0.6).
PARAGRAPH_MIN = 0.6
# Coverage is counted over at least this many paragraphs: one or two matched paragraphs are
# what an independent report of the same event also has (its lead says what the wire's says).
MIN_COVERED = 3
# On a short side (MIN_COVERED paragraphs or fewer: a translation cut after its lead, or an
# outlet's brief) coverage says little, and the strength of the matches decides: a translation's
# paragraphs match their originals at a mean cosine of 0.72 and up on the labelled set cut to
# its first two or three paragraphs, an independent report's that follow the wire's lead at
# 0.69 at most. At SHORT_MEAN or more, two paragraphs matched in step (consecutive on both
# sides) are covered over two; below it, a short side is covered over MIN_COVERED + 1.
SHORT_SIDE = 2
SHORT_MEAN = 0.70
# The most paragraphs in front of the first match that coverage leaves out (see _coverage).
OUTLET_LINES = 2
# How many matched paragraphs one pair of paragraphs with different numbers costs.
CONFLICT_WEIGHT = 1.0
# The verdict: score at or above THRESHOLD. Calibrated on tests/data/crosslingual sets a and b
# (see bench/README.md): the midpoint between the weakest translation (0.69) and the strongest
# independent report of the same event (0.47), for a margin on both sides. The blind set c kept
# its reports under 0.46; its one translation under 0.58 was run into a single paragraph.
THRESHOLD = 0.58


@dataclass(frozen=True)
class Evidence:
    score: float
    doc_similarity: float
    paragraphs: tuple[tuple[int, int, float], ...]  # (arabic paragraph, other paragraph, cosine)
    coverage: float  # share of the shorter side's paragraphs matched
    anchors_shared: tuple[str, ...]
    anchors_only_arabic: tuple[str, ...]
    anchors_only_other: tuple[str, ...]
    # Paragraph pairs close in meaning whose numbers differ (each side has one the other's
    # paragraph, and its neighbours, lack): not counted as matched, and counted against.
    anchor_conflicts: tuple[tuple[int, int], ...] = ()


@dataclass(frozen=True)
class Verdict:
    is_translation: bool
    evidence: Evidence


def screen(a: Profile, b: Profile) -> float:
    """Cosine of the two document vectors."""
    return float(np.dot(a.doc_array(), b.doc_array()))


def screen_many(profile: Profile, doc_matrix: NDArray[np.float32]) -> NDArray[np.float32]:
    """Cosines of ``profile``'s document vector to each row of ``doc_matrix`` (N × DIMS)."""
    if doc_matrix.size == 0:
        return np.zeros(0, dtype=np.float32)
    return np.asarray(doc_matrix @ profile.doc_array(), dtype=np.float32)


def verify(arabic: Profile, other: Profile) -> Verdict:
    """Whether ``arabic`` is a translation of ``other``, with the evidence either way.

    Raises ValueError for profiles of two models (their vectors cannot be compared).
    """
    if arabic.model != other.model:
        raise ValueError(f"profiles of models {arabic.model} and {other.model} cannot be compared")
    evidence = _evidence(arabic, other)
    linked = evidence.score >= THRESHOLD and evidence.doc_similarity >= SCREEN_MIN
    return Verdict(is_translation=linked, evidence=evidence)


def evidence_to_json(e: Evidence) -> dict[str, object]:
    """The evidence as plain JSON values, rounded for people to read."""
    return {
        "score": round(e.score, 3),
        "doc_similarity": round(e.doc_similarity, 3),
        "paragraphs": [[a, o, round(c, 3)] for a, o, c in e.paragraphs],
        "coverage": round(e.coverage, 3),
        "anchors_shared": list(e.anchors_shared),
        "anchors_only_arabic": list(e.anchors_only_arabic),
        "anchors_only_other": list(e.anchors_only_other),
        "anchor_conflicts": [list(pair) for pair in e.anchor_conflicts],
    }


def _evidence(arabic: Profile, other: Profile) -> Evidence:
    """Units matched both ways (each its closest's closest) and kept in order; when one side
    is a run-on text's sentences, runs of them aligned with the other side's paragraphs
    (:mod:`marsad.crosslingual.alignment`). A match is a :class:`Bead` of the side read in
    runs (the Arabic one when both are alike); in the evidence it is (Arabic unit, other
    unit, cosine), a run given by its first sentence."""
    in_runs = arabic.run_on != other.run_on
    runs, paragraphs = (other, arabic) if in_runs and other.run_on else (arabic, other)
    if in_runs:
        beads = align(runs.paragraph_matrix(), paragraphs.paragraph_matrix(), PARAGRAPH_MIN)
    else:
        sims = arabic.paragraph_matrix() @ other.paragraph_matrix().T
        beads = tuple(Bead(i, 1, j, c) for i, j, c in _mutual_matches(sims))
    conflicts = _anchor_conflicts(runs, paragraphs, beads)
    kept = _in_order(tuple(b for b in beads if (b.first, b.paragraph) not in conflicts))
    coverage, counted = _coverage(
        kept, runs.paragraph_count, paragraphs.paragraph_count, in_runs=in_runs
    )
    score = 0.0
    if kept:
        mean = sum(b.cosine for b in kept) / len(kept)
        score = max(0.0, coverage - CONFLICT_WEIGHT * len(conflicts) / counted) * mean
    flip = runs is other
    shared, only_arabic, only_other = _compare_anchors(arabic.anchors, other.anchors)
    return Evidence(
        score=score,
        doc_similarity=screen(arabic, other),
        paragraphs=tuple(
            (b.paragraph, b.first, b.cosine) if flip else (b.first, b.paragraph, b.cosine)
            for b in kept
        ),
        coverage=coverage,
        anchors_shared=shared,
        anchors_only_arabic=only_arabic,
        anchors_only_other=only_other,
        anchor_conflicts=tuple(sorted((j, i) if flip else (i, j) for i, j in conflicts)),
    )


def _mutual_matches(sims: NDArray[np.float32]) -> tuple[tuple[int, int, float], ...]:
    """Paragraph pairs each the other's closest, at PARAGRAPH_MIN or more, in Arabic order."""
    if sims.size == 0:
        return ()
    best_other = sims.argmax(axis=1)
    best_arabic = sims.argmax(axis=0)
    return tuple(
        (i, int(j), float(sims[i, j]))
        for i, j in enumerate(best_other)
        if best_arabic[j] == i and sims[i, j] >= PARAGRAPH_MIN
    )


def _coverage(
    beads: tuple[Bead, ...], units: int, paragraphs: int, *, in_runs: bool = False
) -> tuple[float, float]:
    """The share of the shorter side matched, and the paragraphs it is counted over (the
    shorter side's, at least :func:`_floor`).

    Up to OUTLET_LINES units in front of the first match, on either side or both, are not
    counted: those are an outlet's own lines (its headline kept in the text, a line of
    introduction «… وفيما يلي ما نقلته رويترز:», a photo caption), not paragraphs the
    translation left out. A side read in runs (``in_runs``) counts in paragraphs: its units at
    the runs' mean length when that is fewer than the other side's (a run-on translation cut
    short), but never fewer than the paragraphs the runs span (an independent report's few
    long runs spread over the whole wire story).
    """
    if not beads:
        return 0.0, float(max(min(units, paragraphs), MIN_COVERED))
    first = beads[0]
    if first.first <= OUTLET_LINES and first.paragraph <= OUTLET_LINES:
        units -= first.first
        paragraphs -= first.paragraph
    shorter = float(min(units, paragraphs))
    if in_runs:
        per_run = sum(b.count for b in beads) / len(beads)
        spanned = beads[-1].paragraph - first.paragraph + 1
        shorter = min(float(paragraphs), max(units / per_run, float(spanned)))
    counted = max(shorter, float(_floor(beads, shorter)))
    return min(1.0, len(beads) / counted), counted


def _floor(beads: tuple[Bead, ...], shorter: float) -> int:
    """The fewest paragraphs coverage is counted over: MIN_COVERED, but on a short side what
    SHORT_MEAN says."""
    if shorter > MIN_COVERED:
        return MIN_COVERED
    if sum(b.cosine for b in beads) / len(beads) < SHORT_MEAN:
        return MIN_COVERED + 1
    if shorter <= SHORT_SIDE and len(beads) == SHORT_SIDE:
        one, two = beads
        if two.first == one.first + one.count and two.paragraph == one.paragraph + 1:
            return SHORT_SIDE
    return MIN_COVERED


def _in_order(beads: tuple[Bead, ...]) -> tuple[Bead, ...]:
    """The heaviest chain of matches in the same order on both sides (by summed cosine).

    A translation renders its original in order, dropping or merging a paragraph at most; an
    independent report tells the same facts in its own order, so its matches cross.
    """
    if not beads:
        return ()
    # best[k]: weight of the heaviest chain ending with beads[k]; they come in order of `first`.
    best = [b.cosine for b in beads]
    previous = [-1] * len(beads)
    for k, b in enumerate(beads):
        for m in range(k):
            before = beads[m]
            in_step = before.first < b.first and before.paragraph < b.paragraph
            if in_step and best[m] + b.cosine > best[k]:
                best[k], previous[k] = best[m] + b.cosine, m
    k = max(range(len(beads)), key=best.__getitem__)
    chain: list[Bead] = []
    while k >= 0:
        chain.append(beads[k])
        k = previous[k]
    return tuple(reversed(chain))


def _anchor_conflicts(
    runs: Profile, paragraphs: Profile, beads: tuple[Bead, ...]
) -> set[tuple[int, int]]:
    """(first unit, paragraph) of the matches whose units each hold an anchor the other's (or
    a neighbour of it, for a merged or split paragraph) does not: the same sentence with other
    numbers, as in the next day's toll or a recurring market report."""
    if not runs.anchor_paragraphs or not paragraphs.anchor_paragraphs:
        return set()
    in_runs, in_paragraphs = _by_paragraph(runs), _by_paragraph(paragraphs)
    empty: frozenset[str] = frozenset()
    conflicts: set[tuple[int, int]] = set()
    for b in beads:
        mine = empty.union(*(in_runs.get(i, empty) for i in range(b.first, b.first + b.count)))
        theirs = in_paragraphs.get(b.paragraph, empty)
        if not mine or not theirs:
            continue
        near_mine = mine | in_runs.get(b.first - 1, empty) | in_runs.get(b.first + b.count, empty)
        near_theirs = (
            theirs
            | in_paragraphs.get(b.paragraph - 1, empty)
            | in_paragraphs.get(b.paragraph + 1, empty)
        )
        if mine - near_theirs and theirs - near_mine:
            conflicts.add((b.first, b.paragraph))
    return conflicts


def _by_paragraph(profile: Profile) -> dict[int, frozenset[str]]:
    found: dict[int, set[str]] = {}
    for anchor, index in zip(profile.anchors, profile.anchor_paragraphs, strict=True):
        found.setdefault(index, set()).add(anchor)
    return {index: frozenset(anchors) for index, anchors in found.items()}


def _compare_anchors(
    arabic: tuple[str, ...], other: tuple[str, ...]
) -> tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]:
    """Anchors on both sides, only in the Arabic, only in the other (each once, in order)."""
    in_arabic, in_other = Counter(arabic), Counter(other)
    shared = tuple(dict.fromkeys(a for a in arabic if a in in_other))
    only_arabic = tuple(dict.fromkeys(a for a in arabic if a not in in_other))
    only_other = tuple(dict.fromkeys(a for a in other if a not in in_arabic))
    return shared, only_arabic, only_other
