"""A feed's state follows its URL; feeds leave the config retired; a person can reset a feed; and
`marsad crawl` says with its exit code what a cron job needs to know (#10 item 5).

Real crawls of tests/feedserver.py: in a fresh process through tests/crawlrun.py, or `marsad
crawl` itself as a subprocess where the exit code is the point.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from marsad.cli import cli
from marsad.storage.db import open_store
from tests.crawlrun import crawl_in_subprocess
from tests.feedserver import FeedServer

MARSAD = [sys.executable, "-c", "from marsad.cli import main; main()"]
CRAWL = {
    "download_timeout": 3.0,
    "delay": 0.0,
    "concurrency_per_domain": 4,
    "allow_private": ["127.0.0.0/8", "localhost"],
}


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


def feeds_json(store: Path, *args: str) -> dict[str, dict[str, Any]]:
    result = CliRunner().invoke(cli, ["feeds", "--json", "--db", str(store), *args])
    assert result.exit_code == 0, result.output
    return {row["name"]: row for row in json.loads(result.stdout)}


def feed_rows(feeds: list[tuple[str, str]]) -> list[dict[str, Any]]:
    return [{"name": n, "url": u, "every": 600.0, "source": n} for n, u in feeds]


def snapshot(name: str) -> str:
    """A statement for a crawl step: feed_health as it is now, to read after the crawl."""
    return f"CREATE TABLE {name} AS SELECT * FROM feed_health"


def rows(store: Path, table: str) -> dict[str, dict[str, Any]]:
    db = open_store(store)
    try:
        return {row["name"]: row for row in db.query(f"SELECT * FROM {table}")}
    finally:
        db.close()


def test_a_changed_url_starts_fresh(tmp_path: Path) -> None:
    store = tmp_path / "marsad.db"
    with FeedServer() as server:
        broken = server.url("/feeds/error.xml")
        fixed = server.serve_numbered(2)
        steps = [
            {"feeds": feed_rows([("sahel", broken)])},
            # The publisher moved the feed; the config says so. No waiting out the old back-off.
            {"sql": [snapshot("before")], "feeds": feed_rows([("sahel", fixed)])},
        ]
        failed, moved = crawl_in_subprocess(spec(store, [("sahel", broken)], steps=steps), tmp_path)
    assert failed["feeds_failed"] == 1
    before = rows(store, "before")["sahel"]
    assert before["state"] == "failing" and before["backoff_until"]
    assert (moved["feeds_skipped_backoff"], moved["feeds_ok"]) == (0, 1)
    after = feeds_json(store)["sahel"]
    assert after["url"] == fixed
    assert (after["state"], after["consecutive_failures"], after["last_error"]) == ("ok", 0, None)


def test_feeds_left_out_of_the_config_are_retired_never_failing(tmp_path: Path) -> None:
    store = tmp_path / "marsad.db"
    with FeedServer() as server:
        good = ("sahel", server.serve_numbered(2))
        gone = ("gone", server.url("/feeds/error.xml"))
        steps = [
            {"feeds": feed_rows([good, gone])},
            {"sql": [snapshot("with_it")], "feeds": feed_rows([good])},
            # Back in the config, it is watched again; then it leaves for good.
            {"sql": [snapshot("without_it")], "feeds": feed_rows([good, gone])},
            {"sql": [snapshot("back")], "feeds": feed_rows([good])},
        ]
        reports = crawl_in_subprocess(spec(store, [good, gone], steps=steps), tmp_path)
    assert rows(store, "with_it")["gone"]["state"] == "failing"
    assert reports[1]["feeds_failed"] == 0
    back = rows(store, "back")["gone"]
    assert back["retired_at"] is None and back["state"] == "failing"
    for retired in (rows(store, "without_it")["gone"], feeds_json(store)["gone"]):
        assert retired["state"] == "retired"
        assert retired["retired_at"]
        assert retired["last_error"]  # kept for history
    assert list(feeds_json(store, "--failing")) == []
    stats = CliRunner().invoke(cli, ["stats", "--json", "--db", str(store)])
    assert stats.exit_code == 0, stats.output
    assert json.loads(stats.stdout)["totals"]["feeds_failing"] == 0


def test_feeds_reset_clears_the_back_off(tmp_path: Path) -> None:
    store = tmp_path / "marsad.db"
    with FeedServer() as server:
        feed = ("down", server.url("/feeds/error.xml"))
        _, skipped = crawl_in_subprocess(spec(store, [feed], 2), tmp_path)
        assert skipped["feeds_skipped_backoff"] == 1

        reset = CliRunner().invoke(cli, ["feeds", "reset", "down", "--db", str(store)])
        assert reset.exit_code == 0, reset.output
        assert "down" in reset.stdout
        state = feeds_json(store)["down"]
        assert (state["consecutive_failures"], state["backoff_until"]) == (0, None)
        assert state["last_error"] is None
        server.clear_log()
        (again,) = crawl_in_subprocess(spec(store, [feed]), tmp_path)
        assert again["feeds_failed"] == 1
        assert "/feeds/error.xml" in server.paths()

    unknown = CliRunner().invoke(cli, ["feeds", "reset", "nowhere", "--db", str(store)])
    assert unknown.exit_code == 1
    assert "no feed named 'nowhere'" in unknown.stderr


# -- `marsad crawl`: exit codes a cron job can trust ----------------------------------------------


def write_config(tmp_path: Path, feeds: list[tuple[str, str]]) -> Path:
    config = tmp_path / "marsad.toml"
    tables = "".join(
        f'\n[[feeds]]\nname = "{name}"\nurl = "{url}"\nevery = "10m"\n' for name, url in feeds
    )
    config.write_text(
        '[store]\npath = "store.db"\n\n[crawl]\ndelay = 0\ndownload_timeout = "3s"\n'
        'allow_private = ["127.0.0.0/8", "localhost"]\n' + tables,
        encoding="utf-8",
    )
    return config


def crawl(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*MARSAD, "crawl", "--config", str(tmp_path / "marsad.toml"), *args],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_crawl_exit_codes_and_force(tmp_path: Path) -> None:
    with FeedServer() as server:
        good = ("sahel", server.serve_numbered(2))
        down = ("down", server.url("/feeds/error.xml"))
        write_config(tmp_path, [good, down])
        partial = crawl(tmp_path)
        assert partial.returncode == 3, partial.stderr[-3000:]

        write_config(tmp_path, [down])
        # The only feed backs off: nothing was fetched, and that is not success.
        waiting = crawl(tmp_path, "--once")
        assert waiting.returncode == 4, waiting.stderr[-3000:]
        server.clear_log()
        forced = crawl(tmp_path, "--once", "--force", "--json")
        assert forced.returncode == 1, forced.stderr[-3000:]
        report = json.loads(forced.stdout)  # the crawl's report, for scripts
        assert (report["feeds_failed"], report["feeds_ok"]) == (1, 0)
        assert "HTTP 500" in report["errors"][0]
        assert "/feeds/error.xml" in server.paths()

        write_config(tmp_path, [good])
        fine = crawl(tmp_path)
        assert fine.returncode == 0, fine.stderr[-3000:]

    feeds = rows(tmp_path / "store.db", "feeds")
    assert [name for name, row in feeds.items() if row["retired_at"]] == ["down"]


def test_crawl_help_documents_its_exit_codes() -> None:
    result = CliRunner().invoke(cli, ["crawl", "--help"])
    assert result.exit_code == 0
    text = " ".join(result.stdout.split())
    for code in ("0 ", "1 ", "2 ", "3 ", "4 "):
        assert code in text
    assert "--force" in text
    assert "back" in text and "partial" in text.lower()
