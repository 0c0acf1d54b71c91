"""`marsad import` → `marsad match` → `marsad export`, as a user runs them, on the seed article."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from pathlib import Path

from tests.conftest import shared_path

MARSAD = [sys.executable, "-c", "from marsad.cli import main; main()"]

RULES_TOML = """
[[rules]]
name = "withdrawal"
keywords = ["انسحاب"]

[[rules]]
name = "bases"
keywords = ["عين الأسد", "القيارة", "K1"]
"""


def marsad(*args: str, stdin: str | None = None, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*MARSAD, *args], input=stdin, capture_output=True, text=True, cwd=cwd, timeout=120
    )


def seed_record() -> dict[str, str]:
    lines = shared_path("seed", "article-ar.txt").read_text(encoding="utf-8").splitlines()
    return {
        "url": "https://news.example.org/world/k1?utm_source=feed#top",
        "source": "news.example.org",
        "title": lines[0].strip(),
        "text": "\n".join(line for line in lines[1:] if line.strip()),
        "published": "2020-03-29T10:00:00+03:00",
    }


def test_seed_import_match_export(tmp_path: Path) -> None:
    record = seed_record()
    feed = tmp_path / "seed.jsonl.gz"
    with gzip.open(feed, "wt", encoding="utf-8") as out:
        out.write(json.dumps(record, ensure_ascii=False) + "\n")
        out.write("{not json\n")
        out.write(json.dumps({"url": "nope", "title": "x"}) + "\n")
        out.write(json.dumps(record, ensure_ascii=False) + "\n")  # the same article again
    db = tmp_path / "store.db"

    imported = marsad("import", "--db", str(db), "--json", str(feed), cwd=tmp_path)
    assert imported.returncode == 0, imported.stderr
    assert json.loads(imported.stdout) == {
        "new": 1,
        "copy": 0,
        "known": 1,
        "bad": 2,
        "alerts": 0,
        "suppressed": 0,
    }
    assert f"{feed}:2: skipped: invalid JSON" in imported.stderr
    assert f"{feed}:3: skipped: url" in imported.stderr

    exported = marsad("export", "--db", str(db), "--format", "jsonl", cwd=tmp_path)
    assert exported.returncode == 0, exported.stderr
    rows = [json.loads(line) for line in exported.stdout.splitlines()]
    assert len(rows) == 1
    row = rows[0]
    assert row["url"] == record["url"]
    assert row["canonical_url"] == "https://news.example.org/world/k1"
    assert row["title"] == record["title"]
    assert row["text"] == record["text"]
    assert row["source"] == "news.example.org"
    assert row["published"] == "2020-03-29T07:00:00Z"
    assert row["story_id"] == 1
    assert row["duplicate_of"] is None

    rules = tmp_path / "rules.toml"
    rules.write_text(RULES_TOML, encoding="utf-8")
    query = {"id": row["id"], "title": row["title"], "text": row["text"]}
    matched = marsad(
        "match",
        "--rules",
        str(rules),
        stdin=json.dumps(query, ensure_ascii=False) + "\n",
        cwd=tmp_path,
    )
    assert matched.returncode == 0, matched.stderr
    out = json.loads(matched.stdout)
    assert out["id"] == row["id"]
    found = {(m["rule"], m["field"], m["surface"]) for m in out["matches"]}
    assert {
        ("withdrawal", "title", "انسحاب"),
        ("withdrawal", "body", "الانسحاب"),
        ("bases", "body", "K1"),
        ("bases", "body", "القيارة"),
        ("bases", "body", "عين الاسد"),
    } <= found
    for m in out["matches"]:
        source = row["title"] if m["field"] == "title" else row["text"]
        assert source[m["start"] : m["end"]] == m["surface"]
    # Nothing about the president named al-Assad or other bases in this text.
    assert all(m["keyword"] in {"انسحاب", "عين الأسد", "القيارة", "K1"} for m in out["matches"])


def test_match_rejects_invalid_rules_with_the_rule_name(tmp_path: Path) -> None:
    rules = tmp_path / "bad.toml"
    rules.write_text('[[rules]]\nname = "empty"\nkeywords = []\n', encoding="utf-8")
    result = marsad("match", "--rules", str(rules), stdin="", cwd=tmp_path)
    assert result.returncode == 2
    assert "'empty'" in result.stderr and "keywords" in result.stderr
    assert "Traceback" not in result.stderr


def test_match_reports_bad_input_lines(tmp_path: Path) -> None:
    rules = tmp_path / "rules.toml"
    rules.write_text(RULES_TOML, encoding="utf-8")
    stdin = 'oops\n{"id": 7, "title": "انسحاب", "text": ""}\n'
    result = marsad("match", "--rules", str(rules), stdin=stdin, cwd=tmp_path)
    assert result.returncode == 0
    assert "stdin:1: skipped" in result.stderr
    assert json.loads(result.stdout)["id"] == 7
