"""`marsad import` on lines that used to crash it: each is reported with its number and skipped,
and the good lines before and after it are stored (they shared its uncommitted batch)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from marsad.alerts.matching import compile_rules
from marsad.ingest.importer import import_file
from marsad.ingest.jsonl import LineError
from marsad.storage.db import open_store

MARSAD = [sys.executable, "-c", "from marsad.cli import main; main()"]


def good(n: int) -> str:
    record = {"url": f"https://a.example/{n}", "title": f"خبر {n}", "text": f"نص الخبر رقم {n}"}
    return json.dumps(record, ensure_ascii=False)


# (line, what is wrong with it, what the report says). Line 1 is good but starts with a BOM.
BAD_LINES = [
    (2, '{"url": "https://a.example/s", "title": "\\ud800", "text": "x"}', "a lone surrogate"),
    (4, "[" * 100_000 + "]" * 100_000, "invalid JSON: nested too deeply"),
    (6, '{"url": "https://a.example/i", "n": ' + "1" * 5000 + "}", "invalid JSON: Exceeds"),
    (8, '{"url": "https://a.example/f", "title": "t", "published": 1e999}', "not a date: inf"),
    (9, '{"url": "https://a.example:99999/p", "title": "t"}', "url: not a URL: Port out of"),
    (10, '{"url": "http://[::1/x", "title": "t"}', "url: not a URL: Invalid IPv6 URL"),
    (11, '{"url": "https://a.example/e", "title": "t", "published": 1e20}', "not a date: 1e+20"),
    (12, '{"url": "https://a.example/\\udfff", "title": "t"}', "url: a lone surrogate"),
]
GOOD_LINES = (1, 3, 5, 7, 13)


def crashing_file(path: Path) -> Path:
    lines = {n: good(n) for n in GOOD_LINES}
    lines.update({n: text for n, text, _ in BAD_LINES})
    body = "\n".join(lines[n] for n in sorted(lines)) + "\n"
    path.write_bytes(b"\xef\xbb\xbf" + body.encode("utf-8"))
    return path


def run_import(feed: Path, db: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*MARSAD, "import", str(feed), "--db", str(db), "--json", "--workers", "0"],
        capture_output=True,
        text=True,
        timeout=120,
    )


def stored_urls(db_path: Path) -> list[str]:
    db = open_store(db_path)
    urls = [row[0] for row in db.execute("SELECT url FROM articles ORDER BY id")]
    db.close()
    return urls


def test_every_bad_line_is_reported_and_skipped_and_every_good_line_stored(
    tmp_path: Path,
) -> None:
    feed = crashing_file(tmp_path / "dump.jsonl")
    db = tmp_path / "store.db"
    first = run_import(feed, db)
    assert first.returncode == 0, first.stderr
    assert "Traceback" not in first.stderr
    counts = json.loads(first.stdout)
    assert (counts["new"], counts["bad"]) == (len(GOOD_LINES), len(BAD_LINES))
    reported = first.stderr.splitlines()
    assert len(reported) == len(BAD_LINES)
    for (line, _, says), report in zip(BAD_LINES, reported, strict=True):
        assert report.startswith(f"{feed}:{line}: skipped: "), report
        assert says in report, report
        assert len(report) < 300  # a 200,000-character line gives a short report
    # Line 1 (behind a UTF-8 BOM) and the good lines around every bad one are stored.
    assert stored_urls(db) == [f"https://a.example/{n}" for n in GOOD_LINES]
    # A re-run does not die on the same line: the good ones are known, the bad skipped again.
    again = run_import(feed, db)
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["known"] == len(GOOD_LINES)
    assert again.stderr == first.stderr


def test_an_article_the_store_refuses_is_a_bad_line_and_its_batch_mates_are_stored(
    tmp_path: Path,
) -> None:
    """Whatever fails while storing one article, not only what the reader foresaw."""
    feed = tmp_path / "dump.jsonl"
    feed.write_text("\n".join(good(n) for n in range(1, 8)) + "\n", encoding="utf-8")
    db = open_store(tmp_path / "store.db")
    db.execute(
        "CREATE TRIGGER refuse BEFORE INSERT ON articles WHEN NEW.url LIKE '%/4' "
        "BEGIN SELECT RAISE(ABORT, 'refused by a trigger'); END"
    )
    bad: list[LineError] = []
    counts = import_file(db, feed, compile_rules(()), on_bad_line=bad.append, batch=3)
    assert (counts.new, counts.bad) == (6, 1)
    assert bad == [LineError(4, "not stored: IntegrityError: refused by a trigger")]
    urls = [row[0] for row in db.execute("SELECT url FROM articles ORDER BY id")]
    assert urls == [f"https://a.example/{n}" for n in (1, 2, 3, 5, 6, 7)]
    db.close()
