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
    if arabic.run_on != other.run_on:
        return _aligned_evidence(arabic, other)
    doc_similarity = screen(arabic, other)
    sims = arabic.paragraph_matrix() @ other.paragraph_matrix().T
    mutual = _mutual_matches(sims)
    conflicts = _anchor_conflicts(arabic, other, mutual)
    pairs = _in_order(tuple(p for p in mutual if (p[0], p[1]) not in conflicts))
    coverage = _coverage(pairs, arabic.paragraph_count, other.paragraph_count)
    shared, only_arabic, only_other = _compare_anchors(arabic.anchors, other.anchors)
    score = _score(pairs, coverage, len(conflicts), arabic, other)
    return Evidence(
        score=score,
        doc_similarity=doc_similarity,
        paragraphs=pairs,
        coverage=coverage,
        anchors_shared=shared,
        anchors_only_arabic=only_arabic,
        anchors_only_other=only_other,
        anchor_conflicts=tuple(sorted(conflicts)),
    )


def _aligned_evidence(arabic: Profile, other: Profile) -> Evidence:
    """The evidence when one side is a run-on text's sentences: runs of them aligned with the
    other side's paragraphs (:mod:`marsad.crosslingual.alignment`). A pair in the evidence is
    (Arabic unit, other unit, cosine), a run given by its first sentence."""
    run_on, paragraphs = (arabic, other) if arabic.run_on else (other, arabic)
    beads = align(run_on.paragraph_matrix(), paragraphs.paragraph_matrix(), PARAGRAPH_MIN)
    conflicts = _run_conflicts(run_on, paragraphs, beads)
    kept = tuple(b for b in beads if (b.first, b.paragraph) not in conflicts)
    shorter = _paragraphs_aligned(kept, run_on.paragraph_count, paragraphs.paragraph_count)
    coverage = 0.0
    score = 0.0
    if kept:
        floor = _run_floor(kept, shorter)
        coverage = min(1.0, len(kept) / max(shorter, floor))
        mean = sum(b.cosine for b in kept) / len(kept)
        score = max(0.0, coverage - CONFLICT_WEIGHT * len(conflicts) / max(shorter, floor)) * mean
    if arabic.run_on:
        pairs = tuple((b.first, b.paragraph, b.cosine) for b in kept)
        conflict_pairs = tuple(sorted(conflicts))
    else:
        pairs = tuple((b.paragraph, b.first, b.cosine) for b in kept)
        conflict_pairs = tuple(sorted((j, i) for i, j in conflicts))
    shared, only_arabic, only_other = _compare_anchors(arabic.anchors, other.anchors)
    return Evidence(
        score=score,
        doc_similarity=screen(arabic, other),
        paragraphs=pairs,
        coverage=coverage,
        anchors_shared=shared,
        anchors_only_arabic=only_arabic,
        anchors_only_other=only_other,
        anchor_conflicts=conflict_pairs,
    )


def _paragraphs_aligned(beads: tuple[Bead, ...], sentences: int, paragraphs: int) -> float:
    """The shorter side in paragraphs: the paragraph side's count, or the run-on side's
    sentences in paragraphs (at the runs' mean length) when that is fewer (a run-on
    translation cut short), but never fewer than the paragraphs the runs span (an
    independent report's few long runs spread over the whole wire story). Up to OUTLET_LINES
    units in front of the first run, on either side, are the outlet's own, as in
    :func:`_coverage`."""
    if not beads:
        return float(min(sentences, paragraphs))
    if beads[0].first <= OUTLET_LINES and beads[0].paragraph <= OUTLET_LINES:
        sentences -= beads[0].first
        paragraphs -= beads[0].paragraph
    per_run = sum(b.count for b in beads) / len(beads)
    spanned = beads[-1].paragraph - beads[0].paragraph + 1
    return min(float(paragraphs), max(sentences / per_run, float(spanned)))


def _run_floor(beads: tuple[Bead, ...], shorter: float) -> int:
    """:func:`_floor` for runs: on a short side the strength of the runs decides."""
    if shorter > MIN_COVERED:
        return MIN_COVERED
    if sum(b.cosine for b in beads) / len(beads) < SHORT_MEAN:
        return MIN_COVERED + 1
    if shorter <= SHORT_SIDE and len(beads) == SHORT_SIDE:
        first, second = beads
        if second.first == first.first + first.count and second.paragraph == first.paragraph + 1:
            return SHORT_SIDE
    return MIN_COVERED


def _run_conflicts(
    run_on: Profile, paragraphs: Profile, beads: tuple[Bead, ...]
) -> set[tuple[int, int]]:
    """(first sentence, paragraph) of the runs whose numbers differ from their paragraph's,
    as :func:`_anchor_conflicts` tells for paragraph pairs (a run's neighbours count)."""
    if not run_on.anchor_paragraphs or not paragraphs.anchor_paragraphs:
        return set()
    in_run, in_paragraphs = _by_paragraph(run_on), _by_paragraph(paragraphs)
    empty: frozenset[str] = frozenset()
    conflicts: set[tuple[int, int]] = set()
    for b in beads:
        mine = frozenset().union(*(in_run.get(i, empty) for i in range(b.first, b.first + b.count)))
        theirs = in_paragraphs.get(b.paragraph, empty)
        if not mine or not theirs:
            continue
        near_paragraphs = (
            theirs
            | in_paragraphs.get(b.paragraph - 1, empty)
            | in_paragraphs.get(b.paragraph + 1, empty)
        )
        near_run = mine | in_run.get(b.first - 1, empty) | in_run.get(b.first + b.count, empty)
        if mine - near_paragraphs and theirs - near_run:
            conflicts.add((b.first, b.paragraph))
    return conflicts


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


def _coverage(pairs: tuple[tuple[int, int, float], ...], arabic: int, other: int) -> float:
    """Matched pairs over the shorter side's paragraph count (at least :func:`_floor`).

    Up to OUTLET_LINES paragraphs in front of the first match, on either side or both, are
    not counted: those are an outlet's own lines (its headline kept in the text, a line of
    introduction «… وفيما يلي ما نقلته رويترز:», a photo caption), not paragraphs the
    translation left out.
    """
    if not pairs:
        return 0.0
    first_arabic, first_other, _ = pairs[0]
    if first_arabic <= OUTLET_LINES and first_other <= OUTLET_LINES:
        arabic -= first_arabic
        other -= first_other
    shorter = min(arabic, other)
    return min(1.0, len(pairs) / max(shorter, _floor(pairs, shorter)))


def _floor(pairs: tuple[tuple[int, int, float], ...], shorter: int) -> int:
    """The fewest paragraphs coverage is counted over: MIN_COVERED, but on a short side what
    SHORT_MEAN says."""
    if shorter > MIN_COVERED:
        return MIN_COVERED
    if sum(c for _, _, c in pairs) / len(pairs) < SHORT_MEAN:
        return MIN_COVERED + 1
    if shorter == SHORT_SIDE and len(pairs) == SHORT_SIDE:
        (i, j, _), (k, m, _) = pairs
        if k == i + 1 and m == j + 1:
            return SHORT_SIDE
    return MIN_COVERED


def _in_order(pairs: tuple[tuple[int, int, float], ...]) -> tuple[tuple[int, int, float], ...]:
    """The heaviest chain of pairs in the same order on both sides (by summed cosine).

    A translation renders its original in order, dropping or merging a paragraph at most; an
    independent report tells the same facts in its own order, so its matches cross.
    """
    if not pairs:
        return ()
    # best[k]: weight of the heaviest chain ending with pairs[k]; pairs come sorted by Arabic index.
    best = [c for _, _, c in pairs]
    previous = [-1] * len(pairs)
    for k, (i, j, c) in enumerate(pairs):
        for m in range(k):
            if pairs[m][0] < i and pairs[m][1] < j and best[m] + c > best[k]:
                best[k], previous[k] = best[m] + c, m
    k = max(range(len(pairs)), key=best.__getitem__)
    chain: list[tuple[int, int, float]] = []
    while k >= 0:
        chain.append(pairs[k])
        k = previous[k]
    return tuple(reversed(chain))


def _anchor_conflicts(
    arabic: Profile, other: Profile, pairs: tuple[tuple[int, int, float], ...]
) -> set[tuple[int, int]]:
    """The pairs whose paragraphs each hold an anchor the other's paragraph (or a neighbour of
    it, for a merged or split paragraph) does not: the same sentence with other numbers, as in
    the next day's toll or a recurring market report."""
    if not arabic.anchor_paragraphs or not other.anchor_paragraphs:
        return set()
    in_arabic = _by_paragraph(arabic)
    in_other = _by_paragraph(other)
    empty: frozenset[str] = frozenset()
    conflicts: set[tuple[int, int]] = set()
    for i, j, _ in pairs:
        mine, theirs = in_arabic.get(i, empty), in_other.get(j, empty)
        if not mine or not theirs:
            continue
        near_other = theirs | in_other.get(j - 1, empty) | in_other.get(j + 1, empty)
        near_arabic = mine | in_arabic.get(i - 1, empty) | in_arabic.get(i + 1, empty)
        if mine - near_other and theirs - near_arabic:
            conflicts.add((i, j))
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


def _score(
    pairs: tuple[tuple[int, int, float], ...],
    coverage: float,
    conflicts: int,
    arabic: Profile,
    other: Profile,
) -> float:
    """Coverage times the mean cosine of the matched pairs, less CONFLICT_WEIGHT paragraphs'
    worth of coverage for each pair whose numbers differ."""
    if not pairs:
        return 0.0
    mean_match = float(np.mean([c for _, _, c in pairs]))
    shorter = max(min(arabic.paragraph_count, other.paragraph_count), MIN_COVERED)
    return max(0.0, coverage - CONFLICT_WEIGHT * conflicts / shorter) * mean_match
