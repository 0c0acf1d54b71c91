"""The daemon's linking job (#17), as a real `marsad run` subprocess killed with -9 mid-pass.

A store holds 40 articles of the labelled set (originals, translations, reports), none checked.
The daemon's job checks them in its worker process; it is killed with SIGKILL while the pass is
under way (some checked, not all): the worker dies with it. Restarted, the daemon checks the rest
within a bounded time. Nothing was lost or done twice: each article has one profile row, and the
links are exactly those of an uninterrupted pass over a copy of the same store.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from marsad.alerts.matching import compile_rules
from marsad.config import CrossLingualConfig
from marsad.ingest import ingest_article
from marsad.scheduler.crosslingual import link_now
from marsad.storage.db import open_store
from marsad.storage.models import NewArticle
from tests.faults._kill import Marsad, count, query, wait_until
from tests.feedserver import FeedServer

pytestmark = pytest.mark.slow  # two daemon subprocesses, each starting the worker process

DATA = Path(__file__).resolve().parent / "data" / "crosslingual"
ARTICLES = 40
EMPTY_RSS = (
    '<?xml version="1.0" encoding="utf-8"?>\n<rss version="2.0"><channel>'
    "<title>news</title><link>{base}/</link><description>-</description></channel></rss>\n"
)


def _fill(store: Path) -> None:
    lines = (DATA / "set-a.jsonl").read_text(encoding="utf-8").splitlines()[:ARTICLES]
    db = open_store(store)
    rules = compile_rules([])
    try:
        for record in map(json.loads, lines):
            url = f"https://{record['lang']}.example/{record['id']}"
            article = NewArticle(
                url=url,
                canonical_url=url,
                source=record["outlet"],
                title=record["title"],
                text=record["text"],
                published=record["published"],
            )
            ingest_article(db, article, rules)
    finally:
        db.close()


def _links(store: Path) -> set[tuple[object, ...]]:
    return set(query(store, "SELECT translation_id, original_id FROM crosslingual_links"))


def _stories(store: Path) -> set[tuple[object, ...]]:
    return set(query(store, "SELECT id, story_id FROM articles"))


def test_a_daemon_killed_mid_pass_checks_the_rest_and_links_nothing_twice(
    tmp_path: Path,
) -> None:
    store = tmp_path / "store.db"
    _fill(store)
    reference = tmp_path / "reference.db"
    shutil.copy(store, reference)
    db = open_store(reference)
    try:
        link_now(db, CrossLingualConfig(enabled=True))
    finally:
        db.close()
    expected = _links(reference)
    assert expected  # the set holds translations the pass links

    with FeedServer() as server:
        feed = server.serve("/rss.xml", EMPTY_RSS, "application/rss+xml")
        config = tmp_path / "marsad.toml"
        config.write_text(
            '[store]\npath = "store.db"\n\n[crawl]\ndelay = 0\nallow_private = ["127.0.0.0/8"]\n'
            "\n[crosslingual]\nenabled = true\n\n"
            f'[[feeds]]\nname = "news"\nurl = "{feed}"\n',
            encoding="utf-8",
        )
        log = tmp_path / "daemon.log"
        first = Marsad(["run", "--config", str(config)], tmp_path, log)
        try:
            mid_pass = wait_until(
                lambda: 0 < count(store, "crosslingual_profiles") < ARTICLES, 120, poll=0.01
            )
            assert mid_pass, first.output()[-3000:]
            killed = first.kill9()
        finally:
            first.ensure_dead()
        assert killed.landed and killed.leftovers == (), killed
        checked_at_kill = count(store, "crosslingual_profiles")
        assert 0 < checked_at_kill < ARTICLES

        second = Marsad(["run", "--config", str(config)], tmp_path, log)
        try:
            done = wait_until(lambda: count(store, "crosslingual_profiles") == ARTICLES, 120)
            assert done, second.output()[-3000:]
            assert second.stop(60) == 0, second.output()[-3000:]
        finally:
            second.ensure_dead()

    assert query(store, "SELECT count(DISTINCT article_id) FROM crosslingual_profiles") == [
        (ARTICLES,)
    ]
    assert _links(store) == expected
    assert _stories(store) == _stories(reference)
