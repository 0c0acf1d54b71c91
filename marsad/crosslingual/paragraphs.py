"""An article's text as the paragraphs worth matching across languages. Pure.

What an outlet wraps around a translated wire story (a credit line «المصدر : news.yahoo.com»,
"follow us", a dateline «بغداد (ا ف ب) –» or "BAGHDAD (AP) —") is not part of the story: cut it,
so that a paragraph is compared with what was translated and not with the wrapping.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

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
# Short lines an outlet adds that the shared patterns do not know: a call to follow it or to
# download its app («تابعوا … على فيسبوك», «لا تنس الاشتراك في قناتنا»: a verb and a channel, as
# either alone is news), a navigation trail ("الوطن نيوز | أخبار العالم"), «(ترجمة: …)»,
# «… - متابعات», a teaser «عاجل: …», a link.
_CALL = re.compile(
    r"(?:تابع|اشترك|الاشتراك|حمل|حمّل|نزل|نزّل|انضم|للمزيد|follow|subscribe|download|join)",
    re.IGNORECASE,
)
_CHANNEL = re.compile(
    r"تويتر|فيسبوك|فيس\s?بوك|انستغرام|إنستغرام|انستجرام|إنستجرام|تيليجرام|تيليغرام|تلغرام|تلجرام"
    r"|يوتيوب|واتساب|واتس\s?اب|تطبيق|قناتنا|صفحتنا|حسابنا|نشرتنا|النشرة\s+البريدية|@\w"
    r"|twitter|facebook|instagram|telegram|youtube|whatsapp|newsletter|\bapp\b",
    re.IGNORECASE,
)
_OUTLET_LINE = re.compile(
    r"\s\|\s|^\W*\(?\s*ترجمة\s*:|[-–—]\s*متابعات\W*$|^\W*عاجل\s*:|https?://|www\.",
    re.IGNORECASE,
)
OUTLET_LINE_MAX_WORDS = 14
# A byline or a time stamp: "By SAMYA KULLAB and QASSIM ABDUL-ZAHRA", "Updated 3:45 PM GMT+3".
_BYLINE = re.compile(
    r"^(?:by\s+[A-Z][^.!?]*|(?:updated|published|posted)\b[^.!?]*|\d{1,2}:\d{2}\b[^.!?]*)$",
    re.IGNORECASE,
)
BYLINE_MAX_WORDS = 10
# A photo caption: "FILE - A soldier stands … (AP Photo/Hadi Mizban, File)".
_CAPTION = re.compile(
    r"^\W*FILE\s*[-–—]|\((?:AP|AFP|Reuters|Getty)\s*(?:Photo|Images)\b", re.IGNORECASE
)
# A paragraph shorter than this carries no sentence to match (a byline, a lone label).
MIN_WORDS = 4
# A paragraph longer than this is cut at sentence ends into units of at most UNIT_WORDS: some
# sites run a whole article into one paragraph, and a unit is what the encoder sees.
SPLIT_WORDS = 65
UNIT_WORDS = 40
_SENTENCE_END = re.compile(r"(?<=[.!?؟…])[\"”»’']?\s+")


# A text is run on when one line holds more than SPLIT_WORDS words and at least this share of
# all its words: a site (or an extractor) that dropped the paragraph breaks.
RUN_ON_SHARE = 0.8


@dataclass(frozen=True)
class Units:
    """What is matched of a text: its paragraphs in order, or, for a run-on text, its
    sentences (``run_on``), each as a line would be (credits and outlet lines dropped)."""

    texts: list[str]
    run_on: bool = False


def split_units(text: str) -> Units:
    """The story's paragraphs (:func:`split_paragraphs`); a run-on text's sentences instead:
    its 40-word units would straddle the other side's paragraph breaks, where sentences are
    what a translation keeps one by one."""
    lines = [line.strip() for line in split_credits(text).body.splitlines() if line.strip()]
    counts = [len(line.split()) for line in lines]
    if not counts or max(counts) <= SPLIT_WORDS or max(counts) < RUN_ON_SHARE * sum(counts):
        return Units(split_paragraphs(text))
    sentences = "\n".join(s for line in lines for s in _SENTENCE_END.split(line))
    return Units(split_paragraphs(sentences), run_on=True)


def split_paragraphs(text: str) -> list[str]:
    """The story's paragraphs in order, without credits, boilerplate and the dateline."""
    body = split_credits(text).body
    paragraphs: list[str] = []
    for line in body.splitlines():
        line = line.strip()
        if _CAPTION.search(line):
            continue
        if len(line.split()) <= BYLINE_MAX_WORDS and _BYLINE.match(line):
            continue
        if not paragraphs:
            line = _DATELINE.sub("", line, count=1).strip()
        words = len(line.split())
        if words < MIN_WORDS or _ENGLISH_BOILERPLATE.match(line):
            continue
        if words <= OUTLET_LINE_MAX_WORDS and (
            _OUTLET_LINE.search(line) or (_CALL.search(line) and _CHANNEL.search(line))
        ):
            continue
        paragraphs.extend(_units(line) if words > SPLIT_WORDS else [line])
    return paragraphs


def _units(paragraph: str) -> list[str]:
    """A long paragraph as runs of whole sentences of at most UNIT_WORDS words (a longer
    sentence is a unit of its own)."""
    units: list[str] = []
    current: list[str] = []
    count = 0
    for sentence in _SENTENCE_END.split(paragraph):
        words = len(sentence.split())
        if current and count + words > UNIT_WORDS:
            units.append(" ".join(current))
            current, count = [], 0
        current.append(sentence)
        count += words
    if current:
        units.append(" ".join(current))
    return units
