"""Through the real CLI: a store that cannot be opened and a secret that is not set are one line
each, before anything starts; the commands that only read need no secret.

Each case is its own ``marsad`` process; a test starts its cases together, since most of each
one's time is Python starting up."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

MARSAD = [sys.executable, "-c", "from marsad.cli import main; main()"]
SECRET = "MARSAD_TEST_UNSET_SECRET"

CONFIG = f"""
[store]
path = "store.db"

[[feeds]]
name = "site"
url = "http://127.0.0.1:9/rss.xml"

[channels.ops]
type = "webhook"
url = "http://127.0.0.1:9/hook"
secret_env = "{SECRET}"
"""

# Each command with the arguments that get it to open the store.
COMMANDS = {
    "import": ["import", "articles.jsonl"],
    "search": ["search", "خبر"],
    "crawl": ["crawl"],
    "run": ["run"],
    "deliver": ["deliver"],
}
NOT_SQLITE = "marsad: cannot open store notes.txt: not an SQLite database (is --db the right file?)"
A_DIRECTORY = "marsad: cannot open store folder: it is a directory (--db names the store's file)"
UNSET = (
    f"marsad: config error: marsad.toml: channels.ops: environment variable {SECRET} is not set; "
    "set it, or remove the channel, to start"
)


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    (tmp_path / "marsad.toml").write_text(CONFIG, encoding="utf-8")
    (tmp_path / "articles.jsonl").write_text(
        '{"url": "https://a.example/1", "title": "خبر", "text": "نص"}\n', encoding="utf-8"
    )
    (tmp_path / "notes.txt").write_text("not a database, only notes\n" * 100, encoding="utf-8")
    (tmp_path / "folder").mkdir()
    return tmp_path


def run_together(
    cwd: Path, cases: dict[str, list[str]], *, secret: str | None
) -> dict[str, subprocess.CompletedProcess[str]]:
    """Run ``marsad ARGS`` for every case at once; ``secret`` is the channel's variable, or
    None to leave it unset."""
    env = {k: v for k, v in os.environ.items() if k != SECRET}
    if secret is not None:
        env[SECRET] = secret
    started = {
        name: subprocess.Popen(
            [*MARSAD, *args],
            cwd=cwd,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for name, args in cases.items()
    }
    done = {}
    try:
        for name, process in started.items():
            out, err = process.communicate(timeout=120)
            done[name] = subprocess.CompletedProcess(process.args, process.returncode, out, err)
    finally:
        for process in started.values():
            if process.poll() is None:
                process.kill()
                process.communicate()
    return done


def one_line_error(name: str, result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 2, (name, result.stderr)
    assert "Traceback" not in result.stderr, (name, result.stderr)
    lines = result.stderr.splitlines()
    assert len(lines) == 1, (name, result.stderr)
    return lines[0]


def test_a_store_that_cannot_be_opened_is_one_line_for_every_command(workdir: Path) -> None:
    cases = {
        f"{c} on a text file": [*COMMANDS[c], "--db", "notes.txt"]
        for c in ("import", "search", "crawl", "run", "deliver")
    }
    cases |= {f"{c} on a directory": [*COMMANDS[c], "--db", "folder"] for c in ("import", "run")}
    # Under /proc nobody can create a file, not even root (these tests may run as root).
    cases |= {
        f"{c} where no file can be made": [*COMMANDS[c], "--db", "/proc/marsad-test.db"]
        for c in ("import", "deliver")
    }
    for name, result in run_together(workdir, cases, secret="s3cret").items():
        message = one_line_error(name, result)
        if "text file" in name:
            assert message == NOT_SQLITE, name
        elif "directory" in name:
            assert message == A_DIRECTORY, name
        else:
            assert message.startswith("marsad: cannot open store /proc/marsad-test.db: "), name


def test_a_command_that_sends_refuses_to_start_naming_the_unset_variable(workdir: Path) -> None:
    cases = {command: COMMANDS[command] for command in ("run", "crawl", "deliver")}
    for name, result in run_together(workdir, cases, secret=None).items():
        assert one_line_error(name, result) == UNSET, name
    assert not (workdir / "store.db").exists()  # refused before anything started


def test_the_commands_that_only_read_need_no_secret(workdir: Path) -> None:
    imported = run_together(workdir, {"import": COMMANDS["import"]}, secret=None)["import"]
    assert imported.returncode == 0, imported.stderr
    reading = {"search": COMMANDS["search"], "stats": ["stats"], "held": ["alerts", "--suppressed"]}
    for name, result in run_together(workdir, reading, secret=None).items():
        assert result.returncode == 0, (name, result.stderr)
    # With the secret set, delivering starts (nothing is due).
    delivered = run_together(workdir, {"deliver": ["deliver"]}, secret="s3cret")["deliver"]
    assert delivered.returncode == 0, delivered.stderr
    assert delivered.stdout.startswith("0 sent, 0 to retry, 0 dead")
