"""Is this Arabic? The one answer for every part of marsad that asks. Pure."""

from __future__ import annotations

import re

# The Unicode blocks of the Arabic script: Arabic, Arabic Supplement, Arabic Extended-A, and the
# two presentation-form blocks (older sites and PDFs still write those). U+FEFF is excluded: it
# sits in the last block but is the byte-order mark.
_BLOCKS = ((0x0600, 0x06FF), (0x0750, 0x077F), (0x08A0, 0x08FF), (0xFB50, 0xFDFF), (0xFE70, 0xFEFC))
_HAMZA, _YEH, _TATWEEL = 0x0621, 0x064A, 0x0640


def is_arabic_script(ch: str) -> bool:
    """Whether the character ``ch`` is written in the Arabic script (letters, marks, digits)."""
    code = ord(ch)
    return any(low <= code <= high for low, high in _BLOCKS)


def is_basic_arabic_letter(ch: str) -> bool:
    """A letter of the basic Arabic alphabet (hamza to yeh), not the stretching tatweel."""
    code = ord(ch)
    return _HAMZA <= code <= _YEH and code != _TATWEEL


# The same blocks as one character class: a run of them is found in C, not char by char.
_ARABIC_RUN = re.compile("[" + "".join(f"{chr(low)}-{chr(high)}" for low, high in _BLOCKS) + "]+")


def has_arabic(text: str) -> bool:
    return _ARABIC_RUN.search(text) is not None


def arabic_letter_share(text: str) -> float:
    """The share of the letters of ``text`` that are Arabic (0.0 for a text with no letters)."""
    letters = sum(map(str.isalpha, text))
    if not letters:
        return 0.0
    arabic = sum(sum(map(str.isalpha, run)) for run in _ARABIC_RUN.findall(text))
    return arabic / letters
