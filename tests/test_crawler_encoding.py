"""crawler.encoding: HTML bytes to text, Arabic legacy encodings with no charset included."""

from __future__ import annotations

import codecs
from pathlib import Path

import feedparser
import pytest

from marsad.crawler.encoding import (
    arabic_score,
    charset_from_content_type,
    charset_from_markup,
    decode_html,
    feed_as_utf8,
    guess_arabic_legacy,
)

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
FIXTURES = Path(__file__).resolve().parent / "fixtures" / "crawl"

# Our own sentences. The first uses only letters both encodings have; the second is rich in
# lam, mim, nun, ha, waw and ya, the letters the two encodings place differently.
NEWS = (
    "أعلنت بلدية المدينة الساحلية يوم الأحد عن افتتاح جسر جديد يربط الحي القديم بالميناء، "
    "وقال رئيس البلدية إن المشروع استغرق ثلاث سنوات."
)
SHORT = "هذا يوم مهم للمدينة"


def _page(text: str) -> str:
    return f"<html><head><title>خبر</title></head><body><p>{text}</p></body></html>"


@pytest.mark.parametrize("encoding", ["cp1256", "iso8859-6"])
@pytest.mark.parametrize("text", [NEWS, SHORT])
def test_arabic_legacy_without_charset_is_guessed(encoding: str, text: str) -> None:
    decoded = decode_html(_page(text).encode(encoding))
    assert decoded.source == "arabic-guess"
    assert decoded.encoding == encoding
    assert text in decoded.text


def test_fixture_pages_in_both_legacy_encodings() -> None:
    for name, encoding in [("book-fair.html", "cp1256"), ("mountain-rain.html", "iso8859-6")]:
        text = (FIXTURES / name).read_text(encoding="utf-8")
        decoded = decode_html(text.encode(encoding), "text/html")
        assert (decoded.encoding, decoded.text) == (encoding, text)


def test_shared_windows_1256_page_without_charset() -> None:
    path = SHARED / "data" / "html" / "windows-1256-no-charset.html"
    if not path.exists():
        pytest.skip(f"shared test data not found at {path}")
    decoded = decode_html(path.read_bytes())
    assert decoded.encoding == "cp1256"
    assert "كتائب" in decoded.text and "قطاع غزة" in decoded.text


def test_scores_prefer_the_right_reading() -> None:
    for right, wrong in [("iso8859-6", "cp1256"), ("cp1256", "iso8859-6")]:
        raw = NEWS.encode(right)
        assert arabic_score(raw.decode(right)) > 0.5
        assert arabic_score(raw.decode(right)) > arabic_score(raw.decode(wrong, errors="replace"))


def test_no_arabic_guess_for_latin_text() -> None:
    assert guess_arabic_legacy("Café crème à la française".encode("cp1252")) is None
    decoded = decode_html("<p>Café crème, déjà vu</p>".encode("cp1252"))
    assert decoded.source == "fallback"
    assert "Café crème, déjà vu" in decoded.text


def test_header_charset_wins_when_the_bytes_agree() -> None:
    body = _page(NEWS).encode("cp1256")
    decoded = decode_html(body, "text/html; charset=windows-1256")
    assert (decoded.source, decoded.encoding) == ("header", "cp1256")
    assert NEWS in decoded.text


def test_a_header_charset_the_bytes_refute_is_ignored() -> None:
    decoded = decode_html(_page(NEWS).encode("cp1256"), "text/html; charset=utf-8")
    assert decoded.source == "arabic-guess"
    assert NEWS in decoded.text


def test_bom_then_meta_then_utf8() -> None:
    assert decode_html(codecs.BOM_UTF8 + _page(NEWS).encode()).source == "bom"
    meta = f'<meta http-equiv="Content-Type" content="text/html; charset=iso-8859-6">{NEWS}'
    decoded = decode_html(meta.encode("iso8859-6"))
    assert (decoded.source, decoded.encoding) == ("meta", "iso8859-6")
    assert NEWS in decoded.text
    assert decode_html(_page(NEWS).encode("utf-8")).source == "utf-8"


def test_charset_parsing() -> None:
    assert charset_from_content_type("text/html; charset=Windows-1256") == "cp1256"
    assert charset_from_content_type('text/html; charset="ISO-8859-6"') == "iso8859-6"
    assert charset_from_content_type(b"text/html") is None
    assert charset_from_content_type("text/html; charset=no-such-thing") is None
    assert charset_from_content_type("text/html; charset=iso-8859-1") == "cp1252"
    assert charset_from_markup(b'<?xml version="1.0" encoding="windows-1256"?>') == "cp1256"
    assert charset_from_markup(b"<head><meta charset='utf-8'></head>") == "utf-8"
    assert charset_from_markup(b"<p>charset=utf-8 outside a meta tag</p>") is None


def test_empty_body() -> None:
    assert decode_html(b"").text == ""


# -- declared, but wrong ---------------------------------------------------------------------

# Our own sentence, rich in the letters the two legacy encodings place differently.
CLINIC = (
    "قال مدير المستشفى إن الأطباء نجحوا في إجراء عملية معقدة لطفل يبلغ من العمر خمس سنوات، "
    "وإن حالته مستقرة وسيغادر المستشفى مع والديه خلال أيام قليلة."
)


@pytest.mark.parametrize(
    ("really", "label"),
    [
        ("iso8859-6", "windows-1256"),  # a CMS set up for windows-1256 serving ISO-8859-6 files
        ("cp1256", "iso-8859-6"),
        ("cp1256", "iso-8859-1"),  # a server's default label
        ("iso8859-6", "iso-8859-1"),
        ("utf-8", "windows-1256"),
        ("utf-8", "iso-8859-1"),
        ("utf-8", "iso-8859-6"),
    ],
)
def test_a_declared_charset_the_bytes_refute_is_not_believed(really: str, label: str) -> None:
    body = _page(CLINIC).encode(really)
    for decoded in (
        decode_html(body, f"text/html; charset={label}"),
        decode_html(f'<meta charset="{label}">'.encode() + body),  # the same lie in the page
    ):
        assert CLINIC in decoded.text, (really, label, decoded.encoding)
        assert decoded.encoding == codecs.lookup(really).name
        assert decoded.source in ("utf-8", "arabic-guess")


@pytest.mark.parametrize(
    ("text", "encoding", "label"),
    [
        (CLINIC, "cp1256", "windows-1256"),
        (CLINIC, "iso8859-6", "ISO-8859-6"),
        (CLINIC, "iso8859-6", "iso-8859-6-i"),  # a WHATWG label Python's codecs do not know
        (SHORT, "cp1256", "windows-1256"),
        ("Café crème, déjà vu, à bientôt", "cp1252", "windows-1252"),
        ("Café crème, déjà vu, à bientôt", "cp1252", "iso-8859-1"),
        ("plain ASCII news", "ascii", "windows-1256"),  # no evidence either way: the label stands
    ],
)
def test_a_declared_charset_the_bytes_agree_with_is_believed(
    text: str, encoding: str, label: str
) -> None:
    body = f"<html><body><p>{text}</p></body></html>".encode(encoding)
    decoded = decode_html(body, f"text/html; charset={label}")
    assert decoded.source == "header"
    assert text in decoded.text


# Our own Russian, for a legacy encoding of another script.
RUSSIAN = (
    "В субботу в городе открыли новый мост через реку. По словам мэра, строительство заняло "
    "три года, и теперь дорога от старого района до порта займёт десять минут вместо сорока. "
    "Жители давно ждали этого дня и пришли на церемонию вместе с детьми."
)


def test_another_script_in_a_legacy_encoding_is_not_taken_for_arabic() -> None:
    body = f"<html><body><p>{RUSSIAN}</p></body></html>".encode("koi8-r")
    assert guess_arabic_legacy(body) is None
    assert decode_html(body).source == "fallback"  # mojibake either way, but not Arabic words
    assert decode_html(body, "text/html; charset=koi8-r").text.count(RUSSIAN) == 1


def test_arabic_mixed_with_french_keeps_its_label() -> None:
    # Both readings of a page mostly in Arabic stay plausible; the label breaks the tie.
    text = f"{CLINIC} Le directeur a précisé que l'opération a duré six heures."
    decoded = decode_html(_page(text).encode("cp1256"), "text/html; charset=windows-1256")
    assert (decoded.source, decoded.encoding) == ("header", "cp1256")
    assert text in decoded.text


def test_a_big_page_is_judged_quickly() -> None:
    import time

    body = (("<script>var x = 1;</script>" * 40 + f"<p>{CLINIC}</p>\n") * 4000).encode("iso8859-6")
    assert len(body) > 2_000_000
    started = time.perf_counter()
    decoded = decode_html(body, "text/html; charset=windows-1256")
    assert decoded.encoding == "iso8859-6"
    # Scoring a sample, not the whole page: well under a second (was about 2 s).
    assert time.perf_counter() - started < 1.0


# -- feeds -----------------------------------------------------------------------------------


def _rss(title: str, declaration: str = "") -> str:
    return (
        f'<?xml version="1.0"{declaration}?><rss version="2.0"><channel><title>أخبار</title>'
        f"<item><title>{title}</title><link>http://news.example/1</link></item>"
        "</channel></rss>"
    )


def _feedparser_title(body: bytes) -> str:
    # How marsad.crawler.feeds gives feedparser the bytes feed_as_utf8 returns.
    headers = {"content-type": "application/xml; charset=utf-8"}
    parsed = feedparser.parse(body, response_headers=headers)
    assert not parsed.bozo, parsed.get("bozo_exception")
    return str(parsed.entries[0].title)


def test_feedparser_alone_misreads_an_undeclared_iso_8859_6_feed() -> None:
    # Why feed_as_utf8 exists: left to itself, feedparser falls back to windows-1252.
    parsed = feedparser.parse(_rss(CLINIC).encode("iso8859-6"))
    assert parsed.entries[0].title != CLINIC


@pytest.mark.parametrize(
    ("encoding", "declaration", "content_type"),
    [
        ("iso8859-6", "", None),  # undeclared
        ("iso8859-6", ' encoding="windows-1256"', None),  # declared, wrongly
        ("iso8859-6", "", "application/rss+xml; charset=windows-1256"),
        ("cp1256", "", None),
        ("cp1256", ' encoding="windows-1256"', "text/xml"),
        ("cp1256", ' encoding="iso-8859-6"', None),
        ("utf-8", ' encoding="utf-8"', "application/rss+xml; charset=utf-8"),
        ("utf-8", ' encoding="windows-1256"', None),  # re-saved as UTF-8, declaration kept
        ("utf-16", ' encoding="utf-16"', None),  # with a byte-order mark
    ],
)
def test_feed_as_utf8_gives_feedparser_the_right_text(
    encoding: str, declaration: str, content_type: str | None
) -> None:
    body = _rss(CLINIC, declaration).encode(encoding)
    assert _feedparser_title(feed_as_utf8(body, content_type)) == CLINIC


def test_feed_as_utf8_leaves_utf8_alone() -> None:
    body = _rss(CLINIC).encode("utf-8")
    assert feed_as_utf8(body, "application/rss+xml") is body
    assert feed_as_utf8(codecs.BOM_UTF8 + body) == body
