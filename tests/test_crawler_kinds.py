"""A new kind of source is one spider and one registry entry.

The spider below reads a site's HTML list of latest articles (a kind marsad does not ship); the
test registers it under ``latest`` in an injected registry next to the real ``rss`` spider and
crawls a loopback site where one feed of each kind is due. The runner groups the feeds by kind
and runs each kind's spider; everything else (conditional GET and body hash, following the
entries to their pages, storing, the feed's outcome, the report) is the shared machinery's.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

from marsad.crawler.feeds import FeedEntry, FeedResult
from marsad.crawler.spiders import SPIDERS
from marsad.crawler.spiders.base import FeedJob, SourceSpider
from marsad.storage.db import open_store
from tests.feedserver import LATEST, FeedServer

ROOT = Path(__file__).resolve().parents[1]


class LatestListSpider(SourceSpider):
    """A site without a feed: the links of its ``<ul class="latest">`` are the entries."""

    name = "latest"

    def read_source(self, response: Any, job: FeedJob) -> FeedResult:
        entries = tuple(
            FeedEntry(
                guid=None,
                link=urljoin(response.url, str(link.attrib["href"])),
                title=link.css("::text").get("").strip(),
                text="",
                author=None,
                published=None,
            )
            for link in response.css("ul.latest a[href]")
        )
        return FeedResult(
            title=response.css("title::text").get(""), version="latest-list", entries=entries
        )


def test_a_second_kind_is_one_spider_and_one_registry_entry(tmp_path: Path) -> None:
    store = tmp_path / "marsad.db"
    with FeedServer() as server:
        spec = {
            "store": str(store),
            "crawls": 2,
            "feeds": [
                {
                    "name": "harbour",
                    "url": server.url("/pages/latest.html"),
                    "every": 600.0,
                    "source": "harbour",
                    "kind": "latest",
                },
                {
                    "name": "sahel",
                    "url": server.url("/feeds/rss-utf8.xml"),
                    "every": 600.0,
                    "source": "sahel",
                },
            ],
            "crawl": {
                "download_timeout": 1.5,
                "delay": 0.0,
                "concurrency_per_domain": 4,
                "allow_private": ["127.0.0.0/8", "localhost"],  # the test server is on loopback
            },
            "rules": [],
            "spiders": {**SPIDERS, "latest": f"{__name__}.{LatestListSpider.__name__}"},
        }
        spec_path = tmp_path / "spec.json"
        spec_path.write_text(json.dumps(spec, ensure_ascii=False), encoding="utf-8")
        # As a module from the repository, so the crawl process can import this test's spider.
        done = subprocess.run(
            [sys.executable, "-m", "tests.crawlrun", str(spec_path)],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 0, done.stderr[-4000:]
        first, second = json.loads(done.stdout)
        paths = server.paths()

    # Both kinds crawled in one call: the list's two pages and the feed's three entries.
    assert (first["feeds_ok"], first["feeds_failed"], first["feeds_unchanged"]) == (2, 0, 0)
    assert first["articles_new"] == 2 + 3
    # The second crawl finds the list unchanged by its body hash (it sends no validators).
    assert (second["feeds_ok"], second["feeds_unchanged"], second["articles_new"]) == (0, 2, 0)
    assert paths.count("/pages/latest.html") == 2
    assert paths.count("/articles/container-ship.html") == 1

    db = open_store(store)
    try:
        harbour = next(db.query("SELECT * FROM feeds WHERE name = 'harbour'"))
        assert harbour["last_status"] == 200 and harbour["items_total"] == len(LATEST)
        rows = list(
            db.query(
                "SELECT a.url, a.title, a.text, a.extraction FROM articles a "
                "JOIN feeds f ON f.id = a.feed_id WHERE f.name = 'harbour' ORDER BY a.url"
            )
        )
    finally:
        db.close()
    assert [row["url"] for row in rows] == [
        server.url("/articles/container-ship.html"),
        server.url("/articles/mountain-rain.html"),
    ]
    assert all(row["extraction"] == "page" for row in rows)
    assert rows[0]["title"] == LATEST[0][1]
    assert "محملة بمواد بناء وأجهزة طبية" in rows[0]["text"]
