"""JSON Feed (https://www.jsonfeed.org/version/1.1/) sources end to end: a JSON Feed written for
these tests (its Arabic text too) read into entries on literals, crawled by ``marsad crawl``
from a loopback server into stored articles through the same path as RSS and Atom, found by
``marsad feeds discover`` on a page that announces it and recognised as a feed by ``marsad
feeds add``; a malformed one fails in one line naming the feed and what is wrong, and the
other feeds still store."""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from click.testing import CliRunner

from marsad.cli import cli
from marsad.crawler.discovery import Fetched, classify
from marsad.crawler.feeds import FeedEntry, parse_feed
from marsad.storage.db import open_store
from tests.feedserver import FeedServer

MARSAD = [sys.executable, "-c", "from marsad.cli import main; main()"]
WELL_TEXT = (
    "افتتحت بلدية الواحة صباح اليوم بئرا جديدة للمياه العذبة في الحي الشرقي بعد أشهر من الحفر",
    "وقال رئيس البلدية إن البئر ستسد حاجة ثلاثة آلاف أسرة وتخفف الضغط عن الخزان القديم",
)
FEED = {
    "version": "https://jsonfeed.org/version/1.1",
    "title": "نشرة الواحة",
    "home_page_url": "{base}/",
    "feed_url": "{base}/feed.json",
    "language": "ar",
    "items": [
        {
            "id": "oasis-1",
            "url": "{base}/news/well.html",
            "title": "افتتاح بئر جديدة في الواحة",
            "content_html": f"<p>{WELL_TEXT[0]}.</p><p>{WELL_TEXT[1]}.</p>",
            "date_published": "2024-05-12T09:30:00+03:00",
            "authors": [{"name": "سلمى الراشد"}, {"name": "مكتب الواحة"}],
        },
        {
            # A number as id (the spec asks readers to take it as a string); its page is gone.
            "id": 2,
            "url": "/news/market.html",
            "title": "سوق التمور يفتح أبوابه",
            "content_text": "افتتح سوق التمور الموسمي أبوابه أمام المزارعين والتجار.\n"
            "ويستمر السوق حتى نهاية الشهر.",
            "date_published": "2024-05-12T08:00:00Z",
            "author": {"name": "خالد"},  # JSON Feed 1.0's author
            "language": "ar-SA",
        },
        {
            # No url: filed under the feed's address, as an RSS entry without a link.
            "id": "oasis-3",
            "title": "بيان البلدية",
            "summary": "بيان قصير",
            "content_text": "تعلن البلدية إغلاق الطريق الشمالي يوم الجمعة للصيانة.",
            "date_modified": "2024-05-11T20:00:00+03:00",
        },
    ],
}
WELL_PAGE = f"""<!DOCTYPE html>
<html lang="ar" dir="rtl"><head><meta charset="utf-8"><title>بئر الواحة | نشرة الواحة</title>
</head><body><header><nav><a href="/">الرئيسية</a></nav></header>
<article><h1>افتتاح بئر جديدة في الواحة</h1>
<p>{WELL_TEXT[0]}، وسط حضور كبير من سكان الحي الذين انتظروا هذا اليوم طويلا.</p>
<p>{WELL_TEXT[1]}، مشيرا إلى أن أعمال الصيانة ستبدأ الشهر المقبل.</p>
<p>وأضاف أن البلدية تخطط لحفر بئرين آخرين قبل نهاية العام إذا سمحت الميزانية بذلك.</p>
</article><footer>جميع الحقوق محفوظة</footer></body></html>"""
# A trailing comma: not JSON at all.
BROKEN = '{"version": "https://jsonfeed.org/version/1.1", "title": "خلل", "items": [{"id": "1",}]}'


def feed_json(base: str) -> str:
    return json.dumps(FEED, ensure_ascii=False).replace("{base}", base)


def test_a_json_feed_is_read_into_entries() -> None:
    body = feed_json("http://oasis.example").encode()
    result = parse_feed(body, "http://oasis.example/feed.json", content_type="application/json")
    assert (result.title, result.version, result.bozo, result.is_feed) == (
        "نشرة الواحة",
        "json11",
        False,
        True,
    )
    assert result.entries == (
        FeedEntry(
            guid="oasis-1",
            link="http://oasis.example/news/well.html",
            title="افتتاح بئر جديدة في الواحة",
            text=f"{WELL_TEXT[0]}.\n{WELL_TEXT[1]}.",
            author="سلمى الراشد, مكتب الواحة",
            published="2024-05-12T06:30:00Z",
            language="ar",
        ),
        FeedEntry(
            guid="2",
            link="http://oasis.example/news/market.html",
            title="سوق التمور يفتح أبوابه",
            text="افتتح سوق التمور الموسمي أبوابه أمام المزارعين والتجار.\n"
            "ويستمر السوق حتى نهاية الشهر.",
            author="خالد",
            published="2024-05-12T08:00:00Z",
            language="ar-SA",
        ),
        FeedEntry(
            guid="oasis-3",
            link=None,
            title="بيان البلدية",
            text="تعلن البلدية إغلاق الطريق الشمالي يوم الجمعة للصيانة.",
            author=None,
            published="2024-05-11T17:00:00Z",
            language="ar",
        ),
    )


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (BROKEN, "not valid JSON: Expecting property name enclosed in double quotes (line 1, "
         "column 86)"),
        ('{"title": "x", "items": []}', 'JSON, but not a JSON Feed: no "version" naming '
         "https://jsonfeed.org/version/"),
        ("[1, 2]", "JSON, but not a JSON Feed: an array, not an object"),
        (b"{\xff}", "not valid JSON: not UTF-8 (byte 1)"),
    ],
)  # fmt: skip
def test_a_json_document_that_is_no_json_feed_says_why(body: str | bytes, message: str) -> None:
    raw = body.encode() if isinstance(body, str) else body
    result = parse_feed(raw, "http://oasis.example/f.json", content_type="application/json")
    assert (result.is_feed, result.entries, result.bozo_message) == (False, (), message)


def test_items_that_are_not_objects_cost_only_themselves() -> None:
    document = {
        "version": "https://jsonfeed.org/version/1",
        "title": "قديم",
        "items": [{"id": "a", "content_text": "نص أول"}, "نص", {"id": "b", "content_html": 7}],
    }
    result = parse_feed(json.dumps(document).encode(), "http://o.example/f.json")
    assert result.version == "json10"
    assert [(e.guid, e.text) for e in result.entries] == [("a", "نص أول"), ("b", "")]
    assert result.unusable == ("entry 2: not an object: 'نص'",)


@pytest.mark.slow
def test_marsad_crawl_stores_a_json_feed_and_a_broken_one_fails_alone(tmp_path: Path) -> None:
    with FeedServer() as server:
        good = server.serve("/feed.json", feed_json(server.base), "application/feed+json")
        server.serve("/news/well.html", WELL_PAGE)
        broken = server.serve("/broken.json", BROKEN, "application/json")
        config = tmp_path / "marsad.toml"
        config.write_text(
            '[store]\npath = "store.db"\n\n[crawl]\ndelay = 0\ndownload_timeout = "3s"\n'
            'workers = 0\nallow_private = ["127.0.0.0/8"]\n\n'
            f'[[feeds]]\nname = "oasis"\nurl = "{good}"\nsource = "نشرة الواحة"\n\n'
            f'[[feeds]]\nname = "broken"\nurl = "{broken}"\n',
            encoding="utf-8",
        )
        done = subprocess.run(
            [*MARSAD, "crawl", "--config", str(config), "--json"],
            capture_output=True,
            text=True,
            timeout=60,
        )
        base = server.base
    assert done.returncode == 3, done.stderr[-3000:]  # partial: one feed failed
    report = json.loads(done.stdout)
    assert (report["feeds_ok"], report["feeds_failed"], report["articles_new"]) == (1, 1, 3)
    failed = [line for line in done.stderr.splitlines() if "'broken'" in line]
    assert len(failed) == 1, done.stderr[-3000:]
    assert (
        f"feed 'broken' ({broken}): not a feed (not valid JSON: Expecting property name "
        "enclosed in double quotes (line 1, column 86)); failure 1 in a row" in failed[0]
    )

    db = open_store(tmp_path / "store.db")
    rows = {
        row["guid"]: row
        for row in db.query(
            "SELECT guid, url, source, title, text, author, published, extraction FROM articles"
        )
    }
    db.close()
    assert set(rows) == {"oasis-1", "2", "oasis-3"}
    well = rows["oasis-1"]
    assert (well["url"], well["source"], well["extraction"]) == (
        f"{base}/news/well.html",
        "نشرة الواحة",
        "page",
    )
    assert well["title"] == "افتتاح بئر جديدة في الواحة"  # the feed's title wins
    assert "تخطط لحفر بئرين آخرين" in well["text"]  # the page's text
    assert (well["author"], well["published"]) == (
        "سلمى الراشد, مكتب الواحة",
        "2024-05-12T06:30:00Z",
    )
    market = rows["2"]  # its page is gone (404): the feed's text is kept
    assert (market["extraction"], market["author"]) == ("feed", "خالد")
    assert market["text"].startswith("افتتح سوق التمور الموسمي")
    notice = rows["oasis-3"]
    assert notice["url"].startswith(f"{good}#entry-") and notice["extraction"] == "feed"


def test_discovery_finds_a_json_feed_and_feeds_add_takes_it(tmp_path: Path) -> None:
    config = tmp_path / "marsad.toml"
    config.write_text('[crawl]\nallow_private = ["127.0.0.0/8"]\n', encoding="utf-8")
    at = ["--config", str(config)]
    with FeedServer() as server:
        feed = server.serve("/feed.json", feed_json(server.base), "application/feed+json")
        page = server.serve(
            "/index.html",
            '<html lang="ar"><head><title>الواحة</title><link rel="alternate" '
            'type="application/feed+json" title="نشرة الواحة" href="feed.json"></head>'
            "<body>أخبار الواحة</body></html>",
        )
        discovered = subprocess.run(
            [*MARSAD, "feeds", "discover", page],
            capture_output=True,
            text=True,
            cwd=tmp_path,
            timeout=60,
        )
        # In this process (the command's own code, without a fresh interpreter's seconds).
        added = CliRunner().invoke(cli, ["feeds", "add", feed, "--name", "oasis", *at])
        again = CliRunner().invoke(cli, ["feeds", "add", page, "--name", "page", *at])
    assert discovered.returncode == 0, discovered.stderr
    assert discovered.stdout.splitlines() == [
        f"{page} is a web page; it links these feeds:",
        f'  {feed}  JSON Feed 1.1 "نشرة الواحة", 3 entries',
        f"follow one: marsad feeds add {feed}",
    ]
    assert added.exit_code == 0, added.output
    assert added.stdout.splitlines()[0] == (
        f"added feed 'oasis' (rss, every 10m): {feed} → {config}"
    )
    feeds = tomllib.loads(config.read_text(encoding="utf-8"))["feeds"]
    assert [(f["name"], f["url"]) for f in feeds] == [("oasis", feed)]
    # The page's one feed is that one: added already.
    assert again.exit_code != 0
    assert f"{feed} is already followed, as 'oasis'" in again.stderr


def test_classify_a_json_feed() -> None:
    body = feed_json("http://oasis.example").encode()
    found = classify(
        Fetched("http://oasis.example/feed.json", 200, "application/feed+json", body),
        max_bytes=1 << 20,
    )
    assert (found.kind, found.format, found.title, found.entries, found.problem) == (
        "rss",
        "JSON Feed 1.1",
        "نشرة الواحة",
        3,
        None,
    )
    broken = classify(
        Fetched("http://oasis.example/b.json", 200, "application/json", BROKEN.encode()),
        max_bytes=1 << 20,
    )
    assert (broken.kind, broken.describe()) == (
        None,
        "JSON: not valid JSON: Expecting property name enclosed in double quotes "
        "(line 1, column 86)",
    )
    # Its server says it is a JSON Feed: discovery lists it among the feeds found, unreadable.
    announced = classify(
        Fetched("http://oasis.example/b.json", 200, "application/feed+json", BROKEN.encode()),
        max_bytes=1 << 20,
    )
    assert announced.describe().startswith("JSON Feed: not valid JSON: Expecting property")
