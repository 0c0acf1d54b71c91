"""Turning the bytes of an HTML page or a feed into text, Arabic legacy encodings included.

Arabic sites often send windows-1256 or ISO-8859-6 and declare neither, or declare the wrong one
(a CMS set up for windows-1256 serving ISO-8859-6 files, a server that labels everything
ISO-8859-1). The order of evidence: HTTP charset → byte-order mark → ``<meta>`` (or XML
declaration) charset → strict UTF-8 → a scoring test between the two Arabic legacy encodings →
windows-1252 with replacement. A declared charset counts only if the bytes agree with it, and a
single-byte charset decodes any bytes at all: so windows-1256, ISO-8859-6 and windows-1252 are
believed only when nothing in the bytes speaks against them (see :func:`_believable`).
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass

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
# WHATWG labels of the Arabic encodings that Python's codecs do not know.
_ALIASES = {"iso-8859-6-i": "iso8859-6", "iso-8859-6-e": "iso8859-6", "x-cp1256": "cp1256"}
_ARABIC_LEGACY = ("cp1256", "iso8859-6")
# The declared Arabic encoding is believed when its reading scores within this much of the other.
_TIE = 0.05
_ASCII_RUN = re.compile(rb"[\x00-\x7f]{256,}")
_ARABIC_WORD = re.compile(r"[\u0621-\u064a]+")
_WORDS_TO_EXPECT_ARTICLES = 30
_MIN_ARTICLE_SHARE = 0.03
_SAMPLE_BYTES = 32 * 1024
# Below this the bytes are not Arabic in either encoding (Arabic text scores about 1).
_MIN_SCORE = 0.5


@dataclass(frozen=True)
class Decoded:
    text: str
    encoding: str  # a Python codec name
    source: str  # "header", "bom", "meta", "utf-8", "arabic-guess" or "fallback"


def decode_html(body: bytes, content_type: str | None = None) -> Decoded:
    """Decode an HTML page (or a feed), trusting each piece of evidence only if the bytes agree
    with it."""
    declared = charset_from_content_type(content_type)
    if declared:
        text = _believable(body, declared)
        if text is not None:
            return Decoded(text, declared, "header")
    for bom, name in _BOMS:
        if body.startswith(bom):
            return Decoded(body[len(bom) :].decode(name, errors="replace"), name, "bom")
    meta = charset_from_markup(body[:_META_WINDOW])
    if meta:
        text = _believable(body, meta)
        if text is not None:
            return Decoded(text, meta, "meta")
    try:
        return Decoded(body.decode("utf-8"), "utf-8", "utf-8")
    except UnicodeDecodeError:
        pass
    guess = guess_arabic_legacy(body)
    if guess is not None:
        return Decoded(body.decode(guess, errors="replace"), guess, "arabic-guess")
    return Decoded(body.decode("cp1252", errors="replace"), "cp1252", "fallback")


def feed_as_utf8(body: bytes, content_type: str | None = None) -> bytes:
    """A feed's bytes in UTF-8, decoded as :func:`decode_html` decides.

    feedparser given bytes believes the HTTP charset, else the XML declaration, else falls back
    to windows-1252: an undeclared ISO-8859-6 feed, or one labelled windows-1256 that is not,
    comes out as mojibake. Give feedparser these bytes with the content type
    ``application/xml; charset=utf-8``: an HTTP charset overrides the XML declaration, which may
    still name the feed's original encoding.
    """
    decoded = decode_html(body, content_type)
    if decoded.encoding == "utf-8" and decoded.source != "bom":
        return body  # already what feedparser gets: no copy
    return decoded.text.encode("utf-8")


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
    scores = arabic_readings(body)
    if not scores:
        return None
    best = max(scores, key=lambda n: scores[n])
    return best if scores[best] > _MIN_SCORE else None


def arabic_score(text: str) -> float:
    """How much ``text`` looks like Arabic, per non-ASCII character (at most ~1; ≤ 0: not).

    Latin text read as ISO-8859-6 turns é, è, ç into Arabic letters stuck inside Latin words;
    those mixed-script words count against the reading too.

    Counted by regular expressions, each a pass in C: a loop in Python over the 32 KB sample,
    twice (one per legacy encoding), was most of the cost of a windows-1256 page's extraction.
    """
    letters = len(_BASIC_LETTER.findall(text))
    # A letter next to a Latin one, either way round: a word of mixed scripts.
    mixed = len(_LATIN_THEN_ARABIC.findall(text)) + len(_ARABIC_THEN_LATIN.findall(text))
    # A haraka sits on a letter (or on shadda); after anything else it is a mis-decoded byte.
    orphan_harakat = len(_ORPHAN_HARAKA.findall(text))
    latin = len(_LATIN_1_LETTER.findall(text))
    bad = len(_UNDECODABLE.findall(text))
    articles = len(_ARTICLE.findall(text))
    total = letters + latin + bad + orphan_harakat
    if total == 0:
        return 0.0
    # Cyrillic (KOI8-R), Greek or Hebrew bytes read as Arabic make word-like runs of letters
    # too, but hardly ever «ال»: in Arabic prose one word in eight or more carries it.
    words = len(_ARABIC_WORD.findall(text))
    if words >= _WORDS_TO_EXPECT_ARTICLES and articles < words * _MIN_ARTICLE_SHARE:
        return 0.0
    penalty = 4 * (latin + bad + mixed) + 3 * orphan_harakat
    return (letters + 4 * articles - penalty) / total


# What arabic_score counts. A basic letter runs from hamza to yeh, tatweel (U+0640) excepted.
_BASIC = "\u0621-\u063f\u0641-\u064a"
_BASIC_LETTER = re.compile(f"[{_BASIC}]")
_LATIN_THEN_ARABIC = re.compile(f"[A-Za-z](?=[{_BASIC}])")
_ARABIC_THEN_LATIN = re.compile(f"[{_BASIC}](?=[A-Za-z])")
# Harakat are U+064B..U+0652; letters and harakat together run from hamza (U+0621) to there.
_ORPHAN_HARAKA = re.compile("(?<![\u0621-\u0652])[\u064b-\u0652]")
_LATIN_1_LETTER = re.compile("[\u00c0-\u00ff]")
_UNDECODABLE = re.compile("[\u0080-\u009f\ufffd]")
_ARTICLE = re.compile(r"(?:^|[\s(«\"'])ال")


def _believable(body: bytes, label: str) -> str | None:
    """The text of ``body`` in the declared ``label``, or None when the bytes refute it.

    A multi-byte or strict encoding refutes itself by failing to decode. The single-byte ones
    decode anything, so for them: bytes that are valid UTF-8 beyond ASCII are UTF-8 (legacy text
    is practically never valid UTF-8 by accident); a declared Arabic encoding must read as
    plausible Arabic, at least as well as the other one does; and windows-1252 is refuted by
    bytes that read as Arabic in one of the legacy encodings.
    """
    text = _try_decode(body, label)
    if text is None or body.isascii() or label not in (*_ARABIC_LEGACY, "cp1252"):
        return text
    if _is_utf8(body):
        return None
    scores = arabic_readings(body)
    if label == "cp1252":
        return None if max(scores.values(), default=0.0) > _MIN_SCORE else text
    own = scores.get(label)
    if own is None or own <= _MIN_SCORE or own < max(scores.values()) - _TIE:
        return None
    return text


def arabic_readings(body: bytes) -> dict[str, float]:
    """The :func:`arabic_score` of ``body`` read in each Arabic legacy encoding that decodes it.

    Scored on a sample: the long runs of ASCII (markup, scripts, styles) squeezed out, then at
    most _SAMPLE_BYTES, so a 5 MB page costs milliseconds on the crawler's thread, not seconds.
    """
    sample = _ASCII_RUN.sub(b" ", body)[:_SAMPLE_BYTES]
    scores: dict[str, float] = {}
    for name in _ARABIC_LEGACY:
        try:
            scores[name] = arabic_score(sample.decode(name))
        except UnicodeDecodeError:
            continue
    return scores


def _is_utf8(body: bytes) -> bool:
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _try_decode(body: bytes, encoding: str) -> str | None:
    try:
        return body.decode(encoding)
    except (UnicodeDecodeError, LookupError):
        return None


def _codec_name(label: str) -> str | None:
    label = label.strip().lower()
    if label in _AS_CP1252:
        return "cp1252"
    label = _ALIASES.get(label, label)
    try:
        return codecs.lookup(label).name
    except LookupError:
        return None
