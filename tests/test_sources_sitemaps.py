"""Reading sitemaps (marsad.crawler.sitemaps, pure) and turning them into entries (the sitemap
kind's reader): urlsets with news: elements, indexes, gzip, namespaces gone wrong, and the limits
on what one document may cost."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from marsad.crawler.sitemaps import (
    ChildSitemap,
    SitemapUnreadable,
    SitemapUrl,
    gunzip_bounded,
    newest_sitemaps,
    newest_urls,
    read_sitemap,
)
from marsad.crawler.spiders.base import SourceIndex
from marsad.crawler.spiders.sitemap import sitemap_result

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "sources"
BASE = "http://news.example.org"
MAX = 1 << 20


def fixture(name: str) -> bytes:
    text = (FIXTURES / name).read_text(encoding="utf-8")
    return text.replace("{base}", BASE).replace("{more}", "").encode("utf-8")


def test_news_sitemap_fields() -> None:
    sitemap = read_sitemap(fixture("news-politics.xml"), max_bytes=MAX)
    assert sitemap.kind == "urlset" and sitemap.is_news
    first, second = sitemap.urls
    assert first == SitemapUrl(
        loc=f"{BASE}/news/1.html",
        news_title="المجلس البلدي يقر خطة جديدة للنقل العام",
        news_published="2024-05-12T05:30:00Z",
        # Split on the Latin and the Arabic comma alike.
        news_keywords=("النقل العام", "البلدية", "الحافلات"),
    )
    # A date without a time is midnight UTC.
    assert second.news_published == "2024-05-12T00:00:00Z" and second.news_keywords == ()


def test_gzipped_sitemap_reads_like_the_plain_one() -> None:
    plain = fixture("news-economy.xml")
    assert read_sitemap(gzip.compress(plain), max_bytes=MAX) == read_sitemap(plain, max_bytes=MAX)


def test_index_lists_its_sitemaps_relative_ones_resolved() -> None:
    body = fixture("news-index.xml")
    sitemap = read_sitemap(body, max_bytes=MAX)
    assert sitemap.kind == "sitemapindex"
    assert sitemap.sitemaps == (
        ChildSitemap(f"{BASE}/sitemaps/politics.xml.gz", "2024-05-12T06:00:00Z"),
        ChildSitemap("/sitemaps/economy.xml", "2024-05-11T00:00:00Z"),
    )
    result = sitemap_result(sitemap, f"{BASE}/sitemaps/index.xml")
    assert isinstance(result, SourceIndex) and result.is_feed and result.entries == ()
    assert result.more_sources == (
        f"{BASE}/sitemaps/politics.xml.gz",
        f"{BASE}/sitemaps/economy.xml",
    )


def test_entries_carry_title_date_and_keywords_not_lastmod() -> None:
    result = sitemap_result(
        read_sitemap(fixture("news-economy.xml"), max_bytes=MAX), f"{BASE}/sitemaps/economy.xml"
    )
    assert [e.link for e in result.entries] == [f"{BASE}/news/3.html", f"{BASE}/news/gone.html"]
    dates, gone = result.entries
    assert dates.title == "ارتفاع صادرات التمور هذا الموسم"
    # The publication date, never <lastmod> (when the page last changed).
    assert dates.published == "2024-05-11T11:00:00Z" and dates.text == ""
    assert gone.text == "الميناء, الصيادون, الإصلاحات"


def test_no_namespace_and_wrong_namespace_are_read_alike() -> None:
    body = (
        b'<urlset xmlns="https://www.sitemaps.org/schemas/sitemap/0.9" xmlns:n="urn:typo">'
        b"<url><loc> http://a.example/1 </loc><n:news><n:title>T</n:title></n:news></url>"
        b"<url><lastmod>2024-01-01</lastmod></url></urlset>"
    )
    sitemap = read_sitemap(body, max_bytes=MAX)
    assert [(u.loc, u.news_title) for u in sitemap.urls] == [("http://a.example/1", "T")]
    assert sitemap.without_loc == 1
    bare = read_sitemap(b"<urlset><url><loc>http://a.example/2</loc></url></urlset>", max_bytes=MAX)
    assert bare.urls[0].loc == "http://a.example/2"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"", "empty document"),
        (
            b'<rss version="2.0"><channel/></rss>',
            'not a sitemap: the document is <rss> (a feed: kind = "rss")',
        ),
        (b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03" + b"\xff" * 20, "gzip data is damaged"),
        (gzip.compress(b"<urlset>" * 100, mtime=0)[:30], "gzip data is cut short"),
    ],
)
def test_unreadable_documents_say_why_in_one_line(body: bytes, message: str) -> None:
    with pytest.raises(SitemapUnreadable) as caught:
        read_sitemap(body, max_bytes=MAX)
    assert str(caught.value).startswith(message)
    assert "\n" not in str(caught.value)


def test_gzip_bomb_stops_at_the_limit() -> None:
    bomb = gzip.compress(b"<urlset>" + b" " * (4 << 20) + b"</urlset>")
    assert len(bomb) < 10_000
    with pytest.raises(SitemapUnreadable) as caught:
        read_sitemap(bomb, max_bytes=64 * 1024)
    assert str(caught.value) == "larger than 64 KiB once decompressed ([crawl] max_page_bytes)"
    assert gunzip_bounded(gzip.compress(b"x" * 1000), 1000) == b"x" * 1000


def test_a_long_sitemap_keeps_its_newest_urls() -> None:
    dated = [
        SitemapUrl(f"http://a.example/{n}", news_published=f"2024-05-{n:02d}T00:00:00Z")
        for n in range(1, 29)
    ]
    urls = (*dated, SitemapUrl("http://a.example/undated"))
    kept, note = newest_urls(urls, limit=3)
    assert [u.loc for u in kept] == [f"http://a.example/{n}" for n in (28, 27, 26)]
    assert note == "lists more than 3 URLs: kept the 3 newest (limit)"
    assert newest_urls(urls[:3], limit=3) == (urls[:3], None)


def test_a_large_index_reads_its_most_recently_modified() -> None:
    children = tuple(
        ChildSitemap(f"http://a.example/{n}.xml", f"2024-0{n}-01") for n in range(1, 6)
    )
    kept, note = newest_sitemaps((ChildSitemap("http://a.example/none.xml"), *children), limit=2)
    assert [c.loc for c in kept] == ["http://a.example/5.xml", "http://a.example/4.xml"]
    assert note == "lists more than 2 sitemaps: read the 2 most recently modified (limit)"


def test_sitemap_cut_is_said_in_the_result() -> None:
    body = (
        "<urlset>"
        + "".join(f"<url><loc>http://a.example/{n}</loc></url>" for n in range(1001))
        + "</urlset>"
    ).encode()
    result = sitemap_result(read_sitemap(body, max_bytes=MAX), "http://a.example/s.xml")
    assert len(result.entries) == 1000
    assert result.unusable == (
        "sitemap http://a.example/s.xml lists more than 1,000 URLs: kept the 1,000 newest (limit)",
    )


def test_an_index_goes_on_only_to_http_documents() -> None:
    body = (
        b"<sitemapindex><sitemap><loc>file:///etc/passwd</loc></sitemap>"
        b"<sitemap><loc>/a.xml</loc></sitemap></sitemapindex>"
    )
    result = sitemap_result(read_sitemap(body, max_bytes=MAX), "http://x.example/i.xml")
    assert isinstance(result, SourceIndex)
    assert result.more_sources == ("http://x.example/a.xml",)
    assert result.unusable == (
        "sitemap index http://x.example/i.xml: not an http(s) link: 'file:///etc/passwd'",
    )
