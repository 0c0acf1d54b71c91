"""`marsad search|stories|show|alerts|feeds|stats` on a store filled through `marsad import`.

The articles: one story carried by two outlets (the second an exact copy), a story spelt with
harakat, and two unrelated ones. The watch rule «انسحاب» matches the first two stories. One
alert is then marked dead and one feed failing, through the store's own functions, the way the
delivery job and the crawler would.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from marsad.cli import cli
from marsad.storage.db import open_store
from marsad.storage.feeds import record_feed_failed, record_feed_fetched, upsert_feed
from marsad.storage.outbox import mark_dead, mark_sent, record_delivery

ARTICLES: list[dict[str, Any]] = [
    {
        "url": "https://alwatan.example/news/1",
        "source": "الوطن",
        "title": "الجيش يعلن الإنسحاب من المدينة",
        "text": "أعلن المتحدث العسكري صباح اليوم عن الإنسحاب الكامل للقوات من المدينة "
        "بعد أسابيع من المفاوضات الشاقة مع الوسطاء.",
        "published": "2024-05-01T08:00:00Z",
    },
    {
        # An exact copy of the first, by another outlet: the same story.
        "url": "https://alnahar.example/a/77",
        "source": "النهار",
        "title": "الجيش يعلن الإنسحاب من المدينة",
        "text": "أعلن المتحدث العسكري صباح اليوم عن الإنسحاب الكامل للقوات من المدينة "
        "بعد أسابيع من المفاوضات الشاقة مع الوسطاء.",
        "published": "2024-05-01T09:30:00Z",
    },
    {
        # Fully vocalised, and with the plain alef: found by the hamza spelling too.
        "url": "https://alsharq.example/p/5",
        "source": "الشرق",
        "title": "مُحادثاتُ الانْسِحَابِ تَتَعثَّر",
        "text": "قالت مصادر دبلوماسية إنّ مُحادثاتِ الانْسِحَابِ تعثّرت بسبب خلافات "
        "على الجدول الزمني وعدد النقاط الحدودية.",
        "published": "2024-05-02T10:00:00Z",
    },
    {
        "url": "https://alwatan.example/news/2",
        "source": "الوطن",
        "title": "ارتفاع أسعار القمح",
        "text": "سجّلت أسعار القمح ارتفاعاً جديداً في الأسواق المحلية هذا الأسبوع بعد موسم جاف.",
        "published": "2024-05-02T12:00:00Z",
    },
    {
        "url": "https://alnahar.example/a/80",
        "source": "النهار",
        "title": "افتتاح مكتبة عامة في الحي القديم",
        "text": "افتتحت البلدية مكتبة عامة جديدة تضم آلاف الكتب بعد ارتفاع عدد القراء.",
        "published": "2024-05-03T07:00:00Z",
    },
]

CONFIG = """
[store]
path = "store.db"

# These 2024 articles are alerted as if they were news.
[alerts]
window = "off"

[channels.ops]
type = "webhook"
url = "http://127.0.0.1:9/hook"

[channels.desk]
type = "webhook"
url = "http://127.0.0.1:9/desk"

[[rules]]
name = "انسحاب"
keywords = ["الانسحاب"]
channels = ["ops", "desk"]
"""


def build_store(directory: Path) -> Path:
    """A config and a store filled through `marsad import`; returns the config path."""
    directory.mkdir(parents=True, exist_ok=True)
    config = directory / "marsad.toml"
    config.write_text(CONFIG, encoding="utf-8")
    feed = directory / "articles.jsonl"
    feed.write_text(
        "".join(json.dumps(a, ensure_ascii=False) + "\n" for a in ARTICLES), encoding="utf-8"
    )
    result = CliRunner().invoke(cli, ["import", str(feed), "--config", str(config), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {
        "new": 4,
        "copy": 1,
        "known": 0,
        "bad": 0,
        "alerts": 4,
        "suppressed": 0,
    }

    db = open_store(directory / "store.db")
    with db.atomic():
        # Story 1 went out on "ops" and died on "desk"; story 2's alerts stay pending.
        mark_sent(db, 1, "2024-05-01T08:01:00Z")
        record_delivery(
            db, 1, attempted_at="2024-05-01T08:01:00Z", ok=True, status_code=200, error=None,
            duration_ms=12,
        )  # fmt: skip
        record_delivery(
            db, 2, attempted_at="2024-05-01T08:01:00Z", ok=False, status_code=503,
            error="HTTP 503", duration_ms=40,
        )  # fmt: skip
        mark_dead(db, 2, "HTTP 503 after 8 attempts")
        good = upsert_feed(db, "الوطن", "https://alwatan.example/rss", "2024-04-30T00:00:00Z")
        bad = upsert_feed(db, "النهار", "https://alnahar.example/rss", "2024-04-30T00:00:00Z")
        record_feed_fetched(
            db, good, now="2024-05-03T08:00:00Z", status=200, etag=None, last_modified=None,
            body_hash="x", new_items=2,
        )  # fmt: skip
        for _ in range(3):
            record_feed_failed(
                db, bad, now="2024-05-03T08:00:00Z", status=500, error="HTTP 500 from server",
                backoff_until="2024-05-03T09:00:00Z",
            )  # fmt: skip
    db.close()
    return config


@pytest.fixture(scope="module")
def config(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_store(tmp_path_factory.mktemp("inspect"))


def run(config: Path, *args: str) -> Result:
    return CliRunner().invoke(cli, [*args, "--config", str(config)])


def run_json(config: Path, *args: str) -> Any:
    result = run(config, *args, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


# --- search -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "query",
    [
        "الإنسحاب",  # hamza below
        "الانسحاب",  # plain alef
        "الانْسِحَاب",  # with harakat
        "الأنسحاب",  # hamza above, a common misspelling
        "الانسحـــاب",  # tatweel
    ],
)
def test_search_ignores_hamza_and_diacritics(config: Path, query: str) -> None:
    rows = run_json(config, "search", query)
    assert sorted(r["url"] for r in rows) == [
        "https://alnahar.example/a/77",
        "https://alsharq.example/p/5",
        "https://alwatan.example/news/1",
    ]
    vocalised = next(r for r in rows if r["source"] == "الشرق")
    # The snippet is the original text, and the hit points at the word as spelt there.
    start, end = vocalised["hits"][0]
    assert vocalised["snippet"][start:end] == "الانْسِحَابِ"
    assert vocalised["story_id"] and vocalised["outlet_count"] == 1


def test_search_phrase_prefix_and_or(config: Path) -> None:
    assert [r["title"] for r in run_json(config, "search", '"أسعار القمح"')] == [
        "ارتفاع أسعار القمح"
    ]
    assert [r["title"] for r in run_json(config, "search", "«اسعار القمح»")] == [
        "ارتفاع أسعار القمح"
    ]
    assert [r["title"] for r in run_json(config, "search", "مكتب*")] == [
        "افتتاح مكتبة عامة في الحي القديم"
    ]
    either = run_json(config, "search", "القمح OR مكتبة")
    assert {r["source"] for r in either} == {"الوطن", "النهار"} and len(either) == 2
    assert run_json(config, "search", "القمح مكتبة") == []


def test_search_filters(config: Path) -> None:
    assert [r["source"] for r in run_json(config, "search", "الانسحاب", "--source", "النهار")] == [
        "النهار"
    ]
    since = run_json(config, "search", "الانسحاب", "--since", "2024-05-02")
    assert [r["source"] for r in since] == ["الشرق"]
    until = run_json(config, "search", "الانسحاب", "--until", "2024-05-01")
    assert {r["source"] for r in until} == {"الوطن", "النهار"}
    assert len(run_json(config, "search", "الانسحاب", "--rule", "انسحاب")) == 3
    assert run_json(config, "search", "الانسحاب", "--rule", "غيرها") == []
    assert len(run_json(config, "search", "الانسحاب", "--limit", "1")) == 1


def test_search_ranks_title_hits_first(config: Path) -> None:
    # «ارتفاع» occurs once in each of two articles: in the wheat one's title, in the library
    # one's body. Title hits weigh more.
    rows = run_json(config, "search", "ارتفاع")
    assert [r["title"] for r in rows] == ["ارتفاع أسعار القمح", "افتتاح مكتبة عامة في الحي القديم"]


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ('"الانسحاب', "unclosed quote"),
        ("«الانسحاب", "unclosed quote"),
        ("OR الانسحاب", "OR needs"),
        ("الانسحاب OR", "OR needs"),
        ("*", "prefix search needs letters"),
        ("  ", "empty"),
        ("،؟!", "no letters or digits"),
        ("ال*سحاب", "may only end a word"),
    ],
)
def test_malformed_query_is_a_clear_message(config: Path, query: str, message: str) -> None:
    result = run(config, "search", query)
    assert result.exit_code == 2
    assert message in result.stderr
    assert result.stderr.startswith("marsad: search:")
    # A clean exit through fail(), not an exception caught by the runner.
    assert isinstance(result.exception, SystemExit)
    assert "Traceback" not in result.output


@pytest.mark.parametrize(
    "query", ["NEAR(a b)", "title_norm:القمح", "a AND", "(القمح", "-القمح", "^القمح", "'; DROP"]
)
def test_fts_syntax_in_input_is_only_text(config: Path, query: str) -> None:
    # FTS5 operators and SQL are searched for as words, never interpreted. ("--": a query
    # may start with "-".)
    result = CliRunner().invoke(cli, ["search", "--config", str(config), "--json", "--", query])
    assert result.exit_code == 0, result.output
    assert isinstance(json.loads(result.stdout), list)


def test_search_human_output(config: Path) -> None:
    result = run(config, "search", "القمح")
    assert result.exit_code == 0
    assert "ارتفاع أسعار القمح" in result.stdout
    assert "الوطن" in result.stdout


def test_bad_time_option(config: Path) -> None:
    result = run(config, "search", "القمح", "--since", "last tuesday")
    assert result.exit_code == 2 and "--since" in result.stderr


def test_missing_store_is_a_clear_message(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["stories", "--db", str(tmp_path / "none.db")])
    assert result.exit_code == 2
    assert "no store at" in result.stderr
    assert not (tmp_path / "none.db").exists()


# --- stories, show -------------------------------------------------------------------------------


def test_stories(config: Path) -> None:
    stories = run_json(config, "stories")
    assert len(stories) == 4
    shared = next(s for s in stories if s["outlet_count"] == 2)
    assert shared["title"] == "الجيش يعلن الإنسحاب من المدينة"
    assert shared["original_source"] == "الوطن"  # published first
    assert shared["copy_count"] == 1 and shared["article_count"] == 2
    assert shared["outlets"] == "النهار, الوطن"
    assert shared["rules"] == "انسحاب"
    assert shared["alert_count"] == 2
    assert [s["story_id"] for s in run_json(config, "stories", "--min-outlets", "2")] == [
        shared["story_id"]
    ]
    assert len(run_json(config, "stories", "--rule", "انسحاب")) == 2
    assert len(run_json(config, "stories", "--limit", "1")) == 1
    human = run(config, "stories")
    assert human.exit_code == 0 and "النهار, الوطن" in human.stdout


def test_show_article_by_url_and_id(config: Path) -> None:
    # Tracking parameters do not matter: the URL is canonicalised as at ingest.
    by_url = run_json(config, "show", "https://alnahar.example/a/77?utm_source=x")
    assert by_url["article"]["source"] == "النهار"
    assert by_url["article"]["duplicate_of"] is not None
    assert [a["source"] for a in by_url["articles"]] == ["الوطن", "النهار"]
    assert {a["channel"]: a["status"] for a in by_url["alerts"]} == {"ops": "sent", "desk": "dead"}
    assert {m["surface"] for m in by_url["matches"]} == {"الإنسحاب"}
    by_id = run_json(config, "show", str(by_url["article"]["id"]))
    assert by_id == by_url
    human = run(config, "show", str(by_url["article"]["id"]))
    assert human.exit_code == 0 and "الوسطاء" in human.stdout


def test_show_story(config: Path) -> None:
    story_id = run_json(config, "stories", "--min-outlets", "2")[0]["story_id"]
    shown = run_json(config, "show", "--story", str(story_id))
    assert shown["story"]["story_id"] == story_id
    assert shown["article"]["source"] == "الوطن"  # the original
    assert len(shown["articles"]) == 2


@pytest.mark.parametrize(
    "args",
    [["show", "999"], ["show", "https://x.example/nope"], ["show", "--story", "999"],
     ["show", "--story", "abc"]],
)  # fmt: skip
def test_show_unknown(config: Path, args: list[str]) -> None:
    result = run(config, *args)
    assert result.exit_code == 2 and "no " in result.stderr


# --- alerts -------------------------------------------------------------------------------------


def test_alerts(config: Path) -> None:
    alerts = run_json(config, "alerts")
    assert len(alerts) == 4
    by_key = {(a["story_id"], a["channel"]): a for a in alerts}
    dead = next(a for a in alerts if a["status"] == "dead")
    assert dead["channel"] == "desk"
    assert dead["last_error"] == "HTTP 503 after 8 attempts"
    assert dead["attempts"] == 1 and dead["delivery_count"] == 1
    assert dead["last_status_code"] == 503
    assert dead["outlets"] == "النهار, الوطن"
    sent = by_key[(dead["story_id"], "ops")]
    assert sent["status"] == "sent" and sent["sent_at"] == "2024-05-01T08:01:00Z"
    assert [a["alert_id"] for a in run_json(config, "alerts", "--status", "dead")] == [
        dead["alert_id"]
    ]
    assert len(run_json(config, "alerts", "--channel", "ops")) == 2
    assert len(run_json(config, "alerts", "--rule", "انسحاب", "--since", "today")) == 4
    assert run_json(config, "alerts", "--until", "2000-01-01") == []
    human = run(config, "alerts")
    assert human.exit_code == 0 and "HTTP 503 after 8 attempts" in human.stdout


def test_alerts_retry(tmp_path: Path) -> None:
    config = build_store(tmp_path)
    dead = run_json(config, "alerts", "--status", "dead")[0]
    retried = run_json(config, "alerts", "retry", str(dead["alert_id"]))
    assert retried == {"alert_id": dead["alert_id"], "status": "pending", "previous_status": "dead"}
    assert run_json(config, "alerts", "--status", "dead") == []
    sent = run_json(config, "alerts", "--status", "sent")[0]
    refused = run(config, "alerts", "retry", str(sent["alert_id"]))
    assert refused.exit_code == 2 and "already sent" in refused.stderr
    unknown = run(config, "alerts", "retry", "999")
    assert unknown.exit_code == 2 and "no alert 999" in unknown.stderr
    human = run(config, "alerts", "retry", str(dead["alert_id"]))
    assert human.exit_code == 0 and "re-queued" in human.stdout


# --- feeds, stats -------------------------------------------------------------------------------


def test_feeds(config: Path) -> None:
    feeds = run_json(config, "feeds")
    assert [f["name"] for f in feeds] == ["النهار", "الوطن"]  # failing first
    failing, healthy = feeds
    assert failing["state"] == "failing" and failing["consecutive_failures"] == 3
    assert failing["last_error"] == "HTTP 500 from server"
    assert healthy["state"] == "ok" and healthy["last_new_item_at"] == "2024-05-03T08:00:00Z"
    assert healthy["items_per_day"] == 0  # imported articles belong to no feed
    assert [f["name"] for f in run_json(config, "feeds", "--failing")] == ["النهار"]
    human = run(config, "feeds")
    assert human.exit_code == 0 and "HTTP 500 from server" in human.stdout


def test_stats(config: Path) -> None:
    stats = run_json(config, "stats")
    totals = stats["totals"]
    assert totals["articles"] == 5 and totals["copies"] == 1 and totals["stories"] == 4
    assert totals["alerts"] == 4 and totals["alerts_sent"] == 1 and totals["alerts_dead"] == 1
    assert totals["feeds_failing"] == 1 and totals["sources"] == 3
    today = datetime.now(UTC).strftime("%Y-%m-%d")
    assert stats["per_day"] == [
        {"day": today, "articles": 5, "copies": 1, "alerts": 4, "alerts_sent": 1}
    ]
    human = run(config, "stats")
    assert human.exit_code == 0 and "Totals" in human.stdout


def test_every_inspect_command_has_help_and_json() -> None:
    for name in ["search", "stories", "show", "alerts", "feeds", "stats"]:
        command = cli.commands[name]
        assert command.help, name
        assert any("--json" in p.opts for p in command.params), name
