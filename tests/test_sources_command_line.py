"""--config, --db and --json before the command as well as after it (`marsad --db x.db search
...` said "No such option" before), and --json on `marsad deliver`. Each as a real process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

MARSAD = [sys.executable, "-c", "from marsad.cli import main; main()"]
ARTICLE = {
    "url": "https://harbour.example/news/pier",
    "source": "harbour.example",
    "title": "افتتاح الرصيف الجديد في الميناء",
    "text": "افتتحت البلدية صباح اليوم الرصيف الجديد في الميناء بعد عامين من العمل.",
    "published": "2024-05-12T09:00:00+03:00",
}


def marsad(
    *args: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*MARSAD, *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=60,
        check=False,
        env={**os.environ, **(env or {})},
    )


def test_global_options_before_the_command(tmp_path: Path) -> None:
    lines = tmp_path / "one.jsonl"
    lines.write_text(json.dumps(ARTICLE, ensure_ascii=False) + "\n", encoding="utf-8")
    store = tmp_path / "x.db"
    imported = marsad("--db", str(store), "--json", "import", str(lines), cwd=tmp_path)
    assert imported.returncode == 0, imported.stderr
    assert json.loads(imported.stdout)["new"] == 1

    searched = marsad("--db", str(store), "search", "الرصيف", cwd=tmp_path)
    assert searched.returncode == 0, searched.stderr
    assert ARTICLE["title"] in searched.stdout
    both = marsad("--json", "search", "--db", str(store), "الرصيف", cwd=tmp_path)
    assert [hit["url"] for hit in json.loads(both.stdout)] == [ARTICLE["url"]]
    # After the command wins over before it: this store does not exist.
    other = marsad("--db", str(store), "search", "--db", "missing.db", "الرصيف", cwd=tmp_path)
    assert other.returncode == 2
    assert (
        other.stderr
        == "marsad: no store at missing.db: run `marsad import` or `marsad run` first\n"
    )
    # Before a group's subcommand too; and over the environment's config.
    config = tmp_path / "other.toml"
    config.write_text('[[feeds]]\nname = "a"\nurl = "https://a.example/rss"\n', encoding="utf-8")
    listed = marsad(
        "--config", str(config), "--json", "feeds", "list",
        cwd=tmp_path, env={"MARSAD_CONFIG": str(tmp_path / "nowhere.toml")},
    )  # fmt: skip
    assert listed.returncode == 0, listed.stderr
    assert [feed["name"] for feed in json.loads(listed.stdout)] == ["a"]

    delivered = marsad("--db", str(store), "--json", "deliver", cwd=tmp_path)
    assert delivered.returncode == 0, delivered.stderr
    assert json.loads(delivered.stdout) == {
        "sent": 0,
        "retried": 0,
        "dead": 0,
        "lost": 0,
        "passes": 1,
        "ended": "nothing due",
        "left": {"due": 0, "held": 0, "waiting": 0, "next_attempt_at": None, "held_until": None},
        "errors": [],
        "interrupted": None,
    }


def test_an_option_that_does_not_apply_is_refused(tmp_path: Path) -> None:
    done = marsad("--db", "x.db", "demo", cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr.splitlines()[-1] == "Error: --db does not apply to `marsad demo`"
    assert not (tmp_path / "marsad-demo").exists()
