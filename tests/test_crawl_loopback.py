"""End to end over loopback: real crawls of tests/feedserver.py into a real store.

Crawls run in a subprocess (tests/crawlrun.py) the way the daemon runs them: asyncio reactor
installed first, one long-lived runner, ``crawl_feeds`` awaited again and again on it.

Run 1 does two crawls in a row on one runner; then the Atom feed gains an entry and run 2 does
one more crawl in a fresh process.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlite_utils import Database

from marsad.storage.db import open_store
from tests.feedserver import FeedServer

CRAWLRUN = Path(__file__).resolve().parent / "crawlrun.py"
FIXTURES = Path(__file__).resolve().parent / "fixtures" / "crawl"
# Small limits keep the test fast: the hanging page costs one download timeout.
CRAWL = {
    "download_timeout": 1.5,
    "delay": 0.0,
    "max_page_bytes": 300_000,
    "concurrency_per_domain": 4,
    "max_backoff": 3600.0,
    "allow_private": ["127.0.0.0/8", "localhost"],  # the test servers are on loopback
}
RULES = [{"name": "bridge", "keywords": ["جسر"], "channels": ["webhook"]}]


@dataclass
class Scenario:
    server: FeedServer
    busy_server: FeedServer
    store: Path
    run1: list[dict[str, Any]]
    run1_paths: list[str]
    run2: list[dict[str, Any]]
    run2_paths: list[str]
    started: datetime

    def db(self) -> Database:
        return open_store(self.store)


def _crawl(spec: dict[str, Any], tmp: Path) -> list[dict[str, Any]]:
    spec_path = tmp / "spec.json"
    spec_path.write_text(json.dumps(spec, ensure_ascii=False), encoding="utf-8")
    done = subprocess.run(
        [sys.executable, str(CRAWLRUN), str(spec_path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    reports: list[dict[str, Any]] = json.loads(done.stdout)
    return reports


@pytest.fixture(scope="module")
def scenario(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Scenario]:
    tmp = tmp_path_factory.mktemp("crawl")
    # The 503 + Retry-After feed lives on a host of its own: the crawler stops sending anything
    # to a host that asked it to wait, and the other routes must still be reached.
    with FeedServer() as server, FeedServer() as busy:
        feeds = [
            ("sahel", server.url("/feeds/rss-utf8.xml")),
            ("jabal", server.url("/feeds/atom-cp1256.xml")),
            ("mirror", server.url("/feeds/broken.xml")),
            ("down", server.url("/feeds/error.xml")),
            ("busy", busy.url("/feeds/busy.xml")),
        ]
        spec: dict[str, Any] = {
            "store": str(tmp / "marsad.db"),
            "crawls": 2,
            "feeds": [{"name": n, "url": u, "every": 600.0, "source": n} for n, u in feeds],
            "crawl": CRAWL,
            "rules": RULES,
        }
        started = datetime.now(UTC).replace(microsecond=0)
        run1 = _crawl(spec, tmp)
        run1_paths = server.paths()
        server.clear_log()
        server.generation = 2
        run2 = _crawl({**spec, "crawls": 1}, tmp)
        yield Scenario(
            server, busy, Path(spec["store"]), run1, run1_paths, run2, server.paths(), started
        )


def _article(db: Database, path: str) -> dict[str, Any]:
    rows = list(db.query("SELECT * FROM articles WHERE url LIKE ?", [f"%{path}%"]))
    assert len(rows) == 1, f"{path}: {len(rows)} rows"
    return rows[0]


def test_first_crawl_report(scenario: Scenario) -> None:
    first = scenario.run1[0]
    assert (first["feeds_ok"], first["feeds_failed"], first["feeds_unchanged"]) == (3, 2, 0)
    assert first["feeds_skipped_backoff"] == 0
    # Six articles of their own; the mirror's page is the bridge article under another URL.
    assert (first["articles_new"], first["articles_copy"], first["articles_known"]) == (6, 1, 0)
    assert first["alerts_queued"] == 1  # one story matches the rule, whatever its copies


def test_every_problem_is_reported_with_feed_and_url(scenario: Scenario) -> None:
    errors: list[str] = scenario.run1[0]["errors"]
    base = scenario.server.base

    def one(*parts: str) -> str:
        found = [e for e in errors if all(p in e for p in parts)]
        assert len(found) == 1, f"{parts} in {errors}"
        return found[0]

    one("'mirror'", f"{base}/feeds/broken.xml", "malformed", "2 entries")
    # The second entry recovered is cut off before anything of it: said, not dropped in silence.
    one("'mirror'", "entry skipped", "an entry with nothing to store")
    one("'down'", f"{base}/feeds/error.xml", "HTTP 500")
    one("'busy'", scenario.busy_server.url("/feeds/busy.xml"), "HTTP 503", "Retry-After: 120")
    one("'sahel'", f"{base}/articles/slow.html", "timed out")
    one("'sahel'", f"{base}/private/fish-prices.html", "robots.txt")
    one("'jabal'", f"{base}/articles/huge.html", "max size")
    assert len(errors) == 7


def test_pages_land_in_the_store_with_the_right_arabic_text(scenario: Scenario) -> None:
    db = scenario.db()
    bridge = _article(db, "/articles/bridge.html")
    assert bridge["extraction"] == "page"
    assert bridge["canonical_url"] == scenario.server.url("/articles/bridge.html")
    assert "أربعين دقيقة إلى عشر دقائق" in bridge["text"]
    assert "جميع الحقوق محفوظة" not in bridge["text"]
    assert bridge["title"] == "افتتاح جسر الميناء الجديد في مدينة الساحل"
    assert bridge["guid"] == "sahel-2024-0512-bridge"
    assert bridge["published"] == "2024-05-12T06:30:00Z"
    assert bridge["language"] == "ar"
    # windows-1256 and ISO-8859-6 pages with no charset anywhere, in an Atom feed in windows-1256.
    fair = _article(db, "/articles/book-fair.html")
    assert fair["extraction"] == "page"
    assert "بمشاركة مئة وعشرين دار نشر من بلدان عربية مختلفة" in fair["text"]
    assert fair["author"] == "كريم العلي"
    assert fair["published"] == "2024-05-13T04:00:00Z"
    rain = _article(db, "/articles/mountain-rain.html")
    assert "وجرفت أجزاء من الأسفلت في المنعطفات الضيقة" in rain["text"]
    copy = _article(db, "/copies/bridge.html")
    assert copy["duplicate_of"] == bridge["id"]


def test_failed_pages_keep_the_feed_text(scenario: Scenario) -> None:
    db = scenario.db()
    expected = {
        "/articles/slow.html": "أعلنت البلدية جدولا لصيانة شبكة المياه",
        "/private/fish-prices.html": "ارتفعت أسعار السمك في سوق الميناء",
        "/articles/huge.html": "توقع المزارعون موسما وفيرا للزيتون",
    }
    for path, text in expected.items():
        row = _article(db, path)
        assert row["extraction"] == "feed", path
        assert text in row["text"], path


def test_robots_txt_is_obeyed(scenario: Scenario) -> None:
    assert "/robots.txt" in scenario.run1_paths
    assert not any(p.startswith("/private/") for p in scenario.run1_paths + scenario.run2_paths)


def test_failing_feeds_back_off(scenario: Scenario) -> None:
    db = scenario.db()
    feeds = {row["name"]: row for row in db.query("SELECT * FROM feeds")}
    for name in ("down", "busy"):
        assert feeds[name]["consecutive_failures"] == 1, name
        assert feeds[name]["backoff_until"] is not None, name
        assert name in feeds[name]["last_error"]
    down_wait = datetime.fromisoformat(feeds["down"]["backoff_until"]) - scenario.started
    assert timedelta(seconds=50) <= down_wait <= timedelta(minutes=5)
    # Retry-After: 120 outweighs the first back-off step.
    busy_wait = datetime.fromisoformat(feeds["busy"]["backoff_until"]) - scenario.started
    assert busy_wait >= timedelta(seconds=115)
    assert feeds["busy"]["last_status"] == 503
    assert feeds["down"]["last_status"] == 500
    # Backing off, they are skipped rather than retried in the next crawls.
    assert scenario.run1[1]["feeds_skipped_backoff"] == 2
    assert scenario.run2[0]["feeds_skipped_backoff"] == 2
    assert scenario.run1_paths.count("/feeds/error.xml") == 2  # the request and one retry
    assert scenario.busy_server.paths().count("/feeds/busy.xml") == 1


def test_second_crawl_on_the_same_runner_fetches_nothing_again(scenario: Scenario) -> None:
    second = scenario.run1[1]
    # 304 for the RSS feed (it has an ETag); the body hash for the others.
    assert (second["feeds_ok"], second["feeds_unchanged"], second["feeds_failed"]) == (0, 3, 0)
    assert second["articles_new"] == second["articles_known"] == 0
    assert second["errors"] == []
    article_fetches = [p for p in scenario.run1_paths if p.startswith(("/articles/", "/copies/"))]
    assert len(article_fetches) == len(set(article_fetches)) == 6
    db = scenario.db()
    sahel = next(db.query("SELECT * FROM feeds WHERE name = 'sahel'"))
    assert sahel["last_status"] == 304 and sahel["etag"]


def test_changed_feed_fetches_only_its_new_entry(scenario: Scenario) -> None:
    report = scenario.run2[0]
    assert report["articles_new"] == 1
    assert report["articles_known"] == 3  # the Atom feed's earlier entries, not fetched again
    assert (report["feeds_ok"], report["feeds_unchanged"]) == (1, 2)
    fetched = [p for p in scenario.run2_paths if p.startswith(("/articles/", "/copies/"))]
    assert fetched == ["/articles/container-ship.html"]
    ship = _article(scenario.db(), "/articles/container-ship.html")
    assert "محملة بمواد بناء وأجهزة طبية" in ship["text"]
    assert ship["extraction"] == "page"
