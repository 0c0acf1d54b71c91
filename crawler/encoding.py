"""Turning the bytes of an HTML page into text, Arabic legacy encodings included.

Arabic sites often send windows-1256 or ISO-8859-6 and declare neither. The order of evidence:
HTTP charset → byte-order mark → ``<meta>`` (or XML declaration) charset → strict UTF-8 →
a scoring test between the two Arabic legacy encodings → windows-1252 with replacement.
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass

from marsad.arabic.script import is_basic_arabic_letter

# How much of the page to search for a <meta> charset (the HTML spec says 1024; sites are sloppy).
_META_WINDOW = 4096
_CHARSET = re.compile(rb"""charset\s*=\s*["']?\s*([A-Za-z0-9._:\-]+)""", re.IGNORECASE)
_META = re.compile(rb"<meta\b[^>]*>", re.IGNORECASE)
_XML_DECL = re.compile(rb"""^\s*<\?xml[^>]*encoding\s*=\s*["']([A-Za-z0-9._\-]+)["']""")
_BOMS = (
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
# Labels that browsers read as windows-1252 (the WHATWG Encoding Standard does the same).
_AS_CP1252 = frozenset({"iso-8859-1", "latin-1", "ascii", "us-ascii", "iso8859-1", "latin1"})
_FIRST_LETTER = 0x0621  # hamza: letters and harakat run from here to the end of _HARAKAT
_HARAKAT = (0x064B, 0x0652)
# Below this the bytes are not Arabic in either encoding (Arabic text scores about 1).
_MIN_SCORE = 0.5


@dataclass(frozen=True)
class Decoded:
    text: str
    encoding: str  # a Python codec name
    source: str  # "header", "bom", "meta", "utf-8", "arabic-guess" or "fallback"


def decode_html(body: bytes, content_type: str | None = None) -> Decoded:
    """Decode an HTML page, trusting each piece of evidence only if the bytes agree with it."""
    declared = charset_from_content_type(content_type)
    if declared:
        text = _try_decode(body, declared)
        if text is not None:
            return Decoded(text, _codec_name(declared) or declared, "header")
    for bom, name in _BOMS:
        if body.startswith(bom):
            return Decoded(body[len(bom) :].decode(name, errors="replace"), name, "bom")
    meta = charset_from_markup(body[:_META_WINDOW])
    if meta:
        text = _try_decode(body, meta)
        if text is not None:
            return Decoded(text, _codec_name(meta) or meta, "meta")
    try:
        return Decoded(body.decode("utf-8"), "utf-8", "utf-8")
    except UnicodeDecodeError:
        pass
    guess = guess_arabic_legacy(body)
    if guess is not None:
        return Decoded(body.decode(guess, errors="replace"), guess, "arabic-guess")
    return Decoded(body.decode("cp1252", errors="replace"), "cp1252", "fallback")


def charset_from_content_type(content_type: str | bytes | None) -> str | None:
    if not content_type:
        return None
    raw = content_type if isinstance(content_type, bytes) else content_type.encode("latin-1")
    m = _CHARSET.search(raw)
    return _codec_name(m.group(1).decode("ascii")) if m else None


def charset_from_markup(head: bytes) -> str | None:
    """The charset a page declares in a ``<meta>`` tag or its XML declaration."""
    m = _XML_DECL.match(head)
    if m:
        return _codec_name(m.group(1).decode("ascii"))
    for tag in _META.finditer(head):
        found = _CHARSET.search(tag.group(0))
        if found:
            name = _codec_name(found.group(1).decode("ascii"))
            if name:
                return name
    return None


def guess_arabic_legacy(body: bytes) -> str | None:
    """``"cp1256"`` or ``"iso8859-6"`` when the bytes read as Arabic in one of them, else None.

    The two encodings agree on hamza..dad (0xC1–0xD6) and disagree above: ISO-8859-6 puts
    lam, mim, nun, ha, waw, ya at 0xE4–0xEA, where windows-1256 has nun, ha and French letters
    (ç è é ê). Each decoding is scored: Arabic letters and the article «ال» at the start of a word
    count for it; Latin letters, stray harakat and control characters inside Arabic text count
    against it. Undefined bytes rule ISO-8859-6 out.
    """
    scores: dict[str, float] = {}
    for name in ("cp1256", "iso8859-6"):
        try:
            text = body.decode(name)
        except UnicodeDecodeError:
            continue
        scores[name] = arabic_score(text)
    if not scores:
        return None
    best = max(scores, key=lambda n: scores[n])
    return best if scores[best] > _MIN_SCORE else None


def arabic_score(text: str) -> float:
    """How much ``text`` looks like Arabic, per non-ASCII character (at most ~1; ≤ 0: not).

    Latin text read as ISO-8859-6 turns é, è, ç into Arabic letters stuck inside Latin words;
    those mixed-script words count against the reading too.
    """
    letters = latin = bad = orphan_harakat = mixed = 0
    previous = " "
    for ch in text:
        code = ord(ch)
        if is_basic_arabic_letter(ch):
            letters += 1
            if previous.isascii() and previous.isalpha():
                mixed += 1
        elif code < 0x80:
            if ch.isalpha() and is_basic_arabic_letter(previous):
                mixed += 1
        elif _HARAKAT[0] <= code <= _HARAKAT[1]:
            # A haraka sits on a letter (or on shadda); after a space it is a mis-decoded byte.
            if not (_FIRST_LETTER <= ord(previous) <= _HARAKAT[1]):
                orphan_harakat += 1
        elif 0xC0 <= code <= 0xFF:
            latin += 1
        elif 0x80 <= code <= 0x9F or ch == "\ufffd":
            bad += 1
        previous = ch
    articles = len(re.findall(r"(?:^|[\s(«\"'])ال", text))
    total = letters + latin + bad + orphan_harakat
    if total == 0:
        return 0.0
    penalty = 4 * (latin + bad + mixed) + 3 * orphan_harakat
    return (letters + 4 * articles - penalty) / total


def _try_decode(body: bytes, encoding: str) -> str | None:
    try:
        return body.decode(encoding)
    except (UnicodeDecodeError, LookupError):
        return None


def _codec_name(label: str) -> str | None:
    label = label.strip().lower()
    if label in _AS_CP1252:
        return "cp1252"
    try:
        return codecs.lookup(label).name
    except LookupError:
        return None
