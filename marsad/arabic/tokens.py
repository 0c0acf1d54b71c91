"""Words of a text with their character offsets, and the key a word is matched by.

Tokens are runs of Arabic letters, runs of other letters (Latin…) and numbers, each with its
span in the *original* text, so a match can be shown exactly where it was found. Harakat,
tatweel and the invisible joiners that editors put inside Arabic words stay inside the token;
a change of script or a digit ends it, so «K1», «K-1» and «ك 1» all come out as a letter token
followed by the number 1, and «K12» as K then 12.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from itertools import repeat

from marsad.arabic.normalize import normalize_word, normalize_word_keep_alefs

# Arabic letters, including the presentation forms that NFKC later unfolds.
_AR_LETTERS = (
    "\u0621-\u063a\u0641-\u064a\u066e-\u066f\u0671-\u06d3\u06d5\u06fa-\u06ff"
    "\ufb50-\ufdff\ufe70-\ufefc"
)
# What may sit inside an Arabic word without ending it: harakat, Quranic marks, superscript
# alef, tatweel, and the zero-width and direction marks that CMSs sprinkle into words.
_AR_MARKS = (
    "\u0610-\u061a\u064b-\u065f\u0670\u06d6-\u06ed\u0640"
    "\u200b-\u200f\u2060\ufeff\u00ad\u061c\u202a-\u202e\u2066-\u2069"
)
_TOKEN = re.compile(
    rf"(?:[{_AR_LETTERS}][{_AR_MARKS}]*)+"  # an Arabic word
    r"|\d+(?:[.,\u066b\u066c]\d+)*"  # a number, with its decimal or thousands separator
    rf"|[^\W\d_{_AR_LETTERS}{_AR_MARKS}]+"  # a word in another script
)

# Hamza seats vary with spelling habits (مسؤول / مسئول, شؤون / شئون): one key for all of them.
_SEATS = str.maketrans({"ؤ": "ء", "ئ": "ء"})


def match_key(word: str) -> str:
    """The form a single word is compared in: :func:`normalize` with ة kept apart from ه and
    the hamza seats ؤ ئ folded to ء."""
    return normalize_word(word, keep_ta_marbuta=True).translate(_SEATS)


_ALEF_SEATS = frozenset("أإآ")


def alef_spelling(word: str) -> str | None:
    """``word`` letter for letter as :func:`match_key` gives it, but with the hamza and madda
    of its alefs (أ إ آ) as written; None when it writes none (then there is nothing to tell
    apart, and the hot loop computes nothing)."""
    if _ALEF_SEATS.isdisjoint(word):
        return None
    return normalize_word_keep_alefs(word).translate(_SEATS)


# A word of plain Arabic letters (tatweel after the first): _TOKEN takes it whole, as one word.
_PLAIN_WORD = re.compile("[\u0621-\u063a\u0641-\u064a][\u0621-\u063a\u0640-\u064a]*")
# Its key is a few letters replaced; the pairs are derived from match_key itself so the two
# cannot drift apart.
_PLAIN_KEYS = tuple(
    (c, k) for c in map(chr, range(0x0621, 0x064B)) if (k := match_key(c)) != c and c.isalpha()
)
# Punctuation that news text glues to the ends of words and that no word contains: a chunk
# of it around one plain Arabic word holds that word alone.
GLUED = ".,:;!?\"'()[]{}<>«»“”‘’…،؛؟/-"


def plain_words(chunks: Iterable[str]) -> list[str]:
    """For each chunk of text without spaces, the plain Arabic word it holds (as written,
    :data:`GLUED` punctuation trimmed off), or "" when it holds anything else."""
    plain = _PLAIN_WORD.fullmatch
    return [w if plain(w) else "" for w in map(str.strip, chunks, repeat(GLUED))]


def plain_keys(words: list[str]) -> list[str]:
    """:func:`match_key` of each of ``words``, plain Arabic words or "", for a whole batch:
    a few replacements over the words joined are cheaper than a translation per word."""
    if not words:
        return []
    joined = " ".join(words)
    for letter, key in _PLAIN_KEYS:
        if letter in joined:
            joined = joined.replace(letter, key)
    return joined.split(" ")


def token_spans(text: str) -> list[tuple[str, int, int]]:
    """Every word of ``text`` as it is written, with its start and end offsets."""
    return [(m.group(), m.start(), m.end()) for m in _TOKEN.finditer(text)]


def token_pattern() -> re.Pattern[str]:
    """The compiled word pattern, for hot loops that cache per written word."""
    return _TOKEN
