"""The crawl engine: one long-lived crawler, polls on it one after another and at once.

Real crawls of tests/feedserver.py in a subprocess (tests/crawlrun.py), as the daemon runs them:
one engine started once, ``engine.crawl`` awaited for each poll. What a crawler per poll got
wrong, and the engine must get right: the per-site delay holds across feeds of one site polled
at the same time, robots.txt is fetched once per site and not before every poll, two polls
running together each report their own feeds, and pages are turned into articles in worker
processes.
"""

from __future__ import annotations

import itertools
import os
import signal
import time
from pathlib import Path
from typing import Any

import pytest

from marsad.crawler.workers import PageWorkers, WorkerDied
from marsad.storage.db import open_store
from marsad.storage.models import NewArticle
from tests.crawlrun import crawl_in_subprocess
from tests.feedserver import FeedServer, numbered_page

LOOPBACK = ["127.0.0.0/8", "localhost"]


def feed(name: str, url: str) -> dict[str, Any]:
    return {"name": name, "url": url, "every": 600.0, "source": name}


def spec(store: Path, feeds: list[dict[str, Any]], **crawl: Any) -> dict[str, Any]:
    return {
        "store": str(store),
        "feeds": feeds,
        "crawl": {"download_timeout": 3.0, "allow_private": LOOPBACK, **crawl},
        "rules": [],
    }


def stored(store: Path) -> int:
    db = open_store(store)
    try:
        return int(db.execute("SELECT count(*) FROM articles").fetchone()[0])
    finally:
        db.close()


def test_the_delay_per_site_holds_across_feeds_polled_at_once(tmp_path: Path) -> None:
    delay = 0.4
    with FeedServer() as server:
        feeds = [feed(f"f{n}", server.serve_numbered(3, prefix=f"/s{n}")) for n in range(3)]
        run = spec(tmp_path / "m.db", feeds, delay=delay, concurrency_per_domain=1)
        # Three feeds of one site, each its own poll, all at once: with a crawler per poll each
        # had its own downloader and the site was hit three at a time.
        run["steps"] = [{"together": [["f0"], ["f1"], ["f2"]]}]
        reports = crawl_in_subprocess(run, tmp_path)
        times = sorted(seen.at for seen in server.requests if seen.path != "/robots.txt")
    assert [r["feeds_ok"] for r in reports] == [1, 1, 1]
    assert len(times) == 3 + 9  # three feeds and their nine pages
    gaps = [later - earlier for earlier, later in itertools.pairwise(times)]
    # Scrapy's delay is measured between the starts of two downloads; the server logs on
    # arrival, which can only narrow a gap by the jitter of the loopback.
    assert min(gaps) >= delay * 0.8, gaps


def test_two_polls_at_once_each_report_their_own_feeds(tmp_path: Path) -> None:
    with FeedServer() as server:
        small = feed("small", server.serve_numbered(2, prefix="/small"))
        large = feed("large", server.serve_numbered(5, prefix="/large"))
        run = spec(tmp_path / "m.db", [small, large], delay=0.0, concurrency_per_domain=4)
        run["steps"] = [{"together": [["small"], ["large"]]}]
        first, second = crawl_in_subprocess(run, tmp_path)
    # Both feeds' pages are the same generated articles, so the later ones are copies.
    assert (first["feeds_ok"], first["articles_new"] + first["articles_copy"]) == (1, 2)
    assert (second["feeds_ok"], second["articles_new"] + second["articles_copy"]) == (1, 5)
    assert stored(tmp_path / "m.db") == 7


def test_robots_txt_is_fetched_once_for_many_polls_of_a_site(tmp_path: Path) -> None:
    with FeedServer() as server:
        feeds = [feed(f"f{n}", server.serve_numbered(1, prefix=f"/r{n}")) for n in range(2)]
        run = spec(tmp_path / "m.db", feeds, delay=0.0, concurrency_per_domain=2)
        run["steps"] = [{"crawls": 4}]
        reports = crawl_in_subprocess(run, tmp_path)
        robots = server.paths().count("/robots.txt")
    assert [r["feeds_ok"] + r["feeds_unchanged"] for r in reports] == [2, 2, 2, 2]
    assert robots == 1


def test_pages_become_articles_in_worker_processes(tmp_path: Path) -> None:
    with FeedServer() as server:
        run = spec(tmp_path / "m.db", [feed("w", server.serve_numbered(4, prefix="/w"))])
        run["crawl"].update(workers=2, delay=0.0, concurrency_per_domain=4)
        run["crawls"] = 1
        [report] = crawl_in_subprocess(run, tmp_path)
    assert (report["articles_new"], report["errors"]) == (4, [])
    db = open_store(tmp_path / "m.db")
    try:
        extraction = {row[0] for row in db.execute("SELECT extraction FROM articles")}
    finally:
        db.close()
    assert extraction == {"page"}


def page_article(n: int) -> NewArticle:
    url = f"http://sahel.example/{n}.html"
    return NewArticle(
        url=url,
        canonical_url=url,
        source="sahel",
        title="",
        text="",
        published="2024-05-12T12:00:00Z",
    )


def test_a_worker_that_dies_fails_its_page_and_the_next_page_has_new_workers() -> None:
    import asyncio

    workers = PageWorkers(1)

    async def scenario() -> tuple[str, str | None]:
        first = await workers.article_from_page(
            numbered_page(1).encode(), "http://s/1", None, page_article(1)
        )
        assert first is not None and first.article.text
        [pid] = workers.pool.pids()
        os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:  # the pool notices the death within moments
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                break
            await asyncio.sleep(0.05)
        try:
            await workers.article_from_page(
                numbered_page(2).encode(), "http://s/2", None, page_article(2)
            )
            died = "no"
        except WorkerDied as exc:
            died = str(exc)
        again = await workers.article_from_page(
            numbered_page(3).encode(), "http://s/3", None, page_article(3)
        )
        return died, again.article.title if again is not None else None

    try:
        died, title = asyncio.run(scenario())
    finally:
        workers.close()
    assert "worker process extracting it died" in died
    assert title is not None  # a new pool answered the next page


@pytest.mark.parametrize("workers", [0])
def test_no_workers_extracts_in_the_crawl_process(workers: int) -> None:
    import asyncio

    pool = PageWorkers(workers)
    result = asyncio.run(
        pool.article_from_page(numbered_page(5).encode(), "http://s/5", None, page_article(5))
    )
    assert result is not None and result.prepared.text_norm
    assert not pool.pool.running


def test_a_poll_in_which_nothing_moves_is_given_up_not_waited_for_forever() -> None:
    import asyncio

    from marsad.crawler.poll import Poll

    async def scenario() -> tuple[bool, bool, bool]:
        moving = Poll(["a"])
        moving.open()
        asyncio.get_running_loop().call_later(0.1, moving.close)
        finished = await moving.wait(stall_seconds=5.0)
        lost = Poll(["b"])
        lost.open()  # never closed: a unit of work lost
        started = time.monotonic()
        given_up = await lost.wait(stall_seconds=0.3)
        return finished, given_up, lost.is_over and time.monotonic() - started < 3.0

    assert asyncio.run(scenario()) == (True, False, True)
