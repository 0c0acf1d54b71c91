"""One normalisation of Arabic (and Latin) text, used at write time and at match time.

The same function feeds the stored search column, the body hash that catches exact copies and
the watch-rule matcher, so a spelling difference that one of them forgives, all of them forgive.
"""

from __future__ import annotations

import re
import unicodedata

# Harakat, Quranic annotation marks and the superscript alef: they change the sound, not the word.
_DIACRITICS = (
    [chr(c) for c in range(0x0610, 0x061B)]
    + [chr(c) for c in range(0x064B, 0x0660)]
    + ["\u0670"]
    + [chr(c) for c in range(0x06D6, 0x06EE)]
)
_TATWEEL = "\u0640"
# Direction and joining controls that editors and CMSs sprinkle into Arabic text.
_INVISIBLE = [
    "\u061c",  # Arabic letter mark
    "\u200b",
    "\u200c",
    "\u200d",
    "\u200e",
    "\u200f",
    "\u202a",
    "\u202b",
    "\u202c",
    "\u202d",
    "\u202e",
    "\u2060",
    "\u2066",
    "\u2067",
    "\u2068",
    "\u2069",
    "\ufeff",
    "\u00ad",
]

_BASE_TABLE: dict[int, str | None] = {ord(c): None for c in [*_DIACRITICS, _TATWEEL, *_INVISIBLE]}
_BASE_TABLE.update(
    {
        ord("أ"): "ا",
        ord("إ"): "ا",
        ord("آ"): "ا",
        ord("ٱ"): "ا",
        ord("ى"): "ي",
        # Persian-keyboard kaf, yeh and heh turn up in Arabic copy; they are the same letters.
        ord("ک"): "ك",
        ord("ی"): "ي",
        ord("ھ"): "ه",
        # Arabic punctuation to its Latin counterpart, so tokenisers see one set of separators.
        ord("،"): ",",
        ord("؛"): ";",
        ord("؟"): "?",
        ord("٪"): "%",
        ord("٫"): ".",
        ord("٬"): ",",
        ord("۔"): ".",
        ord("«"): '"',
        ord("»"): '"',
    }
)
for _i in range(10):
    _BASE_TABLE[0x0660 + _i] = str(_i)  # Arabic-Indic digits
    _BASE_TABLE[0x06F0 + _i] = str(_i)  # Extended (Persian/Urdu) digits

_KEEP_TA_TABLE = dict(_BASE_TABLE)
_FOLD_TA_TABLE = dict(_BASE_TABLE)
_FOLD_TA_TABLE[ord("ة")] = "ه"
# For telling a madda from a hamza (مآرب "aims" from مأرب, the town): the alef's seats kept.
_KEEP_ALEFS_TABLE = {c: v for c, v in _KEEP_TA_TABLE.items() if chr(c) not in "أإآ"}

_SPACES = re.compile(r"\s+")


def _normalize(text: str, table: dict[int, str | None]) -> str:
    # NFKC first: presentation forms (ﻻ, ﺍﻟ…) and full-width Latin become ordinary letters.
    text = unicodedata.normalize("NFKC", text)
    text = text.translate(table).casefold()
    return _SPACES.sub(" ", text).strip()


def normalize_word(word: str, *, keep_ta_marbuta: bool = False) -> str:
    """:func:`normalize` (or :func:`normalize_keep_ta_marbuta`) for one word with no white space
    in it: the same result, cheaper, for the matcher's hot loop."""
    return _normalize_word(word, _KEEP_TA_TABLE if keep_ta_marbuta else _FOLD_TA_TABLE)


def normalize_word_keep_alefs(word: str) -> str:
    """:func:`normalize_word` with ة kept, and أ إ آ too: letter for letter the same length
    as it, so a position in one is the same position in the other."""
    return _normalize_word(word, _KEEP_ALEFS_TABLE)


def _normalize_word(word: str, table: dict[int, str | None]) -> str:
    if not unicodedata.is_normalized("NFKC", word):
        word = unicodedata.normalize("NFKC", word)
        if any(c.isspace() for c in word):
            return _normalize(word, table)
    return word.translate(table).casefold()


def normalize(text: str) -> str:
    """Return ``text`` in the form marsad stores, hashes and searches.

    NFKC; harakat, tatweel, zero-width and bidi marks removed; أ إ آ ٱ → ا; ى → ي; ة → ه;
    Persian-keyboard ک ی ھ → ك ي ه;
    Arabic-Indic and Persian digits → ASCII; Arabic punctuation → Latin; Latin case folded;
    runs of white space → one space.
    """
    return _normalize(text, _FOLD_TA_TABLE)


def normalize_keep_ta_marbuta(text: str) -> str:
    """Like :func:`normalize`, but keeps ة apart from ه.

    Matching needs the difference (مجموعة "group" against مجموعه "his total"); search and
    hashing do not.
    """
    return _normalize(text, _KEEP_TA_TABLE)
