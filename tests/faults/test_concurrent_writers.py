"""Concurrent writers on one store (#11): two ``marsad import``s at once, an import beside
``marsad deliver``, an import beside the daemon. Each pairing runs as real subprocesses on one
file store; every article of both is stored exactly once, every alert is sent exactly once, no
process dies and every exit code is 0.

Before write transactions took the write lock first (``BEGIN IMMEDIATE``), a deferred read
transaction upgraded to a write could not wait for the other writer: one of the pair died with
"database is locked" at once, whatever the busy timeout, and the daemon lost articles. To see
that, point the trials at an older tree: ``MARSAD_FAULTS_TREE=/path/to/checkout`` runs every
marsad subprocess from that tree (its own code on PYTHONPATH) instead of this one.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sqlite3
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from xml.sax.saxutils import escape

import pytest

from tests.faults._servers import (
    Delayed,
    Finished,
    Fixed,
    HostileServer,
    Item,
    Measured,
    PatientSink,
    arabic_text,
    arabic_title,
    article_page,
    marsad,
    rss,
    wait_until,
    write_jsonl,
)

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
TREE = Path(os.environ.get("MARSAD_FAULTS_TREE") or REPO)
TREE_ENV = {"PYTHONPATH": str(TREE)} if TREE != REPO else {}
# An older tree rejects the key its config does not know (it had no address guard either).
KNOWS_ALLOW_PRIVATE = "allow_private" in (TREE / "marsad" / "config.py").read_text("utf-8")
KEYWORD = "الانسحاب"  # never among the generated words
WEBHOOK_SECRET_ENV = "WRITERS_WEBHOOK_SECRET"
# Sizes: each import is one write transaction (marsad.ingest.importer commits every 2,000
# articles) of a few seconds, long enough that the other writer of the pair comes while it holds
# the lock, short enough that the file stays under a minute. A delivery pass of QUEUED_ALERTS
# lasts long enough for ROUNDS small imports to come beside it one after another.
IMPORT_ARTICLES = 250
FEED_ARTICLES = 100
QUEUED_ALERTS = 300
ROUNDS, ROUND_ARTICLES = 3, 60
PAGE_DELAY = 0.3  # with 8 pages at a time: about 4 s of crawling
# Bounds on each process: far above what a pairing takes (a few seconds), far below the 30 s x 4
# a writer may wait for the lock, so a writer that waits forever shows as a failure.
PROCESS_TIMEOUT = 90.0


PUBLISHED = datetime.now(UTC).replace(microsecond=0).isoformat()


def import_articles(
    tag: str, count: int, *, seed: int, keyword: str = KEYWORD
) -> list[dict[str, str]]:
    """``count`` distinct generated articles at https://TAG.example/N, each naming ``keyword``
    (which the generated words never are)."""
    return [
        {
            "url": f"https://{tag}.example/{n}",
            "source": tag,
            "title": arabic_title(seed + n, f"{keyword} "),
            "text": f"{keyword} {arabic_text(seed + n)}",
            # Now: an alert is only raised for news within the alert window.
            "published": PUBLISHED,
        }
        for n in range(count)
    ]


def write_config(
    workdir: Path,
    *,
    channels: list[str] | None = None,
    hook: str | None = None,
    feed: str | None = None,
) -> Path:
    crawl = ""
    if feed is not None:
        allow = 'allow_private = ["127.0.0.0/8", "localhost"]\n' if KNOWS_ALLOW_PRIVATE else ""
        crawl = (
            f"[crawl]\ndelay = 0\nobey_robots = false\nconcurrency_per_domain = 8\n{allow}\n"
            f'[[feeds]]\nname = "local"\nurl = "{feed}"\nevery = "10s"\n'
        )
    hook_table = ""
    if hook is not None:
        hook_table = (
            f'[channels.hook]\ntype = "webhook"\nurl = "{hook}"\n'
            f'secret_env = "{WEBHOOK_SECRET_ENV}"\n'
        )
    config = workdir / "marsad.toml"
    config.write_text(
        f'[store]\npath = "store.db"\n\n{crawl}\n'
        f'[[rules]]\nname = "withdrawal"\nkeywords = ["{KEYWORD}"]\n'
        f"channels = {json.dumps(channels or [])}\n\n{hook_table}",
        encoding="utf-8",
    )
    return config


def run(workdir: Path, name: str, *args: str) -> Measured:
    return marsad(
        [*args, "--config", str(workdir / "marsad.toml")],
        cwd=workdir,
        log=workdir / f"{name}.log",
        env={**TREE_ENV, WEBHOOK_SECRET_ENV: "writers-secret"},
    )


def finish_all(*processes: Measured) -> list[Finished]:
    try:
        return [process.finish(PROCESS_TIMEOUT) for process in processes]
    finally:
        for process in processes:
            process.ensure_dead()


def assert_clean_exit(run: Finished, what: str) -> None:
    assert not run.timed_out, f"{what} did not finish:\n{run.output[-3000:]}"
    assert run.returncode == 0, f"{what} exited {run.returncode}:\n{run.output[-3000:]}"
    assert "database is locked" not in run.output, f"{what}:\n{run.output[-3000:]}"


def overlap(a: Measured, b: Measured) -> float:
    """Seconds two finished processes ran at once."""
    runs = []
    for process in (a, b):
        ended = process.poll()
        assert ended is not None
        runs.append((process.started, process.started + ended.seconds))
    return min(end for _, end in runs) - max(start for start, _ in runs)


def rows(store: Path, sql: str) -> list[sqlite3.Row]:
    with contextlib.closing(sqlite3.connect(f"file:{store}?mode=ro", uri=True, timeout=30)) as db:
        db.row_factory = sqlite3.Row
        return db.execute(sql).fetchall()


def stored_urls(store: Path) -> Counter[str]:
    return Counter(row["url"] for row in rows(store, "SELECT url FROM articles"))


def create_store(workdir: Path) -> None:
    """The store, made and migrated before the pairing, so the trial is about writers only."""
    (workdir / "empty.jsonl").write_text("", encoding="utf-8")
    assert_clean_exit(run(workdir, "create", "import", "empty.jsonl").finish(60), "create")


@pytest.fixture
def sink() -> Iterator[PatientSink]:
    server = PatientSink()
    with server:
        yield server


def test_two_imports_at_once(tmp_path: Path) -> None:
    write_config(tmp_path)
    create_store(tmp_path)
    first = import_articles("import-a", IMPORT_ARTICLES, seed=0)
    second = import_articles("import-b", IMPORT_ARTICLES, seed=10_000)
    write_jsonl(tmp_path / "a.jsonl", first)
    write_jsonl(tmp_path / "b.jsonl", second)

    a = run(tmp_path, "a", "import", "a.jsonl")
    b = run(tmp_path, "b", "import", "b.jsonl")
    for result, what in zip(finish_all(a, b), ("import a", "import b"), strict=True):
        assert_clean_exit(result, what)
    assert overlap(a, b) > 0.5

    stored = stored_urls(tmp_path / "store.db")
    assert stored == Counter(article["url"] for article in first + second)


def test_an_import_beside_deliver(tmp_path: Path, sink: PatientSink) -> None:
    write_config(tmp_path, channels=["hook"], hook=f"{sink.url}/hook")
    create_store(tmp_path)
    queued = import_articles("queued", QUEUED_ALERTS, seed=20_000)
    # Matching no rule: the pass has exactly the alerts queued before it to send.
    beside = [
        import_articles(f"beside-{n}", ROUND_ARTICLES, seed=30_000 + 1000 * n, keyword="")
        for n in range(ROUNDS)
    ]
    write_jsonl(tmp_path / "queued.jsonl", queued)
    for n, batch in enumerate(beside):
        write_jsonl(tmp_path / f"beside-{n}.jsonl", batch)
    assert_clean_exit(run(tmp_path, "queue", "import", "queued.jsonl").finish(60), "queue")
    store = tmp_path / "store.db"
    assert len(rows(store, "SELECT id FROM alerts WHERE status = 'pending'")) == len(queued)

    # The delivery pass writes (claims, outcomes) in many short transactions; imports come one
    # after another while it does, each holding the write lock for one transaction. Before
    # BEGIN IMMEDIATE an import died when a delivery committed between its first read and its
    # first write; each round is one such chance.
    delivering = run(tmp_path, "deliver", "deliver")
    assert wait_until(lambda: len(sink.requests) >= 5, 30), delivering.output()
    rounds = []
    for n in range(ROUNDS):
        importing = run(tmp_path, f"import-{n}", "import", f"beside-{n}.jsonl")
        rounds.append(importing)
        assert_clean_exit(importing.finish(PROCESS_TIMEOUT), f"import {n}")
    assert_clean_exit(delivering.finish(PROCESS_TIMEOUT), "deliver")
    assert sum(overlap(importing, delivering) > 0.5 for importing in rounds) >= 2
    # Nothing left to send, and nothing that failed.
    assert_clean_exit(run(tmp_path, "again", "deliver").finish(PROCESS_TIMEOUT), "deliver again")

    every = queued + [article for batch in beside for article in batch]
    assert stored_urls(store) == Counter(article["url"] for article in every)
    alerts = rows(store, "SELECT idempotency_key, status FROM alerts")
    assert len(alerts) == len(queued)
    assert {alert["status"] for alert in alerts} == {"sent"}
    received = Counter(json.loads(r.body)["idempotency_key"] for r in sink.requests)
    assert received == Counter(alert["idempotency_key"] for alert in alerts)


def feed_site(server: HostileServer) -> tuple[str, list[str]]:
    """A feed of FEED_ARTICLES generated articles, with their pages; its URL and theirs."""
    items, links = [], []
    for n in range(FEED_ARTICLES):
        seed = 40_000 + n
        page = article_page(arabic_title(seed), f"{KEYWORD} {arabic_text(seed)}")
        # A moment per page, so the crawl lasts long enough for the import to come beside it.
        link = server.route(f"/news/{n}.html", Delayed(Fixed(page.encode()), PAGE_DELAY))
        links.append(link)
        items.append(Item(link, escape(arabic_title(seed)), escape(arabic_text(seed, 20)), f"n{n}"))
    return server.route("/feed.xml", Fixed(rss(items), "application/rss+xml")), links


def test_an_import_beside_the_daemon(tmp_path: Path) -> None:
    beside = import_articles("beside", IMPORT_ARTICLES, seed=50_000)
    write_jsonl(tmp_path / "beside.jsonl", beside)
    store = tmp_path / "store.db"
    with HostileServer() as server:
        feed, links = feed_site(server)
        write_config(tmp_path, feed=feed)
        create_store(tmp_path)

        def crawled() -> int:
            urls = stored_urls(store)
            return sum(urls[link] for link in links)

        daemon = run(tmp_path, "daemon", "run")
        started = [daemon]
        try:
            # The import comes while the daemon's first crawl is under way.
            assert wait_until(lambda: "/feed.xml" in server.paths(), 30), daemon.output()
            started.append(importing := run(tmp_path, "import", "import", "beside.jsonl"))
            pages_before_import = sum(path.startswith("/news/") for path in server.paths())
            importing_run = importing.finish(PROCESS_TIMEOUT)
            # The daemon polls every 10 s; what its first poll could not store, it must not lose.
            wait_until(lambda: crawled() == FEED_ARTICLES, 60, poll=0.2)
            assert daemon.running(), f"the daemon died:\n{daemon.output()[-3000:]}"
        finally:
            daemon.signal(signal.SIGTERM)
            daemon_run = daemon.finish(60)
            for process in started:
                process.ensure_dead()
    assert_clean_exit(importing_run, "import")
    assert_clean_exit(daemon_run, "daemon")
    assert pages_before_import < FEED_ARTICLES / 2
    assert crawled() == FEED_ARTICLES, f"{crawled()} of {FEED_ARTICLES} feed articles stored"
    assert stored_urls(store) == Counter([*links, *(article["url"] for article in beside)])
