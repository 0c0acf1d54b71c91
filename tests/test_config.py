from __future__ import annotations

from pathlib import Path

import pytest

from marsad.config import ConfigError, load_config

ROOT = Path(__file__).resolve().parents[1]


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "marsad.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_example_config_is_valid() -> None:
    config = load_config(ROOT / "marsad.example.toml")
    assert len(config.feeds) >= 6
    assert {r.name for r in config.rules} == {"withdrawal", "iraq-bases", "base-attacks"}
    assert config.store_path == ROOT / "marsad.db"


def test_minimal_config(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
[store]
path = "x.db"
[[feeds]]
name = "a"
url = "https://example.org/rss.xml"
every = "5m"
[[rules]]
name = "w"
keywords = ["انسحاب", "عين الأسد"]
channels = ["ops"]
[channels.ops]
type = "webhook"
url = "https://hooks.example.org/m"
secret_env = "SECRET"
""",
    )
    config = load_config(path)
    assert config.store_path == tmp_path / "x.db"
    assert config.feeds[0].every == 300
    assert config.feeds[0].source == "a"
    assert [k.text for k in config.rules[0].any_of] == ["انسحاب", "عين الأسد"]
    assert load_config(path, db_override="/tmp/other.db").store_path == Path("/tmp/other.db")


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("[[feeds]]\nname='a'\nurl='ftp://x'\n", "feeds[0] 'a'.url: must be an http(s) URL"),
        ("[[feeds]]\nname='a'\nurl='https://x.org'\nevery='often'\n", "feeds[0] 'a'.every"),
        ("[[feeds]]\nname='a'\nurl='https://x.org'\nevery='1s'\n", "from 10s"),
        ("[[rules]]\nname='r'\n", "rules[0] 'r': keywords: must be a list"),
        ("[[rules]]\nname='r'\nkeywords=[]\n", "rules[0] 'r': keywords: required"),
        ("[[rules]]\nname='r'\nkeywords=['x']\nchannels=['nope']\n", "no channel named 'nope'"),
        ("[channels.ops]\ntype='pager'\n", "channels.ops.type"),
        ("[channels.ops]\ntype='email'\nto=['nobody']\n", "channels.ops.to"),
        ("[channels.ops]\ntype='email'\nto=['a@b.c']\nstarttls=true\nssl=true\n", "choose one"),
        ("[crawl]\ndelay=-1\n", "crawl.delay"),
        ("[bogus]\n", "bogus: unknown section"),
        ("[[feeds]]\nname='a'\nurl='https://x.org'\ncolour='red'\n", "feeds[0].colour"),
        ("not toml = = 1", "invalid TOML"),
    ],
)
def test_invalid_configs_name_the_key(tmp_path: Path, body: str, message: str) -> None:
    path = write(tmp_path, body)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert message in str(info.value)
    assert str(path) in str(info.value)


def test_missing_file_is_reported(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "absent.toml")


def test_a_feed_kind_must_be_one_the_crawler_has_a_spider_for(tmp_path: Path) -> None:
    path = tmp_path / "marsad.toml"
    path.write_text(
        '[[feeds]]\nname = "a"\nurl = "https://a.example/rss"\nkind = "rss"\n'
        '[[feeds]]\nname = "b"\nurl = "https://b.example/sitemap.xml"\nkind = "gopher"\n',
        encoding="utf-8",
    )
    with pytest.raises(
        ConfigError, match=r"feeds\[1\] 'b'.kind: must be one of rss, sitemap, got 'gopher'"
    ):
        load_config(path)
    path.write_text('[[feeds]]\nname = "a"\nurl = "https://a.example/rss"\n', encoding="utf-8")
    assert load_config(path).feeds[0].kind == "rss"


FEED = "[[feeds]]\nname='a'\nurl='https://x.org'\n"
HOOK = "[channels.ops]\ntype='webhook'\nurl='https://h.example/'\n"
MAIL = "[channels.ops]\ntype='email'\nto=['a@b.c']\n"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        # Infinity, NaN and the huge validated before and broke at start or never returned.
        (FEED + "every = inf\n", "feeds[0] 'a'.every: must be a duration from 10s to 1w"),
        (FEED + "every = 1e300\n", "feeds[0] 'a'.every: must be a duration from 10s to 1w"),
        (FEED + "every = '9999999d'\n", "feeds[0] 'a'.every: must be a duration from 10s to 1w"),
        (FEED + "every = '1s'\n", "feeds[0] 'a'.every: must be a duration from 10s to 1w"),
        ("[crawl]\ndelay = inf\n", "crawl.delay: must be a duration from 0s to 10m"),
        ("[crawl]\ndelay = nan\n", "crawl.delay: must be a duration from 0s to 10m"),
        ("[crawl]\ndelay = -1\n", "crawl.delay: must be a duration from 0s to 10m"),
        ("[crawl]\ndownload_timeout = nan\n", "crawl.download_timeout: must be a duration from"),
        ("[crawl]\nmax_backoff = inf\n", "crawl.max_backoff: must be a duration from 1m to 30d"),
        ("[crawl]\nmax_page_bytes = 10\n", "crawl.max_page_bytes: must be a whole number from"),
        (
            "[crawl]\nconcurrency_per_domain = 100000\n",
            "crawl.concurrency_per_domain: must be a whole number from 1 to 32, got 100000",
        ),
        ("[crawl]\nmax_articles_per_feed = 0\n", "crawl.max_articles_per_feed: must be a whole"),
        (
            "[crawl]\nconcurrency = 0\n",
            "crawl.concurrency: must be a whole number from 1 to 1,024, got 0",
        ),
        ("[crawl]\nworkers = 65\n", 'crawl.workers: must be "auto" or a whole number from 0 to 64'),
        ("[crawl]\nworkers = 'many'\n", 'crawl.workers: must be "auto" or a whole number'),
        ("[delivery]\nevery = inf\n", "delivery.every: must be a duration from 1s to 1d"),
        ("[delivery]\nmax_attempts = 10000\n", "delivery.max_attempts: must be a whole number"),
        ("[delivery]\nbackoff_base = nan\n", "delivery.backoff_base: must be a duration"),
        (
            "[delivery]\nbackoff_base = '1h'\nbackoff_max = '10m'\n",
            "delivery.backoff_max: must be at least backoff_base (1h), got 10m",
        ),
        ("[alerts]\nwindow = inf\n", "alerts.window: must be a duration from 1h to 365d"),
        ("[alerts]\nwindow = '5s'\n", "alerts.window: must be a duration from 1h to 365d"),
        (HOOK + "timeout = nan\n", "channels.ops.timeout: must be a duration from 0.1s to 10m"),
        (HOOK + "timeout = inf\n", "channels.ops.timeout: must be a duration from 0.1s to 10m"),
        (MAIL + "timeout = '1d'\n", "channels.ops.timeout: must be a duration from 0.1s to 10m"),
        # Every section rejects a key it does not know.
        ("[store]\npath = 'x.db'\npth = 'y.db'\n", "store.pth: unknown key (known: path)"),
        ("[store]\npath = 3\n", "store.path: must be a non-empty string, got 3"),
        ("[alerts]\nwindows = '3d'\n", "alerts.windows: unknown key (known: window)"),
        ("[delivery]\nevry = '1m'\n", "delivery.evry: unknown key"),
        (HOOK + "timout = 5\n", "channels.ops.timout: unknown key"),
    ],
)
def test_a_number_out_of_its_range_is_refused_saying_the_range(
    tmp_path: Path, body: str, message: str
) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, body))
    assert message in str(info.value)


def test_one_duration_syntax_everywhere(tmp_path: Path) -> None:
    """`timeout = "10s"` was refused where `download_timeout = "30s"` was accepted."""
    path = write(
        tmp_path,
        FEED
        + "every = '1w'\n"
        + HOOK
        + "timeout = '10s'\n"
        + "[crawl]\ndelay = '1.5s'\ndownload_timeout = 30\nmax_backoff = '2d'\n"
        + "[delivery]\nevery = '90'\nbackoff_base = '1m'\nbackoff_max = '1w'\n"
        + "[alerts]\nwindow = '2w'\n",
    )
    config = load_config(path)
    assert config.feeds[0].every == 7 * 86400
    assert config.channels["ops"].timeout == 10  # type: ignore[attr-defined]
    assert (config.crawl.delay, config.crawl.download_timeout) == (1.5, 30)
    assert config.crawl.max_backoff == 2 * 86400
    assert (config.delivery.every, config.delivery.backoff_base) == (90, 60)
    assert config.delivery.backoff_max == 7 * 86400
    assert config.alerts.window == 14 * 86400


@pytest.mark.parametrize("off", ["'off'", "0", "false"])
def test_the_alert_window_can_be_turned_off(tmp_path: Path, off: str) -> None:
    assert load_config(write(tmp_path, f"[alerts]\nwindow = {off}\n")).alerts.window is None
    assert load_config(write(tmp_path, "")).alerts.window == 3 * 86400


def test_crawl_workers_are_auto_by_default_or_a_number(tmp_path: Path) -> None:
    path = tmp_path / "marsad.toml"
    path.write_text("[crawl]\n", encoding="utf-8")
    assert load_config(path).crawl.workers is None  # auto: one per core but one
    path.write_text("[crawl]\nworkers = 0\nconcurrency = 128\n", encoding="utf-8")
    crawl = load_config(path).crawl
    assert (crawl.workers, crawl.concurrency) == (0, 128)
