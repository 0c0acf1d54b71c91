"""Sentences of a run-on text aligned with the paragraphs of the other side. Pure.

A text whose paragraph breaks were lost is profiled by its sentences
(:func:`marsad.crosslingual.paragraphs.split_units`). A translation keeps its original's
sentences one by one, and a wire paragraph holds one to three of them, so the run-on side is read
as runs of one to three consecutive sentences, each aligned with at most one paragraph of the
other side, in order on both sides, for the greatest sum of cosines. A run is aligned with a
paragraph only when that paragraph is the run's closest (an independent report's sentences
rarely are), at ``minimum`` or more, and, for a run of two or three, closer than the shorter
runs it holds.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from numpy.typing import NDArray

# The longest run of sentences aligned with one paragraph: runs of three let an independent
# report's short text cover a wire's paragraphs loosely (a report linked on the labelled set).
MAX_RUN = 3


@dataclass(frozen=True)
class Bead:
    """Sentences ``first`` .. ``first + count - 1`` aligned with paragraph ``paragraph``."""

    first: int
    count: int
    paragraph: int
    cosine: float


def align(
    sentences: NDArray[np.float32], paragraphs: NDArray[np.float32], minimum: float
) -> tuple[Bead, ...]:
    """The best in-order alignment of runs of ``sentences`` (N × D, rows L2-normalised) with
    ``paragraphs`` (M × D): a dynamic programme over (sentence, paragraph), skipping either."""
    n, m = len(sentences), len(paragraphs)
    if n == 0 or m == 0:
        return ()
    # cosines[k - 1][i, j]: the run of k sentences from i against paragraph j.
    cosines: list[NDArray[np.float32]] = []
    for k in range(1, min(MAX_RUN, n) + 1):
        runs = np.stack([sentences[i : i + k].sum(axis=0) for i in range(n - k + 1)])
        runs /= np.maximum(np.linalg.norm(runs, axis=1, keepdims=True), 1e-12)
        cosines.append(np.asarray(runs @ paragraphs.T, dtype=np.float32))
    # best[i, j]: the greatest sum from sentence i and paragraph j on; step[i, j]: its move.
    best = np.zeros((n + 1, m + 1), dtype=np.float64)
    step: dict[tuple[int, int], tuple[int, int]] = {}  # (sentences taken, paragraphs taken)
    for i in range(n - 1, -1, -1):
        for j in range(m - 1, -1, -1):
            value, move = best[i + 1, j], (1, 0)
            if best[i, j + 1] > value:
                value, move = best[i, j + 1], (0, 1)
            for k in range(1, min(MAX_RUN, n - i) + 1):
                row = cosines[k - 1][i]
                c = float(row[j])
                if c < minimum or c < float(row.max()) or c + best[i + k, j + 1] <= value:
                    continue
                # A longer run must say it better than the shorter runs it holds.
                if k == 1 or c > max(float(cosines[k - 2][i + t][j]) for t in range(2)):
                    value, move = c + best[i + k, j + 1], (k, 1)
            best[i, j] = value
            step[i, j] = move
    beads: list[Bead] = []
    i = j = 0
    while i < n and j < m:
        taken, advanced = step[i, j]
        if taken and advanced:
            beads.append(Bead(i, taken, j, float(cosines[taken - 1][i][j])))
        i += taken
        j += advanced
    return tuple(beads)
