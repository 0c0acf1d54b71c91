"""`marsad import` with articles prepared ahead in a worker process: the same store as without."""

from __future__ import annotations

import gzip
import json
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from marsad.ingest import prepare_article
from marsad.ingest.ahead import BATCH, prepared_ahead
from marsad.ingest.jsonl import ArticleLine, Item, LineError
from marsad.storage.db import open_store
from marsad.storage.models import NewArticle

MARSAD = [sys.executable, "-c", "from marsad.cli import main; main()"]
LETTERS = "ابتثجحخدذرزسشصضطظعغفقكلمنهوي"
ARTICLES = 3 * BATCH + 40


def made_up_text(rng: random.Random) -> str:
    words = ["".join(rng.choice(LETTERS) for _ in range(rng.randint(3, 7))) for _ in range(400)]
    return " ".join(rng.choice(words) for _ in range(rng.randint(80, 160)))


def records() -> list[str]:
    """Article lines: every fifth a credited copy of an earlier one, and two bad lines."""
    rng = random.Random(11)
    texts: list[str] = []
    lines = []
    for n in range(ARTICLES):
        if n % 5 == 4:
            text = texts[rng.randrange(len(texts))] + "\n\nالمصدر : وكالات"
        else:
            text = made_up_text(rng)
        texts.append(text)
        record = {
            "url": f"https://outlet{n % 3}.example/{n}",
            "source": f"outlet{n % 3}",
            "title": f"خبر رقم {n}",
            "text": text,
            "published": f"2024-05-01T{n % 24:02d}:00:00Z",
        }
        lines.append(json.dumps(record, ensure_ascii=False))
    lines.insert(7, "{not json")
    lines.insert(BATCH + 3, json.dumps({"title": "no url"}))
    return lines


def write_feed(path: Path, lines: list[str]) -> Path:
    with gzip.open(path, "wt", encoding="utf-8") as handle:
        handle.write("\n".join(lines) + "\n")
    return path


def run_import(feed: Path, db: Path, workers: int) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*MARSAD, "import", str(feed), "--db", str(db), "--json", "--workers", str(workers)],
        capture_output=True,
        text=True,
        timeout=300,
    )


def grouping(db_path: Path) -> list[tuple[str, str, str | None, str]]:
    """Each article's URL, its story's original URL, what it copies, and its body hash."""
    db = open_store(db_path)
    rows = db.execute(
        """
        SELECT a.url, o.url, d.url, a.body_hash
        FROM articles a
        JOIN stories s ON s.id = a.story_id
        JOIN articles o ON o.id = s.original_id
        LEFT JOIN articles d ON d.id = a.duplicate_of
        ORDER BY a.url
        """
    ).fetchall()
    db.close()
    return [tuple(r) for r in rows]


def test_workers_build_the_same_store_as_the_writer_alone(tmp_path: Path) -> None:
    feed = write_feed(tmp_path / "feed.jsonl.gz", records())
    alone = run_import(feed, tmp_path / "alone.db", workers=0)
    ahead = run_import(feed, tmp_path / "ahead.db", workers=1)
    assert alone.returncode == 0, alone.stderr
    assert ahead.returncode == 0, ahead.stderr
    counts = json.loads(ahead.stdout)
    assert counts == json.loads(alone.stdout)
    assert counts["bad"] == 2 and counts["copy"] >= ARTICLES // 5 - 5
    assert ahead.stderr == alone.stderr  # the same bad lines, reported the same way
    assert grouping(tmp_path / "ahead.db") == grouping(tmp_path / "alone.db")


def test_a_file_cut_short_keeps_every_article_read_before_the_cut(tmp_path: Path) -> None:
    whole = gzip.compress(("\n".join(records()) + "\n").encode("utf-8"))
    feed = tmp_path / "cut.jsonl.gz"
    feed.write_bytes(whole[: len(whole) * 3 // 4])
    stored = {}
    for workers in (0, 1):
        db_path = tmp_path / f"cut-{workers}.db"
        done = run_import(feed, db_path, workers=workers)
        assert done.returncode != 0
        assert "cannot read" in done.stderr
        stored[workers] = grouping(db_path)
    # Batches still in the worker when the read failed were stored too, as without workers.
    assert stored[1] == stored[0]
    assert BATCH < len(stored[1]) < ARTICLES


def test_prepared_ahead_keeps_the_order_and_prepares_like_ingest() -> None:
    items: list[Item] = []
    rng = random.Random(3)
    for n in range(BATCH + 20):
        url = f"https://a.example/{n}"
        text = made_up_text(rng)
        article = NewArticle(url=url, canonical_url=url, source="a", title=str(n), text=text)
        items.append(ArticleLine(n + 1, article))
    items[5] = LineError(line=6, message="invalid JSON")
    out = list(prepared_ahead(iter(items), workers=1))
    assert [item for item, _ in out] == items
    for item, prepared in out:
        if isinstance(item, LineError):
            assert prepared is None
        else:
            assert prepared == prepare_article(item.article)


def test_a_small_file_is_prepared_without_a_worker() -> None:
    url = "https://a.example/1"
    article = NewArticle(url=url, canonical_url=url, source="a", title="t", text="نص قصير")
    item = ArticleLine(1, article)
    assert list(prepared_ahead(iter([item]), workers=2)) == [(item, None)]


def test_a_read_error_in_the_first_batch_still_yields_what_was_read() -> None:
    def cut_short() -> Iterator[Item]:
        for n in range(30):
            url = f"https://a.example/{n}"
            article = NewArticle(url=url, canonical_url=url, source="a", title="t", text="نص")
            yield ArticleLine(n + 1, article)
        raise EOFError("Compressed file ended before the end-of-stream marker was reached")

    for workers in (0, 1):
        got = []
        with pytest.raises(EOFError):
            for item, _ in prepared_ahead(cut_short(), workers=workers):
                got.append(item)
        assert len(got) == 30


def process_table() -> dict[int, tuple[int, str, str]]:
    """Every process: its parent, its state and its command line (from /proc)."""
    table = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:  # it ended while we looked
            continue
        # The command name in parentheses may hold spaces: the fields follow its last ")".
        state, parent = stat.rpartition(")")[2].split()[:2]
        table[int(entry.name)] = (int(parent), state, cmdline)
    return table


def alive(pids: set[int]) -> set[int]:
    table = process_table()
    # A zombie has exited; only its parent's reaping of it is left.
    return {pid for pid in pids if pid in table and table[pid][1] != "Z"}


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads processes from /proc")
def test_workers_exit_when_the_import_is_killed(tmp_path: Path) -> None:
    """After kill -9 of `marsad import`, its workers and their resource tracker used to stay
    alive, blocked, for good."""
    rng = random.Random(5)
    words = made_up_text(rng).split()
    lines = (
        json.dumps(
            {
                "url": f"https://a.example/{n}",
                "title": f"خبر {n}",
                "text": " ".join(rng.choices(words, k=120)),
            },
            ensure_ascii=False,
        )
        for n in range(30 * BATCH)
    )
    feed = tmp_path / "big.jsonl"
    feed.write_text("\n".join(lines) + "\n", encoding="utf-8")
    importer = subprocess.Popen(
        [*MARSAD, "import", str(feed), "--db", str(tmp_path / "s.db"), "--workers", "2"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    helpers: set[int] = set()
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and importer.poll() is None:
            children = {
                pid: cmd
                for pid, (parent, _, cmd) in process_table().items()
                if parent == importer.pid
            }
            # Both workers and the tracker: a helper started after the kill would be missed.
            workers = [cmd for cmd in children.values() if "spawn_main" in cmd]
            if len(workers) == 2 and any("resource_tracker" in c for c in children.values()):
                helpers = set(children)
                break
            time.sleep(0.05)
        assert helpers, "the import ended before both its workers started"
        importer.kill()
        importer.wait(timeout=10)
        deadline = time.monotonic() + 10
        while alive(helpers) and time.monotonic() < deadline:
            time.sleep(0.1)
        left = alive(helpers)
        table = process_table()
        assert not left, [table[pid][2] for pid in left if pid in table]
    finally:
        if importer.poll() is None:
            importer.kill()
            importer.wait()
        for pid in alive(helpers):
            os.kill(pid, signal.SIGKILL)
