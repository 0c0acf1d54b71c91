"""crawler.urls.canonical_url: one spelling per article."""

from __future__ import annotations

import pytest

from marsad.urls import canonical_url


@pytest.mark.parametrize(
    ("url", "canonical"),
    [
        ("HTTP://News.Example.COM:80/a/b.html", "http://news.example.com/a/b.html"),
        ("https://news.example:443/a", "https://news.example/a"),
        ("http://127.0.0.1:8080/a", "http://127.0.0.1:8080/a"),
        ("http://news.example/a#comments", "http://news.example/a"),
        ("http://news.example", "http://news.example/"),
        (
            "http://news.example/a?utm_source=rss&utm_medium=feed&id=7&fbclid=x",
            "http://news.example/a?id=7",
        ),
        ("http://news.example/a?b=2&a=1", "http://news.example/a?a=1&b=2"),
        ("http://news.example/x/../a/./b", "http://news.example/a/b"),
        ("  http://news.example/a  ", "http://news.example/a"),
    ],
)
def test_canonical_url(url: str, canonical: str) -> None:
    assert canonical_url(url) == canonical


def test_arabic_slug_raw_and_encoded_agree() -> None:
    raw = "http://news.example/أخبار/جسر-الميناء"
    encoded = "http://news.example/%D8%A3%D8%AE%D8%A8%D8%A7%D8%B1/%D8%AC%D8%B3%D8%B1-%D8%A7%D9%84%D9%85%D9%8A%D9%86%D8%A7%D8%A1"
    assert canonical_url(raw) == canonical_url(encoded) == encoded
    assert canonical_url(encoded.lower()) == encoded


def test_idempotent() -> None:
    for url in ["http://News.example/a?utm_source=x&b=1#f", "http://news.example/أ?q=ب"]:
        once = canonical_url(url)
        assert canonical_url(once) == once


def test_arabic_host_becomes_punycode() -> None:
    assert canonical_url("http://مثال.example/a").startswith("http://xn--")
