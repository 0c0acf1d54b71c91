"""News sitemaps as a source (``kind = "sitemap"``), crawled into a store over loopback.

A sitemap index with a gzipped and a plain sitemap is read in one poll; their pages are followed
through the same extraction and ingest as a feed's entries, with news:title, news:publication_date
and news:keywords used; the next poll fetches only the URL that is new, the one after nothing.
The limits (sitemaps per index, bytes once decompressed, bytes downloaded) each cost one line
and never the crawl; a feed address that is a web page says which feeds it links.
"""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import Any

from marsad.storage.db import open_store
from tests.crawlrun import crawl_in_subprocess
from tests.feedserver import FeedServer, numbered_page

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "sources"
GZIP = "application/x-gzip"
XML = "application/xml; charset=utf-8"
CRAWL = {
    "download_timeout": 5.0,
    "delay": 0.0,
    "concurrency_per_domain": 4,
    "allow_private": ["127.0.0.0/8"],  # the test server is on loopback
}
NEW_URL = """  <url>
    <loc>{base}/news/4.html</loc>
    <news:news>
      <news:publication><news:name>صحيفة المرصد</news:name></news:publication>
      <news:publication_date>2024-05-12T12:00:00Z</news:publication_date>
      <news:title>بدء موسم قطف الزيتون في القرى الجبلية</news:title>
    </news:news>
  </url>
"""


def fixture(server: FeedServer, name: str, more: str = "") -> bytes:
    text = (FIXTURES / name).read_text(encoding="utf-8").replace("{more}", more)
    return text.replace("{base}", server.base).encode("utf-8")


def feed(name: str, url: str, kind: str = "sitemap") -> dict[str, Any]:
    return {"name": name, "url": url, "every": 600.0, "source": name, "kind": kind}


def test_sitemap_index_with_gzip_children_crawled_into_a_store(tmp_path: Path) -> None:
    store = tmp_path / "marsad.db"
    with FeedServer() as server:
        index = server.serve("/sitemaps/index.xml", fixture(server, "news-index.xml"), XML)
        server.serve(
            "/sitemaps/politics.xml.gz", gzip.compress(fixture(server, "news-politics.xml")), GZIP
        )
        # The economy sitemap gains a URL after the first poll.
        economy = [
            fixture(server, "news-economy.xml"),
            fixture(server, "news-economy.xml", NEW_URL.replace("{base}", server.base)),
        ]
        server.serve_in_turn("/sitemaps/economy.xml", economy, XML)
        for n in (1, 2, 3, 4):
            server.serve(f"/news/{n}.html", numbered_page(n))
        spec = {
            "store": str(store),
            "crawls": 3,
            "feeds": [feed("marsad-news", index)],
            "crawl": CRAWL,
            "rules": [],
        }
        first, second, third = crawl_in_subprocess(spec, tmp_path)
        paths = server.paths()
        gone_url = server.url("/news/gone.html")

    assert first["feeds_ok"] == 1, first
    assert first["errors"] == [
        f"feed 'marsad-news': article {gone_url}: HTTP 404; kept the feed's text"
    ]
    # Three pages and the entry whose page is gone, kept from the sitemap.
    assert (first["articles_new"], first["articles_failed"]) == (4, 0)
    # Only the URL that is new is fetched on the next poll; then nothing changed.
    assert (second["feeds_ok"], second["articles_new"]) == (1, 1)
    assert (third["feeds_unchanged"], third["articles_new"]) == (1, 0)
    pages = [p for p in paths if p.startswith("/news/")]
    assert sorted(pages) == [f"/news/{n}.html" for n in ("1", "2", "3", "4", "gone")]
    # The index and its sitemaps are read on every poll (no validators: see SourceIndex).
    assert paths.count("/sitemaps/politics.xml.gz") == 3

    db = open_store(store)
    try:
        rows = {
            row["url"].rsplit("/", 1)[-1]: row
            for row in db.query("SELECT url, title, text, published, extraction FROM articles")
        }
        state = next(db.query("SELECT * FROM feeds WHERE name = 'marsad-news'"))
    finally:
        db.close()
    assert sorted(rows) == ["1.html", "2.html", "3.html", "4.html", "gone.html"]
    # news:title and news:publication_date win over the page's own.
    assert rows["1.html"]["title"] == "المجلس البلدي يقر خطة جديدة للنقل العام"
    assert rows["1.html"]["published"] == "2024-05-12T05:30:00Z"
    assert rows["1.html"]["extraction"] == "page"
    assert "(1-0)" in rows["1.html"]["text"]  # the page's text, not the keywords
    assert rows["4.html"]["title"] == "بدء موسم قطف الزيتون في القرى الجبلية"
    # The page answered 404: the article is what the sitemap says, its keywords as its text.
    gone = rows["gone.html"]
    assert gone["extraction"] == "feed"
    assert gone["title"] == "الميناء يستقبل سفن الصيد بعد الإصلاحات"
    assert gone["text"] == "الميناء, الصيادون, الإصلاحات"
    assert gone["published"] == "2024-05-11T10:00:00Z"
    assert state["last_status"] == 200 and state["etag"] is None


def _empty_sitemap() -> bytes:
    return b'<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"></urlset>'


def test_limits_each_cost_one_line_and_never_the_crawl(tmp_path: Path) -> None:
    store = tmp_path / "marsad.db"
    max_bytes = 64 * 1024
    bomb = gzip.compress(b"<urlset>" + b" " * (2 << 20) + b"</urlset>")
    big = b"<urlset>" + b"<!-- padding -->" * (max_bytes // 16 + 100) + b"</urlset>"
    with FeedServer() as server:
        children = []
        # Eleven sitemaps, the first the least recently modified: it is the one not read.
        for n in range(11):
            path = f"/limits/{n}.xml"
            children.append((path, f"2024-05-{n + 1:02d}"))
            server.serve(path, _empty_sitemap(), XML)
        server.serve("/limits/9.xml", big, XML)
        server.serve("/limits/10.xml", bomb, GZIP)
        server.serve(
            "/limits/8.xml",
            "<urlset><url><loc>{base}/news/1.html</loc></url></urlset>",
            XML,
        )
        server.serve("/news/1.html", numbered_page(1))
        index = server.serve(
            "/limits/index.xml",
            "<sitemapindex>"
            + "".join(
                f"<sitemap><loc>{{base}}{path}</loc><lastmod>{day}</lastmod></sitemap>"
                for path, day in children
            )
            + "</sitemapindex>",
            XML,
        )
        bomb_url = server.serve("/limits/bomb.xml.gz", bomb, GZIP)
        page = server.serve(
            "/site/index.html",
            '<html><head><link rel="alternate" type="application/rss+xml" '
            'href="../feeds/rss-utf8.xml"></head><body>أهلا</body></html>',
        )
        spec = {
            "store": str(store),
            "crawls": 1,
            "feeds": [
                feed("limits", index),
                feed("bomb", bomb_url),
                feed("page", page, kind="rss"),
            ],
            "crawl": {**CRAWL, "max_page_bytes": max_bytes},
            "rules": [],
        }
        (report,) = crawl_in_subprocess(spec, tmp_path)
        paths = server.paths()

    assert (report["feeds_ok"], report["feeds_failed"], report["articles_new"]) == (1, 2, 1)
    assert "/limits/0.xml" not in paths and "/limits/1.xml" in paths
    errors = report["errors"]
    skipped = [e for e in errors if e.startswith("feed 'limits'")]
    assert len(skipped) == 1 and "\n" not in skipped[0]
    line = skipped[0]
    assert f"sitemap index {server.url('/limits/index.xml')} lists more than 10 sitemaps" in line
    assert f"{server.url('/limits/10.xml')}: larger than 64 KiB once decompressed" in line
    assert f"{server.url('/limits/9.xml')}: download cancelled" in line

    db = open_store(store)
    try:
        states = {row["name"]: row for row in db.query("SELECT * FROM feeds")}
    finally:
        db.close()
    assert states["bomb"]["last_error"] == (
        f"feed 'bomb' ({bomb_url}): {bomb_url}: larger than 64 KiB once decompressed "
        "([crawl] max_page_bytes)"
    )
    assert states["page"]["last_error"] == (
        f"feed 'page' ({page}): this is a web page; it links these feeds: "
        f"{server.url('/feeds/rss-utf8.xml')}"
    )
