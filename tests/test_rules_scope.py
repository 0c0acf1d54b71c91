"""Rules scoped to feeds, sources and languages: parsed and checked, applied at match time on
the ingest path (a crawl over a loopback feed server, ``marsad import``) and by ``rules test``."""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from marsad.alerts.matching import compile_rules
from marsad.alerts.rules import Origin, Rule, RuleError, Scope, load_rules_file, parse_rules
from marsad.cli import cli
from marsad.storage.db import open_store
from tests.feedserver import FeedServer

MARSAD = [sys.executable, "-c", "from marsad.cli import main; main()"]
TEXT = "أعلن التحالف الانسحاب من القاعدة الجوية بعد سنوات من الوجود فيها وسط ترقب كبير."


def test_scope_keys_are_parsed_and_normalised() -> None:
    (rule,) = parse_rules(
        tomllib.loads(
            """
            [[rules]]
            name = "r"
            keywords = ["انسحاب"]
            sources = ["Al Jazeera", "WWW.BBC.com", "https://www.france24.com/ar/"]
            feeds = ["jazeera"]
            languages = ["ar-EG", "AR", "en"]
            """
        )["rules"],
        feeds=["jazeera", "bbc"],
    )
    assert rule.scope == Scope(
        sources=("Al Jazeera", "bbc.com", "france24.com"),
        feeds=("jazeera",),
        languages=("ar", "en"),
    )


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (
            {"feeds": ["nowhere"]},
            "rules[0] 'r': feeds: no feed named 'nowhere' (defined: bbc, jazeera)",
        ),
        (
            {"languages": ["Arabic"]},
            "rules[0] 'r': languages[0]: 'Arabic' is not a language code",
        ),
        ({"languages": "ar"}, "rules[0] 'r': languages: must be a list of strings, got str"),
        ({"sources": [""]}, "rules[0] 'r': sources[0]: must be a non-empty string"),
        ({"sources": ["https:///x"]}, "rules[0] 'r': sources: 'https:///x' is a URL without"),
    ],
)
def test_scope_errors_name_the_rule_and_the_key(extra: dict[str, Any], message: str) -> None:
    with pytest.raises(RuleError) as caught:
        parse_rules([{"name": "r", "keywords": ["انسحاب"], **extra}], feeds=["jazeera", "bbc"])
    assert str(caught.value).startswith(message)
    assert "\n" not in str(caught.value)


def test_a_rules_file_with_feeds_has_its_rules_feeds_checked(tmp_path: Path) -> None:
    path = tmp_path / "marsad.toml"
    path.write_text(
        '[[feeds]]\nname = "alpha"\nurl = "https://a.example/feed"\n\n'
        '[[rules]]\nname = "r"\nkeywords = ["انسحاب"]\nfeeds = ["beta"]\n',
        encoding="utf-8",
    )
    with pytest.raises(RuleError, match=r"'r': feeds: no feed named 'beta' \(defined: alpha\)"):
        load_rules_file(path)


def test_scope_filters_the_rules_that_hit() -> None:
    rules = compile_rules(
        [
            Rule("anywhere", ("انسحاب",)),
            Rule("jazeera", ("انسحاب",), scope=Scope(feeds=("jazeera",))),
            Rule("bbc-site", ("انسحاب",), scope=Scope(sources=("bbc.com",))),
            Rule("english", ("انسحاب",), scope=Scope(languages=("en",))),
        ]
    )

    def fired(origin: Origin | None) -> list[str]:
        return sorted({m.rule for m in rules.match("", TEXT, origin)})

    jazeera = Origin.of("الجزيرة", "https://www.aljazeera.net/a", feed="jazeera", language="ar")
    bbc = Origin.of("BBC", "https://arabic.bbc.com/x", feed="bbc-ar", language="ar-EG")
    assert fired(jazeera) == ["anywhere", "jazeera"]
    assert fired(bbc) == ["anywhere", "bbc-site"]
    assert fired(Origin.of("x", "https://notbbc.com/", language="EN")) == ["anywhere", "english"]
    # A text tried without an origin (marsad match) is not held to any scope.
    assert fired(None) == ["anywhere", "bbc-site", "english", "jazeera"]
    assert Scope(languages=("en",)).excludes(Origin("x")) == (
        "language unknown, not one of languages: en"
    )
    assert Scope(feeds=("jazeera",)).excludes(Origin.of("BBC", "https://bbc.com/", feed="b")) == (
        "feed 'b', not one of feeds: jazeera"
    )


def test_feeds_and_sources_widen_each_other_and_languages_narrow() -> None:
    scope = Scope(feeds=("bbc-ar",), sources=("aljazeera.net",), languages=("ar",))
    bbc = Origin.of("BBC", "https://www.bbc.com/arabic/1", feed="bbc-ar", language="ar")
    jazeera = Origin.of("الجزيرة", "https://www.aljazeera.net/news/1", language="ar")
    assert scope.excludes(bbc) is None and scope.excludes(jazeera) is None
    assert scope.excludes(Origin.of("X", "https://x.example/1", language="ar")) == (
        "no feed (imported), not one of feeds: bbc-ar; "
        "source 'X' (host x.example), not one of sources: aljazeera.net"
    )
    english = Origin.of("BBC", "https://www.bbc.com/news/1", feed="bbc-ar", language="en-GB")
    assert scope.excludes(english) == "language 'en', not one of languages: ar"


# -- end to end: a crawl over a loopback feed server ---------------------------------------------


def page(title: str, text: str) -> str:
    body = "".join(f"<p>{text} {title} ({n}).</p>" for n in range(3))
    return (
        '<!DOCTYPE html><html lang="ar" dir="rtl"><head><meta charset="utf-8">'
        f"<title>{title}</title></head><body><article><h1>{title}</h1>{body}</article>"
        "</body></html>"
    )


def feed(server: FeedServer, name: str, title: str) -> str:
    server.serve(f"/{name}/1.html", page(title, TEXT))
    return server.serve(
        f"/{name}/feed.xml",
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>x</title>'
        f"<item><title>{title}</title><link>{{base}}/{name}/1.html</link>"
        f"<guid>{name}-1</guid></item></channel></rss>",
        "application/rss+xml",
    )


@pytest.mark.slow  # a crawl subprocess (~6 s)
def test_a_rule_scoped_to_a_feed_fires_for_it_and_not_for_another_with_the_same_text(
    tmp_path: Path,
) -> None:
    with FeedServer() as server:
        alpha = feed(server, "alpha", "خبر الانسحاب من القاعدة")
        beta = feed(server, "beta", "نبأ الانسحاب من القاعدة")
        (tmp_path / "marsad.toml").write_text(
            '[store]\npath = "store.db"\n\n[crawl]\ndelay = 0\ndownload_timeout = "3s"\n'
            'allow_private = ["127.0.0.0/8", "localhost"]\n\n'
            f'[[feeds]]\nname = "alpha"\nurl = "{alpha}"\nsource = "Alpha"\n\n'
            f'[[feeds]]\nname = "beta"\nurl = "{beta}"\nsource = "Beta"\n\n'
            '[[rules]]\nname = "alpha-only"\nkeywords = ["انسحاب"]\nfeeds = ["alpha"]\n\n'
            '[[rules]]\nname = "all-feeds"\nkeywords = ["انسحاب"]\n',
            encoding="utf-8",
        )
        done = subprocess.run(
            [*MARSAD, "crawl", "--once", "--config", str(tmp_path / "marsad.toml")],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 0, done.stderr[-3000:]
    db = open_store(tmp_path / "store.db")
    fired = {
        (row["feed"], row["rule"])
        for row in db.query(
            "SELECT DISTINCT f.name AS feed, m.rule FROM matches m "
            "JOIN articles a ON a.id = m.article_id JOIN feeds f ON f.id = a.feed_id"
        )
    }
    assert fired == {("alpha", "alpha-only"), ("alpha", "all-feeds"), ("beta", "all-feeds")}


# -- end to end: marsad import, and rules test -----------------------------------------------------

IMPORT_CONFIG = """
[store]
path = "store.db"

[alerts]
window = "off"

[[rules]]
name = "alpha-site"
keywords = ["انسحاب"]
sources = ["alpha.example"]
channels = ["ops"]

[[rules]]
name = "beta-outlet"
keywords = ["انسحاب"]
sources = ["Beta News"]
languages = ["ar"]
channels = ["ops"]

[channels.ops]
type = "webhook"
url = "http://127.0.0.1:9/hook"
"""


def test_import_and_rules_test_honour_sources_and_languages(tmp_path: Path) -> None:
    (tmp_path / "marsad.toml").write_text(IMPORT_CONFIG, encoding="utf-8")
    lines = [
        {"url": "https://www.alpha.example/1", "source": "Alpha", "title": "خبر", "text": TEXT},
        {"url": "https://beta.example/1", "source": "Beta News", "title": "خبر", "text": TEXT},
        # The same outlet in another language: outside beta-outlet's scope.
        {
            "url": "https://beta.example/en/1",
            "source": "Beta News",
            "title": "نبأ",
            "text": TEXT + " ترجمة.",
            "language": "en",
        },
    ]
    archive = tmp_path / "lines.jsonl"
    archive.write_text(
        "".join(json.dumps(line, ensure_ascii=False) + "\n" for line in lines), encoding="utf-8"
    )
    config = ["--config", str(tmp_path / "marsad.toml")]
    result = CliRunner().invoke(cli, ["import", str(archive), *config])
    assert result.exit_code == 0, result.output
    db = open_store(tmp_path / "store.db")
    matched = {
        (row["url"], row["rule"])
        for row in db.query(
            "SELECT DISTINCT a.url, m.rule FROM matches m JOIN articles a ON a.id = m.article_id"
        )
    }
    assert matched == {
        ("https://www.alpha.example/1", "alpha-site"),
        ("https://beta.example/1", "beta-outlet"),
    }
    alerts = {(row["rule"], row["source"]) for row in db.query("SELECT * FROM alert_deliveries")}
    assert alerts == {("alpha-site", "Alpha"), ("beta-outlet", "Beta News")}

    tested = CliRunner().invoke(
        cli, ["rules", "test", "beta-outlet", "--since", "2000-01-01", "--json", *config]
    )
    assert tested.exit_code == 0, tested.output
    report = json.loads(tested.stdout)
    assert (report["scanned"], report["articles"], report["out_of_scope"]) == (3, 1, 2)
    assert [s["url"] for s in report["samples"]] == ["https://beta.example/1"]


def test_rules_test_checks_a_rules_files_feeds_against_the_config(tmp_path: Path) -> None:
    (tmp_path / "marsad.toml").write_text(
        '[store]\npath = "store.db"\n\n[[feeds]]\nname = "alpha"\nurl = "https://a.example/f"\n',
        encoding="utf-8",
    )
    (tmp_path / "try.toml").write_text(
        '[[rules]]\nname = "r"\nkeywords = ["انسحاب"]\nfeeds = ["alfa"]\n', encoding="utf-8"
    )
    result = CliRunner().invoke(
        cli,
        [
            "rules",
            "test",
            "r",
            "--rules",
            str(tmp_path / "try.toml"),
            "--config",
            str(tmp_path / "marsad.toml"),
        ],
    )
    assert result.exit_code == 2
    assert result.stderr == (
        f"marsad: {tmp_path / 'try.toml'}: rules[0] 'r': feeds: no feed named 'alfa' "
        "(defined: alpha)\n"
    )
