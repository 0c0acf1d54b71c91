"""crawler.encoding: HTML bytes to text, Arabic legacy encodings with no charset included."""

from __future__ import annotations

import codecs
from pathlib import Path

import pytest

from marsad.crawler.encoding import (
    arabic_score,
    charset_from_content_type,
    charset_from_markup,
    decode_html,
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
