"""Credit lines and boilerplate in Arabic news text: recognise them, cut them out, keep them.

A re-post usually differs from its original only by what the re-poster wrapped around it: «المصدر :
news.yahoo.com» at the end, «(أ ف ب)» or «الرياض - واس -» in front, a "read also" box, "share this".
Fingerprinting must not see those, and the article should remember them as provenance. Patterns are
applied to the normalised form of each line (so hamza, alef, diacritics and tatweel do not matter);
what is removed is the original line, kept verbatim.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from marsad.arabic.normalize import normalize

# Agencies and the ways outlets write them, in normalised form (alef folded, ة → ه).
_AGENCIES = (
    r"ا\s?ف\s?ب|ا\.ف\.ب|فرانس\s(?:برس|بريس)|رويترز|رويتر|واس|وكالات|وكاله\sالانباء"
    r"|قنا|وام|بنا|كونا|سانا|الاناضول|د\s?ب\s?ا|يو\sبي\sاي|ا\s?ب|اسوشيتد\s?برس|شينخوا"
    r"|سبوتنيك|بترا|afp|reuters|ap|spa|wam|kuna|qna|dpa|xinhua|agencies"
)

# A line that is nothing but a credit: "المصدر: x", "- وكالات", "(رويترز)", "نقلا عن x".
_CREDIT_LINE = re.compile(
    rf"""^[\s\-–—•*_|.:(]*
    (?:
        (?:المصدر|مصدر|المصادر|source|via|بتصرف\ عن)\s*[:：\-–—]\s*(?P<named>.{{1,80}})
      | (?:نقلا|نقل|منقول)\s+(?:عن|من)\s*[:：]?\s*(?P<via>.{{1,80}})
      | \(?\s*(?P<agency>(?:{_AGENCIES})(?:\s*[,/و-]\s*(?:{_AGENCIES}))*)\s*\)?
    )
    [\s\-–—.)]*$""",
    re.VERBOSE | re.IGNORECASE,
)


def _tolerant(pattern: str) -> str:
    """Let a pattern written in normalised form match the original text too."""
    return pattern.translate({ord("ا"): "[اأإآٱ]", ord("ه"): "[هة]", ord("ي"): "[يى]"})


_RAW_AGENCIES = _tolerant(_AGENCIES)

# A credit glued to the end of the last paragraph: "… الأسبوع المقبل. (أ ف ب)" or "… - وكالات".
_TRAILING_CREDIT = re.compile(
    rf"(?:\s+[-–—]\s*|\s*\(\s*)(?P<agency>{_RAW_AGENCIES})\s*\)?[\s.]*$", re.IGNORECASE
)

# A dateline in front of the first paragraph: "الرياض - واس -", "لندن (رويترز) -", "واس - الرياض:".
_PLACE = r"[^\W\d_][^\n:()\-–—]{0,30}?"
_LEADING_CREDIT = re.compile(
    rf"""^\s*(?:
        (?P<place>{_PLACE})\s*(?:[-–—]\s*|\(\s*)(?P<agency>{_RAW_AGENCIES})\s*\)?\s*[-–—:]
      | \(?(?P<agency2>{_RAW_AGENCIES})\)?\s*[-–—]\s*(?P<place2>{_PLACE})\s*[-–—:]
    )\s*""",
    re.VERBOSE | re.IGNORECASE,
)

# Boilerplate a page or an aggregator wraps around a story. The first group may carry a
# headline of another story after it ("اقرأ أيضا: …"), so it is allowed to be longer.
_READ_ALSO = re.compile(
    r"^[\s\-–—•*|]*(?:اقرا|طالع|شاهد|تابع|انظر)\s+(?:ايضا|كذلك|المزيد)\b"
    r"|^[\s\-–—•*|]*(?:للمزيد|لمزيد من|مواضيع ذات صله|اخبار ذات صله|ذات صله|اقرا المزيد)\b"
    r"|^[\s\-–—•*|]*(?:read also|read more|see also|related)\b",
    re.IGNORECASE,
)
_SHORT_BOILERPLATE = re.compile(
    r"^\W*(?:"
    r"(?:شارك|شاركوا|انشر)\s+(?:هذا|هذه|الخبر|المقال|المقاله|علي)"
    r"|(?:تابعونا|تابعنا|تابعوا|تابع)\s+(?:علي|عبر|في|صفحتنا|حسابنا)"
    r"|(?:اشترك|اشتركوا|للاشتراك)\s|النشره\s+البريديه"
    r"|(?:انقر|اضغط)\s+هنا|حمل\s+تطبيق"
    r"|رابط\s+(?:الخبر|مختصر|المقال)|ارسل\s+لصديق|طباعه$|(?:tags|الوسوم|كلمات\s+داله)\s*:"
    r"|share\s+(?:this|on)|follow\s+us"
    r")"
    # Copyright notices start with a year or a sign as often as with words.
    r"|حقوق\s+(?:النشر|الطبع)|جميع\s+الحقوق|الحقوق\s+محفوظه|all\s+rights\s+reserved",
    re.IGNORECASE,
)
# "رابط الخبر بصحيفة الوئام: <headline>" glued to the last paragraph.
_TRAILING_LINK = re.compile(r"\s*رابط\s+(?:الخبر|المقال)\b[^\n]*$")

READ_ALSO_MAX_WORDS = 25
BOILERPLATE_MAX_WORDS = 14


@dataclass(frozen=True)
class Credits:
    """An article body with its credit lines and boilerplate taken out.

    ``body`` is the text to fingerprint (original characters, not normalised); ``credits`` are
    the sources named (``"news.yahoo.com"``, ``"أ ف ب"``); ``boilerplate`` the removed lines.
    """

    body: str
    credits: tuple[str, ...] = ()
    boilerplate: tuple[str, ...] = ()

    def provenance(self) -> dict[str, list[str]]:
        """What to store beside the article; empty lists are left out."""
        out: dict[str, list[str]] = {}
        if self.credits:
            out["credits"] = list(self.credits)
        if self.boilerplate:
            out["boilerplate"] = list(self.boilerplate)
        return out


def split_credits(text: str) -> Credits:
    """Separate ``text`` into the body and what was wrapped around it."""
    credits: list[str] = []
    boilerplate: list[str] = []
    kept: list[str] = []
    after_read_also = False
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped:
            after_read_also = False
            kept.append(line)
            continue
        words = len(stripped.split())
        if words > READ_ALSO_MAX_WORDS:
            # Longer than any credit or boilerplate line: text, and not worth normalising.
            after_read_also = False
            kept.append(line)
            continue
        norm = normalize(stripped)
        words = len(norm.split())
        credit = _credit_of(norm, stripped)
        if credit is not None:
            credits.append(credit)
            continue
        if words <= READ_ALSO_MAX_WORDS and _READ_ALSO.search(norm):
            boilerplate.append(stripped)
            # A bare "اقرأ أيضا:" heads a list of other stories' headlines on the next lines.
            after_read_also = words <= 3
            continue
        if after_read_also and words <= READ_ALSO_MAX_WORDS:
            boilerplate.append(stripped)
            continue
        after_read_also = False
        if words <= BOILERPLATE_MAX_WORDS and _SHORT_BOILERPLATE.search(norm):
            boilerplate.append(stripped)
            continue
        kept.append(line)

    body = "\n".join(kept).strip()
    body, more_credits, more_boilerplate = _trim_edges(body)
    return Credits(
        body=body,
        credits=tuple(_unique(credits + more_credits)),
        boilerplate=tuple(_unique(boilerplate + more_boilerplate)),
    )


def _credit_of(norm: str, original: str) -> str | None:
    """The source a whole-line credit names, or None when the line is not a credit."""
    if len(norm.split()) > 12:
        return None
    found = _CREDIT_LINE.match(norm)
    if found is None:
        return None
    named = found.group("named") or found.group("via")
    if named is not None:
        # Report the source as written, not normalised: it is provenance.
        tail = re.split(r"[:：\-–—]|\s(?:عن|من)\s", original, maxsplit=1)
        return (tail[-1] if len(tail) > 1 else named).strip(" :-–—.")
    return original.strip(" \t()[]-–—•*_|.:")


def _trim_edges(body: str) -> tuple[str, list[str], list[str]]:
    """Credits and link lines glued to the first or last paragraph."""
    credits: list[str] = []
    boilerplate: list[str] = []
    head = _LEADING_CREDIT.match(body)
    if head is not None and head.end() < len(body):
        credits.append(head.group("agency") or head.group("agency2"))
        body = body[head.end() :]
    link = _TRAILING_LINK.search(body)
    if link is not None and len(link.group(0).split()) <= READ_ALSO_MAX_WORDS:
        boilerplate.append(link.group(0).strip())
        body = body[: link.start()].rstrip()
    # Only the last few dozen characters: the pattern is anchored at the end anyway.
    offset = max(0, len(body) - 60)
    tail = _TRAILING_CREDIT.search(body, offset)
    if tail is not None and tail.start() > 0:
        credits.append(tail.group("agency"))
        body = body[: tail.start()].rstrip()
    return body, credits, boilerplate


def _unique(items: list[str]) -> list[str]:
    return list(dict.fromkeys(item for item in items if item))
