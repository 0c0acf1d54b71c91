"""crawler.extract: trafilatura on real and fixture pages."""

from __future__ import annotations

import difflib
from pathlib import Path

import pytest

from marsad.crawler.extract import extract_article, guess_language

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
FIXTURES = Path(__file__).resolve().parent / "fixtures" / "crawl"


def _similarity(a: str, b: str) -> float:
    # Word-level, so that whitespace and line breaks between paragraphs do not matter.
    return difflib.SequenceMatcher(None, a.split(), b.split(), autojunk=False).ratio()


def test_real_arabic_page_against_expected_text() -> None:
    page = SHARED / "data" / "html" / "cnn-arabic-2013-syria.html"
    expected = page.with_name("cnn-arabic-2013-syria.expected.txt")
    if not (page.exists() and expected.exists()):
        pytest.skip(f"shared test data not found at {page.parent}")
    url = "http://arabic.cnn.com/2013/middle_east/8/3/syria.clashes/index.html"
    article = extract_article(page.read_bytes(), url)
    assert article is not None
    assert _similarity(article.text, expected.read_text(encoding="utf-8")) >= 0.85
    assert article.title == "معارضون يسيطرون على مخازن للصواريخ بريف دمشق"
    assert article.language == "ar"


def test_fixture_page_keeps_the_body_and_drops_the_chrome() -> None:
    html = (FIXTURES / "bridge.html").read_bytes()
    article = extract_article(html, "http://sahel.example/articles/bridge.html")
    assert article is not None
    assert "افتتحت بلدية مدينة الساحل صباح الأحد جسر الميناء الجديد" in article.text
    assert "موسم الصيد المقبل" in article.text
    assert "جميع الحقوق محفوظة" not in article.text
    assert "رياضة" not in article.text
    assert article.author == "سلمى الحداد"
    assert article.published is not None and article.published.startswith("2024-05-12")
    assert article.language == "ar"
    assert article.encoding == "utf-8"


@pytest.mark.parametrize(
    ("name", "encoding"), [("book-fair.html", "cp1256"), ("mountain-rain.html", "iso8859-6")]
)
def test_legacy_encoded_page_bytes(name: str, encoding: str) -> None:
    source = (FIXTURES / name).read_text(encoding="utf-8")
    article = extract_article(source.encode(encoding), f"http://jabal.example/{name}")
    assert article is not None
    assert article.encoding == encoding
    first_paragraph = source.split("<p>")[1].split("</p>")[0]
    assert first_paragraph in article.text


@pytest.mark.parametrize(
    "html",
    [b"", "   ", "<html><body><p>قصير</p></body></html>", b"\x89PNG\r\n\x1a\n\x00\x00binary"],
)
def test_no_article(html: bytes | str) -> None:
    assert extract_article(html, "http://e.example/x") is None


def test_guess_language() -> None:
    assert guess_language("هذا نص عربي طويل نسبيا فيه كلمة English واحدة") == "ar"
    assert guess_language("An English sentence with one عربي word") is None
    assert guess_language("123 ...") is None


def test_headline_and_date_lines_are_not_kept_in_the_body() -> None:
    from marsad.crawler.extract import strip_leading_furniture

    body = "افتتاح المعرض\n2020-03-29\nافتتح المعرض أبوابه أمام الزوار.\nوشارك فيه كثيرون."
    assert strip_leading_furniture(body, "افتتاح المعرض") == (
        "افتتح المعرض أبوابه أمام الزوار.\nوشارك فيه كثيرون."
    )
    # A body that merely starts with the headline's words keeps them.
    assert strip_leading_furniture("افتتاح المعرض جرى أمس", "افتتاح المعرض").startswith("افتتاح")
