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
        ("[[feeds]]\nname='a'\nurl='https://x.org'\nevery='1s'\n", "rude"),
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
    with pytest.raises(ConfigError, match=r"feeds\[1\] 'b'.kind: must be one of rss, got 'gopher'"):
        load_config(path)
    path.write_text('[[feeds]]\nname = "a"\nurl = "https://a.example/rss"\n', encoding="utf-8")
    assert load_config(path).feeds[0].kind == "rss"
