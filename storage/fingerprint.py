"""Word-shingle MinHash fingerprints of normalised text, and the LSH band keys that index them.

Pure functions, numpy-vectorised: every shingle goes through all permutations in one array
operation instead of one Python call per (shingle, permutation), which is what makes the usual
pure-Python MinHash the bottleneck of copy detection.

The parameters are part of the stored data (signatures and band keys in the store): changing any
of them means re-fingerprinting the archive.
"""

from __future__ import annotations

import re
import zlib
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

# Three-word shingles: one word is too common to tell texts apart, and with four a single
# changed word (a digit form, a name's spelling) breaks four shingles instead of three.
SHINGLE_WORDS = 3
PERMUTATIONS = 128
# 37 bands of 3 rows: a pair becomes a candidate with probability 1 - (1 - J^3)^37, i.e. from
# about J = 0.3 on (0.63 there, 0.91 at 0.4, 0.99 at 0.5), low enough that a copy cut to 40%
# of its original is still found; verification on the shingles then decides.
BANDS = 37
ROWS = 3
# Containment needs its own index: a copy cut to a fifth of its original shares too few MinHash
# values with it for any banding to find it. So each text is also cut into content-defined
# chunks (a chunk ends after a shingle whose hash has its CHUNK_BITS bits at zero, so the same
# text is cut at the same places wherever it appears) and each chunk's hash is indexed: an
# excerpt shares every chunk but the ones at its two cut edges with its original.
CHUNK_BITS = 3  # about eight shingles a chunk
CHUNK_MIN = 4  # shorter runs are glued to the next chunk: a two-word chunk is too common
CHUNK_MAX = 32
MAX_CHUNKS = 96  # bounded index cost per article; excerpts come from the start far more often
# Fewer shingles than this and a text is too short to call a copy by overlap alone: the
# exact-hash layer still catches it.
MIN_SHINGLES = 5

U64 = npt.NDArray[np.uint64]
U32 = npt.NDArray[np.uint32]

_WORD = re.compile(r"[^\W_]+")
# normalize() leaves hamza seats and Persian letter forms alone; a copy may spell them
# differently, and for fingerprinting the difference never matters
# (مسؤول / مسئول): every hamza seat becomes the bare hamza.
_FOLD = str.maketrans({"ؤ": "ء", "ئ": "ء", "ک": "ك", "ی": "ي", "ۀ": "ه", "ە": "ه"})

_RNG = np.random.default_rng(0x6D61727361640002)  # fixed: signatures are stored
# Multiply-shift hashing: (a·x + b) mod 2^64, keep the high 32 bits; a must be odd.
_MUL = _RNG.integers(1, 2**63, size=PERMUTATIONS, dtype=np.uint64) * np.uint64(2) + np.uint64(1)
_ADD = _RNG.integers(0, 2**63, size=PERMUTATIONS, dtype=np.uint64)
_K1 = np.uint64(0x9E3779B97F4A7C15)
_K2 = np.uint64(0xC2B2AE3D27D4EB4F)
_POSITION = _RNG.integers(1, 2**63, size=32, dtype=np.uint64) * np.uint64(2) + np.uint64(1)
_CHUNK_SALT = np.uint64(0x636855E4B1D1A2C3)  # chunk keys and band keys share one table
_CHUNK = 4096  # shingles per block, to bound the (shingles × permutations) matrix


@dataclass(frozen=True)
class Fingerprint:
    """A MinHash signature (``PERMUTATIONS`` × uint32, little-endian bytes), the number of
    distinct shingles it was computed from (needed to turn Jaccard into containment) and the
    keys of the text's content-defined chunks."""

    signature: bytes
    shingles: int
    chunks: tuple[int, ...] = ()

    def values(self) -> U32:
        return np.frombuffer(self.signature, dtype="<u4")

    @property
    def indexable(self) -> bool:
        return self.shingles >= MIN_SHINGLES


@dataclass(frozen=True)
class Similarity:
    """Jaccard of the two shingle sets and containment of the smaller set in the larger."""

    jaccard: float
    containment: float


def words(text_norm: str) -> list[str]:
    return _WORD.findall(text_norm.translate(_FOLD))


def shingle_hashes(text_norm: str) -> U64:
    """The distinct 64-bit hashes of the text's word shingles, sorted."""
    return np.unique(shingle_sequence(text_norm))


def shingle_sequence(text_norm: str) -> U64:
    """The 64-bit hashes of the text's word shingles, in text order."""
    tokens = words(text_norm)
    if not tokens:
        return np.empty(0, dtype=np.uint64)
    # crc32 is a C call per word; the three are then combined and mixed in numpy.
    h = np.fromiter(map(zlib.crc32, map(str.encode, tokens)), dtype=np.uint64, count=len(tokens))
    if len(h) < SHINGLE_WORDS:
        combined = np.array([int(_fold_short(h))], dtype=np.uint64)
    else:
        n = len(h) - SHINGLE_WORDS + 1
        combined = h[:n] * _K1 + h[1 : n + 1] * _K2 + h[2 : n + 2]
    return _mix(combined)


def minhash(hashes: U64) -> U32:
    """The MinHash signature of a set of shingle hashes (all-ones for an empty set)."""
    out = np.full(PERMUTATIONS, np.iinfo(np.uint32).max, dtype=np.uint64)
    for start in range(0, len(hashes), _CHUNK):
        block = hashes[start : start + _CHUNK, None] * _MUL[None, :] + _ADD[None, :]
        np.minimum(out, (block >> np.uint64(32)).min(axis=0), out=out)
    return out.astype(np.uint32)


def fingerprint(text_norm: str) -> Fingerprint:
    return fingerprint_and_shingles(text_norm)[0]


def fingerprint_and_shingles(text_norm: str) -> tuple[Fingerprint, U64]:
    """The text's fingerprint and the shingle set it summarises (:func:`shingle_hashes`),
    computed once: verifying a copy compares the sets themselves."""
    sequence = shingle_sequence(text_norm)
    hashes = np.unique(sequence)
    fp = Fingerprint(
        signature=minhash(hashes).astype("<u4").tobytes(),
        shingles=len(hashes),
        chunks=chunk_keys(sequence) if len(hashes) >= MIN_SHINGLES else (),
    )
    return fp, hashes


def chunk_keys(sequence: U64) -> tuple[int, ...]:
    """Signed 64-bit keys of the content-defined chunks of a shingle sequence, in order,
    distinct, at most ``MAX_CHUNKS``."""
    n = len(sequence)
    cut = (sequence >> np.uint64(40)) & np.uint64((1 << CHUNK_BITS) - 1)
    starts: list[int] = []
    start = 0
    for end in [*(np.flatnonzero(cut == 0) + 1).tolist(), n]:
        # Glue a short run to the next one and split a long one: the same text always yields
        # the same chunks, wherever it starts.
        if end - start < CHUNK_MIN:
            continue
        while end - start > CHUNK_MAX:
            starts.append(start)
            start += CHUNK_MAX
        starts.append(start)
        start = end
        if len(starts) >= MAX_CHUNKS:
            break
    if not starts:
        return ()
    starts = starts[:MAX_CHUNKS]
    bounds = np.array(starts, dtype=np.int64)
    stop = min(start, n) if len(starts) < MAX_CHUNKS else min(starts[-1] + CHUNK_MAX, start)
    lengths = np.diff(np.append(bounds, stop))
    # Each shingle is weighted by its place in the chunk, so the key depends on their order.
    within = np.arange(stop, dtype=np.int64) - np.repeat(bounds, lengths)
    sums = np.add.reduceat(sequence[:stop] * _POSITION[within], bounds)
    keys = _mix(sums ^ (lengths.astype(np.uint64) << np.uint64(56)) ^ _CHUNK_SALT)
    return tuple(dict.fromkeys(int(k) for k in keys.view(np.int64)))


def band_keys(fp: Fingerprint) -> list[int]:
    """One signed 64-bit key per band: the band's number and its rows folded together."""
    rows = fp.values()[: BANDS * ROWS].astype(np.uint64).reshape(BANDS, ROWS)
    key = _mix(rows[:, 0] | (rows[:, 1] << np.uint64(32)))
    key = _mix(key ^ (rows[:, 2] | (np.arange(BANDS, dtype=np.uint64) << np.uint64(32))))
    return [int(k) for k in key.view(np.int64)]


def estimate(a: Fingerprint, b: Fingerprint) -> Similarity:
    """Similarity estimated from the signatures alone."""
    jaccard = float(np.count_nonzero(a.values() == b.values())) / PERMUTATIONS
    return Similarity(jaccard, _containment(jaccard, a.shingles, b.shingles))


def exact(a: U64, b: U64) -> Similarity:
    """Similarity of two shingle sets as returned by :func:`shingle_hashes`."""
    if len(a) == 0 or len(b) == 0:
        return Similarity(0.0, 0.0)
    common = len(np.intersect1d(a, b, assume_unique=True))
    return Similarity(common / (len(a) + len(b) - common), common / min(len(a), len(b)))


def _containment(jaccard: float, size_a: int, size_b: int) -> float:
    # |A∩B| = J·(|A|+|B|)/(1+J); containment divides that by the smaller set.
    smaller = min(size_a, size_b)
    if smaller == 0:
        return 0.0
    common = jaccard * (size_a + size_b) / (1.0 + jaccard)
    return min(1.0, common / smaller)


def _fold_short(h: U64) -> np.uint64:
    acc = np.zeros(1, dtype=np.uint64)
    for value in h:
        acc = acc * _K1 + value
    return np.uint64(acc[0])


def _mix(x: U64) -> U64:
    # splitmix64's finaliser: the shingle combination above is linear, the permutations are
    # too, and MinHash wants the hash values to look independent of each other.
    x = x ^ (x >> np.uint64(30))
    x = x * np.uint64(0xBF58476D1CE4E5B9)
    x = x ^ (x >> np.uint64(27))
    x = x * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))
