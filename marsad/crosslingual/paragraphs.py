"""An article's text as the paragraphs worth matching across languages. Pure.

What an outlet wraps around a translated wire story (a credit line «المصدر : news.yahoo.com»,
"follow us", a dateline «بغداد (ا ف ب) –» or "BAGHDAD (AP) —") is not part of the story: cut it,
so that a paragraph is compared with what was translated and not with the wrapping.
"""

from __future__ import annotations

import re

from marsad.arabic.credits import split_credits

# A wire dateline in front of the first paragraph: "BAGHDAD (AP) —", "(Reuters) -",
# "PARIS, March 3 (AFP) –", and the Arabic «بغداد (ا ف ب) –» or «القاهرة - رويترز:».
_DATELINE = re.compile(
    r"^\s*(?:[^\W\d_][^()\n]{0,40}?)?\s*\(\s*[^()\n]{1,25}\s*\)\s*[-–—:]+\s*"
    r"|^\s*[A-Z][A-Z .,'’-]{1,40}\s*[-–—]{1,2}\s+(?=[A-Z])"
)
# Lines wire and web pages add in English that split_credits' shared patterns do not know.
_ENGLISH_BOILERPLATE = re.compile(
    r"^\W*(?:\(?reporting\s+by\b|\(?(?:writing|editing|additional\s+reporting)\s+by\b"
    r"|copyright\s+\d{4}|©|sign\s+up\b|subscribe\b|click\s+here\b|advertisement$"
    r"|(?:also\s+)?read\s*:|related\s*:|more\s*:|watch\s*:)",
    re.IGNORECASE,
)
# A paragraph shorter than this carries no sentence to match (a byline, a lone label).
MIN_WORDS = 4


def split_paragraphs(text: str) -> list[str]:
    """The story's paragraphs in order, without credits, boilerplate and the dateline."""
    body = split_credits(text).body
    paragraphs: list[str] = []
    for line in body.splitlines():
        line = line.strip()
        if not paragraphs:
            line = _DATELINE.sub("", line, count=1).strip()
        if len(line.split()) < MIN_WORDS or _ENGLISH_BOILERPLATE.match(line):
            continue
        paragraphs.append(line)
    return paragraphs
