"""OPML in and out (marsad.opml) and `marsad feeds import` / `feeds export`: lists in the shapes
Miniflux and FreshRSS export (fixtures written for these tests) become [[feeds]], marsad's export
is read back by listparser, and marsad → OPML → marsad loses nothing."""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib
from datetime import UTC, datetime
from pathlib import Path

import listparser
import pytest

from marsad.crawler.config import FeedConfig
from marsad.opml import MARSAD_NS, OpmlError, OpmlFeed, feeds_to_add, read_opml, write_opml

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "sources"
MARSAD = [sys.executable, "-c", "from marsad.cli import main; main()"]
MINIFLUX_FEEDS = [
    ("وكالة الأنباء الساحلية", "https://sahel-news.example/rss.xml"),
    ("جريدة المدينة", "https://madina.example/feed/atom"),
    ("Harbour Sport", "https://harbour.example/sport/rss"),
    ("Mountain Weekly & Co", "https://mountain.example/index.xml?lang=ar&n=50"),
]
FRESHRSS_FEEDS = [
    ("مرصد الجبال", "https://mountain-watch.example/feed.xml"),
    ("Port Authority News", "https://port.example/news.atom"),
    ("صوت الواحة", "https://oasis-voice.example/ar/rss"),
]


def marsad(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*MARSAD, *args], capture_output=True, text=True, cwd=cwd, timeout=60, check=False
    )


def test_miniflux_export_is_read_with_its_folders() -> None:
    listing = read_opml((FIXTURES / "miniflux-export.opml").read_bytes())
    assert listing.title == "Miniflux"
    assert [(f.title, f.url) for f in listing.feeds] == MINIFLUX_FEEDS
    # Listed in two folders, it is one feed.
    assert listing.feeds[0].folders == ("أخبار", "Sport")
    assert listing.skipped == ()


def test_freshrss_export_leaves_out_what_is_no_feed() -> None:
    listing = read_opml((FIXTURES / "freshrss-export.opml").read_bytes())
    assert [(f.title, f.url) for f in listing.feeds] == FRESHRSS_FEEDS
    assert listing.skipped == (
        "https://market.example/latest.html: a web page scraped with XPath (HTML+XPath), "
        "not a feed",
        "file:///home/someone/feed.xml: not an http(s) URL",
    )


@pytest.mark.parametrize("body", [b"", b"<html><body>hi</body></html>", b'{"a": 1}'])
def test_not_opml(body: bytes) -> None:
    with pytest.raises(OpmlError, match="not an OPML file"):
        read_opml(body)


def test_export_is_opml2_that_listparser_reads() -> None:
    feeds = [
        FeedConfig("الساحل", "https://sahel-news.example/rss.xml", 300.0, "الساحل"),
        FeedConfig("news-map", "https://sahel-news.example/news.xml", 600.0, "الساحل", "sitemap"),
    ]
    document = write_opml(feeds, now=datetime(2024, 5, 12, 9, tzinfo=UTC))
    assert document.startswith(b"<?xml version='1.0' encoding='UTF-8'?>\n<opml ")
    assert b"<dateCreated>Sun, 12 May 2024 09:00:00 GMT</dateCreated>" in document
    parsed = listparser.parse(document)
    assert parsed.version == "opml2" and not parsed.bozo
    assert [(f.title, f.url) for f in parsed.feeds] == [(f.name, f.url) for f in feeds]
    listing = read_opml(document)
    assert listing.feeds == (
        OpmlFeed("https://sahel-news.example/rss.xml", "الساحل", every="5m"),
        OpmlFeed(
            "https://sahel-news.example/news.xml",
            "news-map",
            every="10m",
            kind="sitemap",
            source="الساحل",
        ),
    )
    assert MARSAD_NS.encode() in document


def test_feeds_to_add_names_them_and_skips_what_is_followed() -> None:
    listed = [
        OpmlFeed("https://a.example/rss", "Alpha"),
        OpmlFeed("https://b.example/rss", "Alpha"),
        OpmlFeed("https://c.example/rss", "", every="1h"),
    ]
    new, already = feeds_to_add(
        listed, [{"name": "old", "url": "https://A.example/rss#x"}], every="15m"
    )
    assert [(f.name, f.url, f.every) for f in new] == [
        ("Alpha", "https://b.example/rss", "15m"),
        ("c.example", "https://c.example/rss", "1h"),
    ]
    assert already == ["https://a.example/rss: already followed, as 'old'"]


def test_round_trip_through_the_command_line(tmp_path: Path) -> None:
    first = tmp_path / "first"
    first.mkdir()
    (first / "marsad.toml").write_text("# ours\n[store]\npath = 'one.db'\n", encoding="utf-8")
    for name in ("miniflux-export.opml", "freshrss-export.opml"):
        done = marsad("feeds", "import", str(FIXTURES / name), "--every", "15m", cwd=first)
        assert done.returncode == 0, done.stderr
    (first / "marsad.toml").write_text(
        (first / "marsad.toml")
        .read_text(encoding="utf-8")
        .replace(
            'url = "https://port.example/news.atom"\nevery = "15m"',
            'url = "https://port.example/news.atom"\nevery = "1h"\nkind = "sitemap"\n'
            'source = "Port Authority"',
        ),
        encoding="utf-8",
    )
    imported = tomllib.loads((first / "marsad.toml").read_text(encoding="utf-8"))
    assert imported["store"] == {"path": "one.db"}
    assert [(f["name"], f["url"]) for f in imported["feeds"]] == MINIFLUX_FEEDS + FRESHRSS_FEEDS
    # Imported again: all already followed, nothing changes.
    before = (first / "marsad.toml").read_bytes()
    again = marsad("--json", "feeds", "import", str(FIXTURES / "miniflux-export.opml"), cwd=first)
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["added"] == []
    assert len(json.loads(again.stdout)["already"]) == 4
    assert (first / "marsad.toml").read_bytes() == before

    exported = marsad("feeds", "export", "-o", str(tmp_path / "marsad.opml"), cwd=first)
    assert exported.returncode == 0, exported.stderr
    second = tmp_path / "second"
    second.mkdir()  # no config yet: the import creates it
    done = marsad("feeds", "import", str(tmp_path / "marsad.opml"), cwd=second)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"imported 7 feeds from {tmp_path / 'marsad.opml'} into ")
    # The same [[feeds]], to the last key: names, URLs, how often, kinds, outlets.
    tables = [
        tomllib.loads((where / "marsad.toml").read_text(encoding="utf-8"))["feeds"]
        for where in (first, second)
    ]
    assert tables[0] == tables[1]
    port = next(f for f in tables[1] if f["name"] == "Port Authority News")
    assert (port["every"], port["kind"], port["source"]) == ("1h", "sitemap", "Port Authority")
