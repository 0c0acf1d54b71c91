"""Finding a site's feeds (marsad.crawler.discovery) and `marsad feeds discover` / `feeds add` of a
site's page, on pages written for these tests and served on loopback: <link rel="alternate">
RSS, Atom and JSON Feed with relative hrefs, the usual paths, robots.txt's sitemaps."""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib
from pathlib import Path

from marsad.crawler.discovery import (
    FeedLink,
    Fetched,
    Found,
    classify,
    common_paths,
    discover,
    feed_links,
    looks_like_web_page,
    sitemaps_in_robots,
    web_page_message,
)
from tests.feedserver import FeedServer

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "sources"
MARSAD = [sys.executable, "-c", "from marsad.cli import main; main()"]
PAGE = """<!DOCTYPE html>
<html lang="ar" dir="rtl"><head><meta charset="utf-8"><title>صحيفة الساحل</title>
<base href="/ar/">
<link rel="stylesheet" href="/style.css">
<link rel="alternate" type="application/rss+xml" title="الأخبار" href="../feeds/rss-utf8.xml">
<link rel="Alternate" type="application/atom+xml; charset=utf-8" href="atom.xml">
<link rel="alternate" type="application/feed+json" title="JSON" href="/feed.json">
<link rel="alternate" type="application/json" href="/wp-json/wp/v2/pages/7">
<link rel="alternate" hreflang="en" href="/en/">
<link rel="alternate" type="application/rss+xml" href="javascript:alert(1)">
</head><body>
<a href="/ar/rss">خلاصة RSS</a> <a href="/ar/about.html">من نحن</a>
<a href="../feeds/rss-utf8.xml">مكرر</a>
</body></html>"""
ROBOTS = "User-agent: *\nDisallow: /private/\nSitemap: /sitemaps/news.xml # the news\n"
NEWS_SITEMAP = (
    '<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9" '
    'xmlns:news="http://www.google.com/schemas/sitemap-news/0.9">'
    "<url><loc>{base}/news/1.html</loc><news:news><news:title>خبر</news:title>"
    "<news:publication_date>2024-05-12</news:publication_date></news:news></url></urlset>"
)


def marsad(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*MARSAD, *args], capture_output=True, text=True, cwd=cwd, timeout=60, check=False
    )


def loopback_config(folder: Path) -> Path:
    config = folder / "marsad.toml"
    # The test server is on loopback, which marsad fetches only when told it may.
    config.write_text('[crawl]\nallow_private = ["127.0.0.0/8"]\n', encoding="utf-8")
    return config


def test_feed_links_of_a_page() -> None:
    links = feed_links(PAGE.encode(), "http://site.example/section/page.html")
    assert links == (
        FeedLink("http://site.example/feeds/rss-utf8.xml", "RSS", "الأخبار", "link"),
        FeedLink("http://site.example/ar/atom.xml", "Atom", "", "link"),
        FeedLink("http://site.example/feed.json", "JSON Feed", "JSON", "link"),
        FeedLink("http://site.example/ar/rss", "", "خلاصة RSS", "anchor"),
    )
    assert feed_links(b"", "http://site.example/") == ()
    assert web_page_message(links) == (
        "this is a web page; it links these feeds: http://site.example/feeds/rss-utf8.xml, "
        "http://site.example/ar/atom.xml, http://site.example/feed.json"
    )
    assert web_page_message([]).startswith("this is a web page and it links no feed")


def test_usual_places_and_robots_sitemaps() -> None:
    assert common_paths("https://site.example/a/b?c=1")[:3] == (
        "https://site.example/feed",
        "https://site.example/rss",
        "https://site.example/rss.xml",
    )
    assert sitemaps_in_robots(
        ROBOTS + "sitemap: https://cdn.example/s.xml.gz\n", "https://site.example/robots.txt"
    ) == (
        "https://site.example/sitemaps/news.xml",
        "https://cdn.example/s.xml.gz",
    )


def test_classify_says_what_a_document_is() -> None:
    rss = (Path(__file__).parent / "fixtures" / "crawl" / "rss-utf8.xml").read_bytes()
    # A feed its server calls text/html is still a feed.
    found = classify(Fetched("http://a.example/f", 200, "text/html", rss), max_bytes=1 << 20)
    assert (found.kind, found.format, found.title, found.entries) == (
        "rss",
        "RSS 2.0",
        "أخبار الساحل",
        3,
    )
    assert found.describe() == 'RSS 2.0 feed "أخبار الساحل", 3 entries'
    page = classify(
        Fetched("http://a.example/", 200, "text/html", PAGE.encode()), max_bytes=1 << 20
    )
    assert (page.kind, page.describe()) == (None, "a web page")
    gone = classify(Fetched("http://a.example/x", 404, "text/html", b"no"), max_bytes=1 << 20)
    assert gone.describe() == "HTTP 404"
    assert classify(Fetched("http://a.example/x", error="timed out"), max_bytes=1).describe() == (
        "cannot fetch it: timed out"
    )
    assert looks_like_web_page(b"  <!DOCTYPE HTML><p>x") and not looks_like_web_page(
        rss, "text/html"
    )


def test_discover_over_any_fetch() -> None:
    served = {
        "http://a.example/": Fetched(
            "http://a.example/", 200, "text/html", b"<html><body>x</body></html>"
        ),
        "http://a.example/rss.xml": Fetched(
            "http://a.example/rss.xml",
            200,
            "application/xml",
            (Path(__file__).parent / "fixtures" / "crawl" / "rss-utf8.xml").read_bytes(),
        ),
    }
    asked: list[str] = []

    def fetch(url: str) -> Fetched:
        asked.append(url)
        return served.get(url, Fetched(url, 404))

    found = discover("http://a.example/", fetch, max_bytes=1 << 20)
    assert [(f.url, f.how) for f in found.feeds] == [("http://a.example/rss.xml", "common path")]
    assert asked[:2] == ["http://a.example/", "http://a.example/robots.txt"]
    assert len(asked) == 2 + 7  # the page, robots.txt and each usual place once


def test_cli_discover_a_page_that_links_its_feeds(tmp_path: Path) -> None:
    loopback_config(tmp_path)
    with FeedServer() as server:
        page = server.serve("/section/page.html", PAGE)
        server.serve("/robots.txt", ROBOTS, "text/plain")
        server.serve("/sitemaps/news.xml", NEWS_SITEMAP, "application/xml")
        server.serve(
            "/ar/atom.xml",
            (FIXTURES.parent / "crawl" / "atom-cp1256.xml")
            .read_text(encoding="utf-8")
            .replace("{extra}", "")
            .encode("cp1256"),
            "application/atom+xml",
        )
        server.serve(
            "/feed.json",
            '{"version": "https://jsonfeed.org/version/1.1", "title": "JSON", "items": []}',
            "application/feed+json",
        )
        done = marsad("feeds", "discover", page, cwd=tmp_path)
        as_json = marsad("--json", "feeds", "discover", page, cwd=tmp_path)
        base = server.base
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        f"{page} is a web page; it links these feeds:",
        f'  {base}/feeds/rss-utf8.xml  RSS 2.0 feed "أخبار الساحل", 3 entries',
        f'  {base}/ar/atom.xml  Atom 1.0 feed "صحيفة الجبل", 3 entries',
        f'  {base}/feed.json  JSON Feed 1.1 "JSON", 0 entries',
        "found elsewhere on the site:",
        f"  {base}/sitemaps/news.xml  news sitemap, 1 URL (named in robots.txt)",
        f"nothing at: {base}/ar/rss",
        f"follow one: marsad feeds add {base}/feeds/rss-utf8.xml",
    ]
    report = json.loads(as_json.stdout)
    assert report["is"]["format"] == "web page"
    assert [(f["url"], f["kind"], f["how"]) for f in report["feeds"]] == [
        (f"{base}/feeds/rss-utf8.xml", "rss", "link"),
        (f"{base}/ar/atom.xml", "rss", "link"),
        (f"{base}/feed.json", "rss", "link"),
        (f"{base}/sitemaps/news.xml", "sitemap", "robots.txt"),
    ]


def test_cli_add_of_a_page_adds_its_one_feed(tmp_path: Path) -> None:
    config = loopback_config(tmp_path)
    with FeedServer() as server:
        one = server.serve(
            "/one.html",
            '<html><head><link rel="alternate" type="application/rss+xml" '
            'href="feeds/rss-utf8.xml"></head><body>x</body></html>',
        )
        none = server.serve("/none.html", "<html><head></head><body>لا خلاصات</body></html>")
        server.serve(
            "/feed",
            (FIXTURES.parent / "crawl" / "rss-utf8.xml").read_text(encoding="utf-8"),
            "text/html",
        )
        server.serve(
            "/rss",
            (FIXTURES.parent / "crawl" / "rss-utf8.xml")
            .read_text(encoding="utf-8")
            .replace("<title>أخبار الساحل", "<title>نسخة"),
            "application/rss+xml",
        )
        added = marsad("feeds", "add", one, "--every", "5m", cwd=tmp_path)
        several = marsad("feeds", "add", none, cwd=tmp_path)
        base = server.base
        feeds_before = config.read_bytes()
        sitemap = server.serve("/sitemaps/news.xml", NEWS_SITEMAP, "application/xml")
        wrong_kind = marsad("feeds", "add", sitemap, "--kind", "rss", "--name", "x", cwd=tmp_path)
        as_sitemap = marsad("feeds", "add", sitemap, "--name", "news-map", cwd=tmp_path)
        again = marsad("feeds", "add", sitemap, cwd=tmp_path)
    assert added.returncode == 0, added.stderr
    assert added.stdout.splitlines()[:2] == [
        f'{one} is a web page; found {base}/feeds/rss-utf8.xml (<link rel="alternate">):',
        '  RSS 2.0 feed "أخبار الساحل", 3 entries',
    ]
    # Two feeds at the usual places: listed to choose from, nothing added.
    assert several.returncode == 1
    assert f"  {base}/feed  RSS 2.0 feed" in several.stderr
    assert several.stderr.splitlines()[-1] == (
        f"marsad: {none} has 2 feeds: add the one you want by its URL"
    )
    assert as_sitemap.returncode == 0, as_sitemap.stderr
    assert wrong_kind.returncode == 1
    assert wrong_kind.stderr == (
        f"marsad: {sitemap}: news sitemap, 1 URL: read by kind 'sitemap', not 'rss'\n"
    )
    assert (again.returncode, again.stderr) == (
        1,
        f"marsad: {sitemap} is already followed, as 'news-map'\n",
    )
    feeds = tomllib.loads(config.read_text(encoding="utf-8"))["feeds"]
    assert feeds == [
        {"name": "أخبار الساحل", "url": f"{base}/feeds/rss-utf8.xml", "every": "5m"},
        {"name": "news-map", "url": sitemap, "kind": "sitemap"},
    ]
    assert config.read_bytes().startswith(feeds_before)


def test_cli_refuses_what_the_crawler_may_not_fetch(tmp_path: Path) -> None:
    with FeedServer() as server:  # no allow_private: loopback is refused, as by the crawler
        done = marsad("feeds", "add", server.url("/feeds/rss-utf8.xml"), cwd=tmp_path)
        assert server.paths() == []
    assert done.returncode == 1
    assert done.stderr == (
        f"marsad: {server.url('/feeds/rss-utf8.xml')}: cannot fetch it: 127.0.0.1 is a loopback "
        "address; marsad fetches only public addresses unless [crawl] allow_private lists it "
        "(`--no-fetch` adds it anyway)\n"
    )
    assert not (tmp_path / "marsad.toml").exists()


def test_found_describe_units() -> None:
    assert (
        Found("u", "sitemap", "sitemap index", entries=2).describe() == "sitemap index, 2 sitemaps"
    )
