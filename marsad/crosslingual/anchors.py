"""Anchors: what a translation keeps as it is — numbers and Latin designations. Pure.

A machine translation copies «300» and «K1» through unchanged (sometimes in Arabic-Indic digits,
sometimes «1.1 مليون» for "1.1 million"), so the same anchors on both sides support a link and a
different casualty figure speaks against one. Anchors are written in one canonical form:
a number as its value ("1100000", "2.5"), a designation in upper case without separators ("F16").
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

# Arabic-Indic and Extended (Persian) digits, and the Arabic decimal and thousands separators.
_DIGITS = str.maketrans("٠١٢٣٤٥٦٧٨٩۰۱۲۳۴۵۶۷۸۹٫٬", "0123456789" + "0123456789" + ".,")
# Scale words after a number: English, and the Arabic forms a translator writes (with and
# without hamza and the article).
_SCALES: tuple[tuple[re.Pattern[str], int], ...] = (
    (re.compile(r"(?:trillion|تريليون|ترليون|تريليونات)", re.IGNORECASE), 1_000_000_000_000),
    (re.compile(r"(?:billion|bn|مليار|مليارات|بليون)", re.IGNORECASE), 1_000_000_000),
    (re.compile(r"(?:million|mn|مليون|ملايين)", re.IGNORECASE), 1_000_000),
    (re.compile(r"(?:thousand|ألف|الف|آلاف|الاف)", re.IGNORECASE), 1_000),
)
# A decimal comma («1,2 مليار», as some Arabic sites write) has one or two digits after it; a
# thousands comma three.
_NUMBER = re.compile(
    r"(?<![A-Za-z0-9.,])(\d{1,3}(?:,\d{3})+(?!\d)|\d+)(?:[.,](\d{1,2})(?![\d,])|\.(\d+))?(?![\d])"
    r"(\s*(?:[^\W\d_]+))?",
)
# A designation: Latin capitals with digits (K1, F-16, MQ-9, COP29, UNSC 2334, S-400s). A bare
# acronym (NATO) is not one: a translation writes it in Arabic letters («الناتو»).
_DESIGNATION = re.compile(
    r"(?<![A-Za-z0-9-])(?:[A-Z]{2,5} ?\d{1,4}|[A-Z]{1,5}-?\d{1,4})[A-Z]?s?(?![\w-])"
)
# Below this, a number is as likely to be written in words on one side («ثلاثة», "two") and is
# too common to tell stories apart.
MIN_NUMBER = 10


def to_ascii_digits(text: str) -> str:
    """Arabic-Indic digits and separators as ASCII ones."""
    return text.translate(_DIGITS)


def extract_anchors(text: str) -> tuple[str, ...]:
    """The anchors of ``text`` in document order (repeats kept: order and count are evidence)."""
    text = to_ascii_digits(text)
    found: dict[tuple[int, str], None] = {}
    for match in _NUMBER.finditer(text):
        fraction = match.group(2) or match.group(3)
        value = _number_value(match.group(1), fraction, match.group(4))
        if value is not None:
            found[match.start(), value] = None
    for match in _DESIGNATION.finditer(text):
        found[match.start(), re.sub(r"[- ]|s$", "", match.group(0))] = None
        # Its number too, as «كوب 31» has only that of "COP31" ("F-16" gave it above already).
        digits = re.search(r"\d+", match.group(0))
        if digits is not None and int(digits.group(0)) >= MIN_NUMBER:
            found[match.start() + digits.start(), str(int(digits.group(0)))] = None
    return tuple(anchor for _, anchor in sorted(found))


def _number_value(whole: str, fraction: str | None, after: str | None) -> str | None:
    try:
        value = Decimal(whole.replace(",", "") + ("." + fraction if fraction else ""))
    except InvalidOperation:  # pragma: no cover - the pattern only lets digits through
        return None
    word = (after or "").strip()
    for pattern, scale in _SCALES:
        if word and pattern.match(word):
            value *= scale
            break
    if value < MIN_NUMBER and not fraction:
        return None
    normal = value.normalize()
    return f"{normal:f}"
