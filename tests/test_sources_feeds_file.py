"""Editing a config's [[feeds]] (marsad.feeds_file) and `marsad feeds add/remove/list` on a real
file: comments and layout survive, every edit is validated, and a refused edit leaves the file
as it was, byte for byte."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
import tomllib
from pathlib import Path

import pytest

from marsad.config import ConfigError, load_config
from marsad.feeds_file import (
    FeedsFileError,
    NewFeed,
    add_feeds,
    edit_config,
    remove_feed,
    suggest_name,
)

MARSAD = [sys.executable, "-c", "from marsad.cli import main; main()"]

CONFIG = """\
# marsad for the newsroom — edited by hand and by `marsad feeds`.
[store]
path = "newsroom.db"  # next to this file

# The agency's wire: polled often.
[[feeds]]
name = "wire"   # short names read well in logs
url = "https://wire.example/rss.xml"
every = "2m"

# Two outlets of one group.
# (Both in Arabic.)
[[feeds]]
name = "madina"
url = "https://madina.example/feed"
source = "مجموعة المدينة"
# kind = "sitemap" once they publish one

# ---- watch rules ----

[[rules]]
name = "ports"
keywords = ["ميناء"]   # the word, not the city
"""


def marsad(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*MARSAD, *args], capture_output=True, text=True, cwd=cwd, timeout=60, check=False
    )


def test_add_goes_after_the_last_feed_and_keeps_everything_else() -> None:
    new = add_feeds(CONFIG, [NewFeed("port", "https://port.example/news.atom", every="30m")])
    before, after = CONFIG.split("# ---- watch rules ----")
    assert new == (
        before.rstrip("\n")
        + '\n\n[[feeds]]\nname = "port"\nurl = "https://port.example/news.atom"\nevery = "30m"\n'
        + "\n# ---- watch rules ----"
        + after
    )
    assert [f["name"] for f in tomllib.loads(new)["feeds"]] == ["wire", "madina", "port"]


def test_remove_takes_the_comments_above_a_feed_and_nothing_else() -> None:
    without_wire = remove_feed(CONFIG, "wire")
    assert "The agency's wire" not in without_wire and "short names" not in without_wire
    assert without_wire == CONFIG.replace(
        '# The agency\'s wire: polled often.\n[[feeds]]\nname = "wire"   # short names read '
        'well in logs\nurl = "https://wire.example/rss.xml"\nevery = "2m"\n\n',
        "",
    )
    without_madina = remove_feed(CONFIG, "madina")
    # Its two comment lines and its commented-out key go; the rules' heading stays.
    assert "Two outlets" not in without_madina and "kind = " not in without_madina
    assert "# ---- watch rules ----" in without_madina
    assert without_madina.startswith(CONFIG[: CONFIG.index("# Two outlets")])
    # Both gone: no [[feeds]] left, the rest as it was.
    neither = remove_feed(without_madina, "wire")
    assert "feeds" not in tomllib.loads(neither)
    assert neither.endswith(CONFIG[CONFIG.index("# ---- watch rules ----") :])


def test_first_feed_of_a_file_and_of_no_file() -> None:
    assert add_feeds("", [NewFeed("a", "https://a.example/rss")]).endswith(
        '\n\n[[feeds]]\nname = "a"\nurl = "https://a.example/rss"\n'
    )
    store_only = '[store]\npath = "x.db"'  # no newline at the end
    assert add_feeds(store_only, [NewFeed("a", "https://a.example/rss", kind="sitemap")]) == (
        '[store]\npath = "x.db"\n\n[[feeds]]\nname = "a"\nurl = "https://a.example/rss"\n'
        'kind = "sitemap"\n'
    )


def test_inline_feeds_array_is_edited_in_place() -> None:
    text = 'feeds = [\n  {name = "a", url = "https://a.example/"},  # first\n]\n'
    added = add_feeds(text, [NewFeed("b", "https://b.example/")])
    assert added == (
        'feeds = [\n  {name = "a", url = "https://a.example/"},  # first\n'
        '  {name = "b", url = "https://b.example/"},\n]\n'
    )
    assert [f["name"] for f in tomllib.loads(remove_feed(added, "a"))["feeds"]] == ["b"]


def test_header_lookalikes_inside_strings_and_arrays_are_not_tables() -> None:
    text = (
        '[[rules]]\nname = "r"\nkeywords = [\n  "x",\n]\nnote = """\n[[feeds]]\n"""\n'
        "matrix = [\n[1, 2],\n]\n\n"
        '[[feeds]]\nname = "a"\nurl = "https://a.example/"\n'
    )
    assert [f["name"] for f in tomllib.loads(remove_feed(text, "a")).get("feeds", [])] == []
    assert '[[feeds]]\n"""' in remove_feed(text, "a")  # the string is untouched


def test_removing_a_feed_that_is_not_there_names_those_that_are() -> None:
    with pytest.raises(FeedsFileError) as caught:
        remove_feed(CONFIG, "nope")
    assert str(caught.value) == "no feed named 'nope' in the config (feeds: 'wire', 'madina')"


@pytest.mark.parametrize(
    ("feed", "message"),
    [
        (NewFeed("wire", "https://other.example/"), "a feed named 'wire' is already in the config"),
        (NewFeed("w2", "https://WIRE.example/rss.xml#top"), "is already followed, as 'wire'"),
    ],
)
def test_duplicates_are_refused(feed: NewFeed, message: str) -> None:
    with pytest.raises(FeedsFileError, match=message):
        add_feeds(CONFIG, [feed])


def test_suggested_names() -> None:
    assert suggest_name("  أخبار   الساحل ", "https://x.example/", set()) == "أخبار الساحل"
    assert suggest_name("", "https://www.sahel.example/rss", {"sahel.example"}) == "sahel.example-2"
    assert suggest_name("", "https://feeds.bbc.example/a", set()) == "bbc.example"


def test_edit_config_writes_a_linked_file_where_it_lives(tmp_path: Path) -> None:
    real = tmp_path / "real" / "marsad.toml"
    real.parent.mkdir()
    real.write_text(CONFIG, encoding="utf-8")
    real.chmod(0o640)
    link = tmp_path / "marsad.toml"
    link.symlink_to(real)
    edited = edit_config(link, lambda t: add_feeds(t, [NewFeed("p", "https://p.example/")]))
    assert link.is_symlink() and real.read_text(encoding="utf-8") == edited.text
    assert [f.name for f in edited.config.feeds] == ["wire", "madina", "p"]
    assert real.stat().st_mode & 0o777 == 0o640
    assert not list(real.parent.glob(".*.tmp"))


def test_cli_add_remove_list_keep_comments(tmp_path: Path) -> None:
    config = tmp_path / "marsad.toml"
    config.write_text(CONFIG, encoding="utf-8")
    added = marsad(
        "feeds", "add", "https://port.example/news.atom", "--no-fetch", "--every", "30m",
        "--name", "port", cwd=tmp_path,
    )  # fmt: skip
    assert added.returncode == 0, added.stderr
    assert added.stdout.splitlines()[0] == (
        "added feed 'port' (rss, every 30m): https://port.example/news.atom → marsad.toml"
    )
    listed = marsad("--json", "feeds", "list", cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    assert [(r["name"], r["every"], r["state"]) for r in json.loads(listed.stdout)] == [
        ("wire", "2m", "not polled yet"),
        ("madina", "10m", "not polled yet"),
        ("port", "30m", "not polled yet"),
    ]
    removed = marsad("feeds", "remove", "port", cwd=tmp_path)
    assert removed.returncode == 0, removed.stderr
    # Added and removed again: the file is what it was, comments and all.
    assert config.read_text(encoding="utf-8") == CONFIG


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["add", "notaurl", "--no-fetch"], "marsad: not an http(s) URL: 'notaurl'"),
        (
            ["add", "https://x.example/", "--no-fetch", "--name", "wire"],
            "marsad: a feed named 'wire' is already in the config (https://wire.example/rss.xml):"
            " choose another --name (marsad.toml is unchanged)",
        ),
        (
            ["add", "https://x.example/", "--no-fetch", "--every", "2s"],
            "marsad: marsad.toml: feeds[2] 'x.example'.every: ",
        ),
    ],
)
def test_cli_refusals_are_one_line_and_leave_the_file_untouched(
    tmp_path: Path, args: list[str], message: str
) -> None:
    config = tmp_path / "marsad.toml"
    config.write_text(CONFIG, encoding="utf-8")
    before = config.stat()
    done = marsad("feeds", *args, cwd=tmp_path)
    assert done.returncode == 1
    assert done.stdout == ""
    assert len(done.stderr.splitlines()) == 1 and done.stderr.startswith(message), done.stderr
    assert config.read_bytes() == CONFIG.encode("utf-8")
    assert (config.stat().st_ino, config.stat().st_mtime_ns) == (before.st_ino, before.st_mtime_ns)


def test_parallel_adds_all_land(tmp_path: Path) -> None:
    config = tmp_path / "marsad.toml"
    config.write_text(CONFIG, encoding="utf-8")
    runs = [
        subprocess.Popen(
            [*MARSAD, "feeds", "add", f"https://n{n}.example/rss", "--no-fetch"],
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for n in range(4)
    ]
    for run in runs:
        _, err = run.communicate(timeout=60)
        assert run.returncode == 0, err
    names = [f["name"] for f in tomllib.loads(config.read_text(encoding="utf-8"))["feeds"]]
    assert sorted(names) == sorted(["wire", "madina", *(f"n{n}.example" for n in range(4))])


def test_a_reader_never_sees_half_an_edit(tmp_path: Path) -> None:
    """What a daemon reloading its config (SIGHUP, #14) would see while feeds are added: the
    file before an edit or after it, never part of one."""
    config = tmp_path / "marsad.toml"
    config.write_text(CONFIG, encoding="utf-8")
    done = threading.Event()
    seen: set[int] = set()
    errors: list[str] = []

    def reload_again_and_again() -> None:
        deadline = time.monotonic() + 30
        while not done.is_set() and time.monotonic() < deadline:
            try:
                seen.add(len(load_config(config).feeds))
            except ConfigError as exc:
                errors.append(str(exc))

    reader = threading.Thread(target=reload_again_and_again)
    reader.start()
    try:
        for n in range(30):
            feed = NewFeed(f"n{n}", f"https://n{n}.example/rss")
            edit_config(config, lambda text, feed=feed: add_feeds(text, [feed]))
    finally:
        done.set()
        reader.join(timeout=30)
    assert errors == []
    assert len(load_config(config).feeds) == 32
    assert seen and seen <= set(range(2, 33))
