"""Every entry a feed lists ends stored, known, or recorded with the reason it is not (#10, #11).

Real crawls (tests/crawlrun.py, in a fresh process each) of feeds served by tests/feedserver.py
into a real store. The store refusing an entry is a real SQLite trigger on ``articles`` in the
test's store: the entry's insert fails inside the ingest transaction, as "database is locked"
or any other store error would.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from marsad.cli import cli
from marsad.storage.db import open_store
from tests.crawlrun import crawl_in_subprocess
from tests.feedserver import FeedServer, numbered_page

CRAWL = {
    "download_timeout": 5.0,
    "delay": 0.0,
    "concurrency_per_domain": 4,
    "allow_private": ["127.0.0.0/8", "localhost"],
}
REFUSE_PAGE_3 = """
CREATE TRIGGER test_refuses_page_3 BEFORE INSERT ON articles
WHEN NEW.url LIKE '%/many/3.html'
BEGIN SELECT RAISE(ABORT, 'refused by a test trigger'); END
"""


def spec(
    store: Path, feeds: list[tuple[str, str]], crawls: int = 1, **extra: Any
) -> dict[str, Any]:
    return {
        "store": str(store),
        "crawls": crawls,
        "feeds": [{"name": n, "url": u, "every": 600.0, "source": n} for n, u in feeds],
        "crawl": CRAWL,
        "rules": [],
        **extra,
    }


def snapshot(name: str, source: str) -> str:
    """A statement for a crawl step: keep ``source`` (a table or view) as it is now, to read
    after the crawl process is done."""
    return f"CREATE TABLE {name} AS SELECT * FROM {source}"


def fresh_store(path: Path, *statements: str) -> None:
    db = open_store(path)
    try:
        for statement in statements:
            db.execute(statement)
    finally:
        db.close()


def query(store: Path, sql: str, params: list[Any] | None = None) -> list[dict[str, Any]]:
    db = open_store(store)
    try:
        return list(db.query(sql, params or []))
    finally:
        db.close()


def urls(store: Path) -> list[str]:
    return [r["url"] for r in query(store, "SELECT url FROM articles ORDER BY id")]


def pages(server: FeedServer) -> list[str]:
    return [p for p in server.paths() if p.endswith(".html")]


def feeds_json(store: Path, *args: str) -> list[dict[str, Any]]:
    result = CliRunner().invoke(cli, ["feeds", "--json", "--db", str(store), *args])
    assert result.exit_code == 0, result.output
    rows: list[dict[str, Any]] = json.loads(result.stdout)
    return rows


# -- #11 item 1: a failed store is retried, up to a bound ------------------------------------------


def test_an_entry_the_store_refused_is_stored_on_the_next_poll(tmp_path: Path) -> None:
    store = tmp_path / "marsad.db"
    fresh_store(store, REFUSE_PAGE_3)
    with FeedServer() as server:
        feed_url = server.serve_numbered(5)
        steps = [
            {"crawls": 1},
            {
                "sql": [
                    snapshot("after_first", "feed_entries"),
                    snapshot("health_after_first", "feed_health"),
                    "DROP TRIGGER test_refuses_page_3",
                ],
                "crawls": 2,
            },
        ]
        first, second, third = crawl_in_subprocess(
            spec(store, [("numbered", feed_url)], steps=steps), tmp_path
        )
        fetched = pages(server)

    # The feed never changed, but it listed an entry not stored: read again, not "unchanged".
    assert len(urls(store)) == 5
    assert (second["feeds_ok"], second["feeds_unchanged"], second["articles_new"]) == (1, 0, 1)
    assert sorted(fetched) == sorted([f"/many/{n}.html" for n in range(1, 6)] + ["/many/3.html"])
    assert first["articles_failed"] == 1
    (entry,) = query(store, "SELECT * FROM after_first")
    assert (entry["state"], entry["attempts"]) == ("retrying", 1)
    assert entry["url"] == server.url("/many/3.html")
    assert "refused by a test trigger" in entry["reason"]
    (health,) = query(store, "SELECT * FROM health_after_first")
    assert (health["state"], health["entries_retrying"]) == ("incomplete", 1)
    # Everything stored: the entry is settled, the feed ok, and the next poll finds it unchanged.
    assert query(store, "SELECT * FROM feed_entries") == []
    (health,) = feeds_json(store)
    assert (health["state"], health["entries_retrying"]) == ("ok", 0)
    assert (third["feeds_ok"], third["feeds_unchanged"]) == (0, 1)


def test_an_entry_never_stored_is_given_up_after_its_bound_and_said_so(tmp_path: Path) -> None:
    store = tmp_path / "marsad.db"
    fresh_store(store, REFUSE_PAGE_3)
    with FeedServer() as server:
        feed_url = server.serve_numbered(4)
        steps = [
            {"crawls": 5},
            # Five attempts, but all within the hour: the bound wants both. An hour on:
            {
                "sql": [
                    snapshot("after_five", "feed_entries"),
                    "UPDATE feed_entries SET first_seen_at = '2024-05-12T10:00:00Z'",
                ],
                "crawls": 2,
            },
        ]
        reports = crawl_in_subprocess(spec(store, [("numbered", feed_url)], steps=steps), tmp_path)
        fetched = pages(server)

    assert [r["articles_failed"] for r in reports] == [1] * 5 + [0, 0]
    assert fetched.count("/many/3.html") == 5
    (entry,) = query(store, "SELECT * FROM after_five")
    assert (entry["state"], entry["attempts"]) == ("retrying", 5)
    gave_up, after = reports[5:]
    assert gave_up["entries_gave_up"] == 1
    assert any("gave up" in e and "/many/3.html" in e for e in gave_up["errors"])
    (entry,) = query(store, "SELECT * FROM feed_entries")
    assert entry["state"] == "gave_up"
    assert "5 attempts" in entry["reason"] and "refused by a test trigger" in entry["reason"]
    # Given up is said once; the feed is then unchanged again, but never "ok".
    assert (after["feeds_unchanged"], after["entries_gave_up"], after["errors"]) == (1, 0, [])
    (health,) = feeds_json(store)
    assert (health["state"], health["entries_gave_up"]) == ("incomplete", 1)
    table = CliRunner().invoke(cli, ["feeds", "--db", str(store)])
    assert "incomplete" in table.stdout
    listing = CliRunner().invoke(cli, ["feeds", "entries", "--db", str(store)])
    assert listing.exit_code == 0, listing.output
    assert "gave_up" in listing.stdout and "/many/3.html" in listing.stdout
    assert feeds_json(store) == feeds_json(store, "--failing")


TITLES = """<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0"><channel><title>عناوين</title><link>{base}/</link>
<item><title>عنوان فقط</title><link>{base}/titles/1.html</link>
<guid isPermaLink="false">t-1</guid></item>
<item><title>عنوان ونص</title><link>{base}/titles/2.html</link>
<guid isPermaLink="false">t-2</guid><description>نص الخبر كما يرويه الموقع.</description></item>
<item><title>عنوان آخر فقط</title><link>{base}/titles/3.html</link>
<guid isPermaLink="false">t-3</guid></item>
</channel></rss>"""


def test_a_page_that_fails_for_now_is_fetched_again_when_the_feed_has_only_a_title(
    tmp_path: Path,
) -> None:
    store = tmp_path / "marsad.db"
    bad_gateway = [b"<h1>502</h1>"]
    with FeedServer() as server:
        feed_url = server.serve("/titles/feed.xml", TITLES, "application/rss+xml")
        # Page 1 fails twice (the request and Scrapy's one retry), then answers.
        server.serve_in_turn(
            "/titles/1.html", [*bad_gateway * 2, numbered_page(1)], statuses=[502, 502, 200]
        )
        for n in (2, 3):  # these never answer
            server.serve_in_turn(f"/titles/{n}.html", bad_gateway, statuses=[502])
        steps = [
            {"crawls": 1},
            {"sql": [snapshot("after_first", "feed_entries")], "crawls": 1},
            # Page 3 has had its attempts and its hour: its last chance keeps the title.
            {
                "sql": [
                    snapshot("after_second", "feed_entries"),
                    "UPDATE feed_entries SET attempts = 4, first_seen_at = '2024-05-12T10:00:00Z'",
                ],
                "crawls": 1,
            },
        ]
        first, second, third = crawl_in_subprocess(
            spec(store, [("titles", feed_url)], steps=steps), tmp_path
        )

    articles = {
        row["url"].rsplit("/", 1)[1]: row
        for row in query(store, "SELECT url, title, text, extraction FROM articles")
    }
    assert articles["1.html"]["extraction"] == "page"
    assert articles["2.html"]["extraction"] == "feed"  # the feed's own text, kept at once
    assert (articles["3.html"]["extraction"], articles["3.html"]["title"]) == (
        "feed",
        "عنوان آخر فقط",
    )
    assert (first["articles_new"], first["entries_retrying"]) == (1, 2)
    after_first = {r["entry_key"]: r for r in query(store, "SELECT * FROM after_first")}
    assert sorted(after_first) == ["guid:t-1", "guid:t-3"]
    assert all(r["reason"] == "HTTP 502" for r in after_first.values())
    assert (second["articles_new"], second["entries_retrying"]) == (1, 1)
    (owed,) = query(store, "SELECT * FROM after_second")
    assert (owed["entry_key"], owed["attempts"]) == ("guid:t-3", 2)
    assert (third["articles_new"], third["entries_retrying"]) == (1, 0)
    assert any("titles/3.html" in e and "kept the feed's text" in e for e in third["errors"])
    assert query(store, "SELECT * FROM feed_entries") == []


# -- #11 item 4: an entry that cannot be used is skipped, its neighbours stored --

SCRIPTED = """<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0"><channel><title>روابط غريبة</title><link>{base}/</link>
<item><title>أول</title><link>{base}/odd/1.html</link><guid>odd-1</guid></item>
<item><title>رابط برمجي</title><link>javascript:void(0)</link><guid>odd-js</guid></item>
<item><title>رابط بريد</title><link>mailto:desk@news.example</link><guid>odd-mail</guid></item>
<item><title>ثان</title><link>{base}/odd/2.html</link><guid>odd-2</guid></item>
<item><title>ثالث</title><link>{base}/odd/3.html</link><guid>odd-3</guid></item>
</channel></rss>"""

SURROGATE = """<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0"><channel><title>محارف مكسورة</title><link>{base}/</link>
<item><title>عنوان &#xD800; مكسور</title><link>{base}/odd/4.html</link><guid>odd-4</guid>
<description>وصف &#55296; مكسور</description></item>
<item><title>عنوان سليم</title><link>{base}/odd/5.html</link><guid>odd-5</guid></item>
</channel></rss>"""


def test_entries_that_cannot_be_used_are_skipped_and_their_neighbours_stored(
    tmp_path: Path,
) -> None:
    store = tmp_path / "marsad.db"
    with FeedServer() as server:
        for n in range(1, 6):
            server.serve(f"/odd/{n}.html", numbered_page(n))
        scripted = server.serve("/odd/scripted.xml", SCRIPTED, "application/rss+xml")
        surrogate = server.serve("/odd/surrogate.xml", SURROGATE, "application/rss+xml")
        feeds = [("scripted", scripted), ("surrogate", surrogate)]
        first, second = crawl_in_subprocess(spec(store, feeds, crawls=2), tmp_path)
        fetched = pages(server)

    assert sorted(urls(store)) == [server.url(f"/odd/{n}.html") for n in range(1, 6)]
    assert sorted(fetched) == [f"/odd/{n}.html" for n in range(1, 6)]
    assert (first["feeds_ok"], first["feeds_failed"], first["entries_skipped"]) == (2, 0, 2)
    skipped = query(store, "SELECT entry_key, state, reason FROM feed_entries ORDER BY entry_key")
    assert [(r["state"], r["reason"]) for r in skipped] == [
        ("skipped", "not an http(s) link: 'javascript:void(0)'"),
        ("skipped", "not an http(s) link: 'mailto:desk@news.example'"),
    ]
    broken = query(store, "SELECT title FROM articles WHERE url LIKE '%/odd/4.html'")
    assert broken == [{"title": "عنوان \ufffd مكسور"}]
    # Skipped with a reason is settled: the next poll finds both feeds unchanged.
    assert (second["feeds_unchanged"], second["entries_skipped"]) == (2, 0)
    health = {row["name"]: row for row in feeds_json(store)}
    assert health["scripted"]["state"] == "ok"
    assert health["scripted"]["entries_skipped"] == 2


# -- #10 item 8: no entry dropped in silence; the feed's author wins --

UNLINKED = """<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0" xmlns:dc="http://purl.org/dc/elements/1.1/"><channel><title>بيانات</title>
<link>{base}/</link>
<item><title>بيان بلا رابط</title>
<description>أصدرت البلدية بيانا عن انسحاب الشركة المنفذة من مشروع الجسر.</description></item>
<item></item>
<item><title>خبر له رابط</title><link>{base}/unlinked/page.html</link><guid>u-1</guid>
<dc:creator>مراسلة الموقع</dc:creator></item>
{extra}
</channel></rss>"""

AUTHORED_PAGE = numbered_page(7).replace(
    '<meta charset="utf-8">', '<meta charset="utf-8"><meta name="author" content="قسم التحرير">'
)


def test_an_entry_without_link_or_guid_is_kept_under_its_content_and_the_feeds_author_wins(
    tmp_path: Path,
) -> None:
    store = tmp_path / "marsad.db"
    with FeedServer() as server:
        server.serve("/unlinked/page.html", AUTHORED_PAGE)
        server.serve("/unlinked/other.html", numbered_page(8))
        # The feed changes between the polls (a new entry); the one without a link stays.
        added = "<item><title>جديد</title><link>{base}/unlinked/other.html</link></item>"
        feed = server.serve_in_turn(
            "/unlinked/feed.xml",
            [UNLINKED.replace("{extra}", ""), UNLINKED.replace("{extra}", added)],
            "application/rss+xml",
        )
        first, second = crawl_in_subprocess(spec(store, [("unlinked", feed)], 2), tmp_path)

    rows = query(store, "SELECT * FROM articles ORDER BY id")
    unlinked = [r for r in rows if r["title"] == "بيان بلا رابط"]
    assert len(unlinked) == 1
    assert unlinked[0]["extraction"] == "feed"
    assert "انسحاب الشركة المنفذة" in unlinked[0]["text"]
    assert unlinked[0]["url"].startswith(feed + "#entry-")
    assert first["articles_new"] == 2
    assert (second["articles_new"], second["articles_known"]) == (1, 2)
    linked = next(r for r in rows if r["url"].endswith("/unlinked/page.html"))
    assert linked["author"] == "مراسلة الموقع"
    # The empty entry is not stored and not silent: the feed's health counts it, with a reason.
    (empty,) = query(store, "SELECT * FROM feed_entries")
    assert empty["state"] == "skipped" and "nothing to store" in empty["reason"]
    (health,) = feeds_json(store)
    assert health["entries_skipped"] == 1
