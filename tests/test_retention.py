"""Retention (``[retention]``, ``marsad prune``) on stores filled through the real ingest path.

The archive: articles ingested with stored times in 2020 (``now=``, as the crawler or an import
would have stored them then) and others stored today. The default retention (bodies 180 days,
sightings and deliveries 90, fetch history 30) makes the 2020 ones due today, except a story
that received a copy today: a story's bodies go together, once it has been quiet that long.
"""

from __future__ import annotations

import json
import random
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlite_utils import Database

from marsad.alerts.matching import RuleIndex, compile_rules
from marsad.cli import cli
from marsad.config import ConfigError, config_from_document, load_config
from marsad.ingest import ingest_article
from marsad.storage import lsh
from marsad.storage.db import open_store
from marsad.storage.dedup import prepare_body
from marsad.storage.feeds import EntryNote, record_feed_entries, retire_feeds_except, upsert_feed
from marsad.storage.models import NewArticle
from marsad.storage.outbox import mark_sent, record_delivery
from marsad.storage.retention import Retention, prune_due
from marsad.storage.transactions import write_transaction
from marsad.times import utc_now
from tests.test_dedup import COPIES, ORIGINAL

CONFIG = """
[store]
path = "store.db"

[alerts]
window = "off"

[channels.ops]
type = "webhook"
url = "http://127.0.0.1:9/hook"

[[rules]]
name = "transport"
keywords = ["النقل"]
channels = ["ops"]
"""

LETTERS = "ابتثجحخدذرزسشصضطظعغفقكلمنهوي"
OLD = "2020-01-01T08:00:00Z"
OLD_URL = "https://alwatan.example/old"
OLD_COPY_URL = "https://alnahar.example/old-copy"
# A word only the body of the second old story holds.
BODY_ONLY = "زرافة"


def text_of(seed: int, words: int = 80, extra: str = "") -> str:
    """Made-up Arabic-letter words: texts of different seeds share no shingle."""
    rng = random.Random(seed)
    made = ["".join(rng.choice(LETTERS) for _ in range(rng.randint(3, 7))) for _ in range(words)]
    return " ".join(made) + (f" {extra}" if extra else "")


def add(
    db: Database,
    rules: RuleIndex,
    url: str,
    text: str,
    *,
    title: str,
    now: str | None,
    source: str = "الوطن",
) -> Any:
    article = NewArticle(url=url, canonical_url=url, source=source, title=title, text=text)
    return ingest_article(db, article, rules, now=now)


def fill_archive(directory: Path) -> Path:
    """The config and its store, filled as the module docstring says; returns the config."""
    config_path = directory / "marsad.toml"
    config_path.write_text(CONFIG, encoding="utf-8")
    config = load_config(config_path)
    rules = compile_rules(config.rules, alerts=config.alerts)
    db = open_store(config.store_path)
    # An old story carried by two outlets, matched by the rule and alerted on.
    add(db, rules, OLD_URL, ORIGINAL, title="خطة لتوسيع النقل العام", now=OLD)
    copy = add(
        db,
        rules,
        OLD_COPY_URL,
        COPIES["credit line added"],
        title="خطة النقل",
        now="2020-01-02T08:00:00Z",
        source="النهار",
    )
    assert copy.status == "copy"
    add(db, rules, "https://alwatan.example/giraffe", text_of(1, extra=BODY_ONLY),
        title="حديقة الحيوان", now="2020-01-03T08:00:00Z")  # fmt: skip
    # An old story that took a copy today: kept whole, its 2020 original included. The rule
    # matches it too: its alert is still pending.
    active = text_of(2, extra="وزارة النقل")
    add(db, rules, "https://alwatan.example/active", active, title="خبر يتجدد", now=OLD)
    assert add(db, rules, "https://alsharq.example/active-copy", active + " المصدر : واس",
               title="خبر يتجدد اليوم", now=None, source="الشرق").status == "copy"  # fmt: skip
    add(db, rules, "https://alwatan.example/today", text_of(3), title="خبر اليوم", now=None)
    # The old article listed again in 2020 and again today: two sightings.
    for now in ("2020-01-05T08:00:00Z", None):
        assert add(db, rules, OLD_URL, ORIGINAL, title="x", now=now).status == "known"
    with write_transaction(db):
        # The old story's alert: two failures, then sent, all in 2020.
        alert = db.execute("SELECT id FROM alerts WHERE article_id = 1").fetchone()[0]
        for minute, ok in ((1, False), (2, False), (3, True)):
            record_delivery(db, alert, attempted_at=f"2020-01-01T08:0{minute}:00Z", ok=ok,
                            status_code=200 if ok else 503, error=None if ok else "HTTP 503",
                            duration_ms=10)  # fmt: skip
        mark_sent(db, alert, "2020-01-01T08:03:00Z")
        # An alert still pending since 2020 (the daemon was stopped): its attempts stay.
        pending = db.execute(
            "SELECT id FROM alerts WHERE status = 'pending' ORDER BY id LIMIT 1"
        ).fetchone()[0]
        for minute in (1, 2):
            record_delivery(db, pending, attempted_at=f"2020-01-01T09:0{minute}:00Z", ok=False,
                            status_code=503, error="HTTP 503", duration_ms=10)  # fmt: skip
        # Entries not stored, of a feed since dropped from the config and of one still in it.
        gone = upsert_feed(db, "gone", "https://gone.example/rss", OLD)
        live = upsert_feed(db, "live", "https://live.example/rss", OLD)
        for feed in (gone, live):
            note = EntryNote("https://x.example/1", "https://x.example/1", "HTTP 404")
            record_feed_entries(db, feed, now=OLD, listed=[note.key], gave_up=[note])
        retire_feeds_except(db, ["live"], OLD)
    db.close()
    return config_path


@pytest.fixture
def archive(tmp_path: Path) -> Path:
    return fill_archive(tmp_path)


def marsad(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "marsad", *args], capture_output=True, text=True, timeout=120
    )


def store_of(config: Path) -> Database:
    return open_store(config.parent / "store.db", migrate=False)


def pruned_ids(db: Database) -> list[int]:
    rows = db.execute("SELECT id FROM articles WHERE pruned_at IS NOT NULL ORDER BY id")
    return [int(r[0]) for r in rows]


# --- the bar of issue #14: prune removes old bodies while show still finds the story ------------


def test_prune_removes_old_bodies_while_show_still_finds_the_story(archive: Path) -> None:
    pruned = marsad("prune", "--config", str(archive))
    assert pruned.returncode == 0, pruned.stderr
    lines = pruned.stdout.splitlines()
    assert lines[0].startswith("bodies: 3 articles of 2 stories emptied (stories quiet older "
                               "than 180d, before ")  # fmt: skip
    assert "sightings: 1 removed" in pruned.stdout
    assert "deliveries: 2 attempts removed" in pruned.stdout
    assert "fetch history: 1 entry of retired feeds removed" in pruned.stdout

    shown = marsad("show", OLD_URL, "--config", str(archive), "--json")
    assert shown.returncode == 0, shown.stderr
    record = json.loads(shown.stdout)
    article = record["article"]
    assert article["url"] == OLD_URL and article["title"] == "خطة لتوسيع النقل العام"
    assert article["text"] == "" and article["pruned_at"] is not None
    assert record["story"]["title"] == "خطة لتوسيع النقل العام"
    assert record["story"]["outlet_count"] == 2
    assert [a["url"] for a in record["articles"]] == [OLD_URL, OLD_COPY_URL]
    # Matches keep their snippets; the alert its final state and last attempt.
    assert record["matches"] and all("النقل" in m["snippet"] for m in record["matches"])
    [alert] = record["alerts"]
    assert alert["status"] == "sent" and alert["attempts"] == 1
    assert alert["delivery_count"] == 1 and alert["last_status_code"] == 200

    runner = CliRunner()
    human = runner.invoke(cli, ["show", OLD_URL, "--config", str(archive)])
    assert human.exit_code == 0, human.output
    assert f"The body of article {article['id']} was pruned on {article['pruned_at']}" in (
        human.stdout
    )
    stories = runner.invoke(cli, ["stories", "--config", str(archive), "--json"])
    assert record["story"]["story_id"] in [s["story_id"] for s in json.loads(stories.stdout)]
    # A title still finds it; a word only its body held does not; a kept body still does.
    by_title = runner.invoke(cli, ["search", "خطة لتوسيع", "--config", str(archive), "--json"])
    assert [r["url"] for r in json.loads(by_title.stdout)] == [OLD_URL]
    by_body = runner.invoke(cli, ["search", BODY_ONLY, "--config", str(archive), "--json"])
    assert json.loads(by_body.stdout) == []
    stats = runner.invoke(cli, ["stats", "--config", str(archive), "--json"])
    assert json.loads(stats.stdout)["totals"]["bodies_pruned"] == 3


def fold_to(db: Database, level: str) -> None:
    """Fold the index down to ``level``, as enough later articles would."""
    with write_transaction(db):
        if level != "lsh_recent":
            lsh.fold_recent(db)
        if level == "lsh_bands":
            lsh.fold_middle(db)


def level_rows(db: Database, article_ids: list[int]) -> dict[str, int]:
    marks = ",".join("?" * len(article_ids))
    return {
        table: db.execute(
            f"SELECT count(*) FROM {table} WHERE article_id IN ({marks})", article_ids
        ).fetchone()[0]
        for table in lsh.LEVELS
    }


@pytest.mark.parametrize("level", lsh.LEVELS)
def test_what_a_prune_removes_and_what_it_keeps(archive: Path, level: str) -> None:
    db = store_of(archive)
    # The archive's index rows where later articles would have folded them.
    fold_to(db, level)
    before = {t: db.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
              for t in ("articles", "stories", "matches", "alerts")}  # fmt: skip
    counts = lsh.level_counts(db)
    report = prune_due(db, Retention(), utc_now())
    assert report.complete and report.articles == 3 and report.stories == 2
    assert report.fingerprints == 3 and report.shingle_sets == 3 and report.index_rows
    ids = pruned_ids(db)
    assert ids == [1, 2, 3]
    # Every row of these tables stays.
    for table, count in before.items():
        assert db.execute(f"SELECT count(*) FROM {table}").fetchone()[0] == count, table
    # What copy detection kept of the pruned articles is gone, at every level of the index.
    marks = ",".join("?" * len(ids))
    for table in ("fingerprints", "article_shingles", *lsh.LEVELS):
        found = db.execute(f"SELECT count(*) FROM {table} WHERE article_id IN ({marks})", ids)
        assert found.fetchone()[0] == 0, table
    # A small level that held them counts them no more (its next fold comes as late as it
    # would have without them).
    held = {"lsh_recent": (3, 0), "lsh_middle": (0, 3), "lsh_bands": (0, 0)}[level]
    assert lsh.level_counts(db) == held and counts == tuple(n + 3 * (n > 0) for n in held)
    # Copy detection finds what the index holds at that level: a copy of the kept story
    # joins it.
    rules = compile_rules(())
    copy = add(db, rules, "https://copy.example/today", text_of(3) + " (أ ف ب)",
               title="نسخة", now=None)  # fmt: skip
    assert copy.status == "copy"
    # The story that took a copy today keeps its 2020 original's body.
    active = db.execute(
        "SELECT length(text) FROM articles WHERE url = 'https://alwatan.example/active'"
    ).fetchone()[0]
    assert active > 0
    # The full-text index agrees with the table: the title is indexed, the text is not.
    db.execute("INSERT INTO articles_fts(articles_fts, rank) VALUES ('integrity-check', 1)")
    # Sightings: the 2020 one went, today's stayed.
    assert [r[0][:4] for r in db.execute("SELECT seen_at FROM sightings")] == [utc_now()[:4]]
    # Deliveries: the sent alert keeps its last attempt, the pending alert all of its own.
    kept = db.execute("SELECT alert_id, ok, attempted_at FROM deliveries ORDER BY id").fetchall()
    assert [(ok, at[-9:-4]) for _, ok, at in kept] == [(1, "08:03"), (0, "09:01"), (0, "09:02")]
    # Fetch history: the retired feed's entry went; the listed feed's own polls settle its.
    entries = db.execute(
        "SELECT f.name FROM feed_entries e JOIN feeds f ON f.id = e.feed_id"
    ).fetchall()
    assert entries == [("live",)]
    # Nothing is due any more: a second prune removes nothing.
    again = prune_due(db, Retention(), utc_now())
    assert (again.articles, again.sightings, again.deliveries, again.fetch_history) == (0,) * 4
    assert again.batches == 0
    db.close()


def test_a_copy_of_a_pruned_article_is_a_sighting_by_url_but_no_longer_a_text_copy(
    archive: Path,
) -> None:
    db = store_of(archive)
    rules = compile_rules(())
    prune_due(db, Retention(), utc_now())
    old_story = db.execute("SELECT story_id FROM articles WHERE id = 1").fetchone()[0]
    # Its URL listed again: recognised, a sighting of the pruned article.
    again = add(db, rules, OLD_URL, ORIGINAL, title="خطة", now=None)
    assert again.status == "known" and again.article_id == 1
    assert db.execute("SELECT count(*) FROM sightings WHERE article_id = 1").fetchone()[0] == 2
    # Its very text under another URL: nothing left to compare it with, so a story of its own
    # (and, with it, a new alert: the text is news again).
    pruned = set(pruned_ids(db))
    candidates = lsh.candidates(db, prepare_body(ORIGINAL, "").fingerprint, 16)
    assert not pruned & {c.article_id for c in candidates}
    # The same query still finds a kept article.
    today = db.execute("SELECT id FROM articles WHERE url = 'https://alwatan.example/today'")
    kept_text = prepare_body(text_of(3), "").fingerprint
    assert [c.article_id for c in lsh.candidates(db, kept_text, 16)] == [today.fetchone()[0]]
    repost = add(db, rules, "https://repost.example/1", ORIGINAL, title="خطة", now=None)
    assert repost.status == "new"
    assert (
        db.execute("SELECT story_id FROM articles WHERE id = ?", [repost.article_id]).fetchone()[0]
        != old_story
    )
    # The index still finds what it holds: a copy of a kept story joins it, and a copy of the
    # repost joins the repost.
    kept = add(db, rules, "https://copy.example/today", text_of(3) + " (أ ف ب)",
               title="نسخة", now=None)  # fmt: skip
    assert kept.status == "copy"
    recopy = add(db, rules, "https://copy.example/repost", COPIES["paragraph dropped"],
                 title="نسخة", now=None)  # fmt: skip
    assert recopy.status == "copy"
    db.close()


# --- --dry-run ----------------------------------------------------------------------------------


def dump(config: Path) -> list[str]:
    conn = sqlite3.connect(config.parent / "store.db")
    try:
        return list(conn.iterdump())
    finally:
        conn.close()


def test_a_dry_run_changes_nothing_and_says_what_a_prune_would_do(archive: Path) -> None:
    before = dump(archive)
    dry = marsad("prune", "--dry-run", "--config", str(archive), "--json")
    assert dry.returncode == 0, dry.stderr
    assert dump(archive) == before
    said = json.loads(dry.stdout)
    runner = CliRunner()
    human = runner.invoke(cli, ["prune", "--dry-run", "--config", str(archive)])
    assert "3 articles of 2 stories would be emptied" in human.stdout
    assert "dry run: nothing was changed" in human.stdout
    assert dump(archive) == before
    done = json.loads(runner.invoke(cli, ["prune", "--config", str(archive), "--json"]).stdout)
    assert said["dry_run"] and not done["dry_run"]
    for key in ("articles", "stories", "text_bytes", "fingerprints", "shingle_sets",
                "sightings", "deliveries", "fetch_history"):  # fmt: skip
        assert said[key] == done[key], key
    assert said["index_rows"] is None and done["index_rows"] > 0


# --- configuration --------------------------------------------------------------------------------


def test_retention_is_configured_per_kind_and_off_keeps_it() -> None:
    assert config_from_document({}).retention == Retention()
    config = config_from_document({"retention": {"bodies": "off", "sightings": "2w"}})
    assert config.retention.bodies is None and config.retention.sightings == 14 * 86400


@pytest.mark.parametrize(
    ("table", "key"),
    [
        ({"bodies": "soon"}, "retention.bodies"),
        ({"sightings": "2h"}, "retention.sightings"),
        ({"deliveries": 0}, "retention.deliveries"),
        ({"fetch_history": True}, "retention.fetch_history"),
        ({"body": "30d"}, "retention.body: unknown key"),
    ],
)
def test_a_bad_retention_value_is_named_by_its_key(table: dict[str, Any], key: str) -> None:
    with pytest.raises(ConfigError, match=key) as raised:
        config_from_document({"retention": table})
    assert "\n" not in str(raised.value)


def test_marsad_prune_reports_a_config_error_in_one_line(tmp_path: Path) -> None:
    config = tmp_path / "marsad.toml"
    config.write_text('[store]\npath = "s.db"\n\n[retention]\nbodies = "soon"\n', "utf-8")
    open_store(tmp_path / "s.db").close()
    result = marsad("prune", "--config", str(config))
    assert result.returncode == 2
    [line] = result.stderr.splitlines()
    assert line.startswith(f'marsad: config error: {config}: retention.bodies: must be "off" or')


def test_off_keeps_each_kind(archive: Path) -> None:
    db = store_of(archive)
    report = prune_due(db, Retention(None, None, None, None), utc_now())
    assert report.batches == 0 and pruned_ids(db) == []
    assert set(report.before.values()) == {None}
    db.close()


# --- bounded batches ------------------------------------------------------------------------------


def test_a_budget_or_a_stop_leaves_the_rest_to_the_next_prune(archive: Path) -> None:
    db = store_of(archive)
    nothing = prune_due(db, Retention(), utc_now(), budget=0)
    assert not nothing.complete and nothing.batches == 0
    # One article a batch, stopped after the first of the old story's two articles: the story
    # is half pruned and not marked; the next prune finishes it.
    batches: list[int] = []

    def after_one_body() -> bool:
        batches.append(1)
        return len(pruned_ids(db)) >= 1

    part = prune_due(db, Retention(), utc_now(), max_batch=1, should_stop=after_one_body)
    assert not part.complete and pruned_ids(db) == [1]
    assert part.summary().endswith("; more is due")
    assert db.execute("SELECT pruned_at FROM stories WHERE original_id = 1").fetchone()[0] is None
    rest = prune_due(db, Retention(), utc_now())
    assert rest.complete and pruned_ids(db) == [1, 2, 3] and rest.stories == 2
    assert rest.summary().startswith("pruned the bodies of 2 articles (2 stories), ")
    db.close()


WRITER = r"""
import json, sys, time
from pathlib import Path
from marsad.alerts.matching import compile_rules
from marsad.ingest import ingest_article
from marsad.storage.db import open_store
from marsad.storage.models import NewArticle
from marsad.storage.transactions import write_transaction

db_path, stop = sys.argv[1], Path(sys.argv[2])
db = open_store(db_path, migrate=False)
rules = compile_rules(())
waits = []
print("ready", flush=True)
deadline = time.monotonic() + 60
while not stop.exists() and time.monotonic() < deadline:
    n = len(waits) + 1
    asked = time.perf_counter()
    with write_transaction(db):
        waits.append(time.perf_counter() - asked)
        url = f"https://writer.example/{n}"
        ingest_article(db, NewArticle(url=url, canonical_url=url, source="w",
                                      title=f"خبر {n}", text=f"نص قصير رقم {n}"), rules)
    time.sleep(0.01)  # a writer's own pace (the daemon commits now and then), not a wait
print(json.dumps({"writes": len(waits), "longest_wait": max(waits)}), flush=True)
"""


def test_a_writer_in_another_process_never_waits_longer_than_one_batch(tmp_path: Path) -> None:
    db_path = tmp_path / "store.db"
    db = open_store(db_path)
    rules = compile_rules(())
    for n in range(64):
        add(db, rules, f"https://old.example/{n}", text_of(100 + n, words=200),
            title=f"قديم {n}", now=OLD)  # fmt: skip
    stop = tmp_path / "stop"
    writer = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(db_path), str(stop)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert writer.stdout is not None
        assert writer.stdout.readline().strip() == "ready", writer.stderr
        started = time.perf_counter()
        report = prune_due(db, Retention(), utc_now(), max_batch=8)
        took = time.perf_counter() - started
        stop.touch()
        out, err = writer.communicate(timeout=60)
    finally:
        if writer.poll() is None:
            writer.kill()
            writer.communicate()
    assert writer.returncode == 0, err
    seen = json.loads(out)
    assert report.complete and report.articles == 64 and report.batches >= 8
    # The writer kept writing all along (a write every few tens of ms)...
    assert seen["writes"] >= took / 0.1
    # ... and never waited longer than the longest batch held the lock, plus one sleep of its
    # busy handler (at most 100 ms) and some scheduling.
    assert seen["longest_wait"] <= report.longest_batch + 0.25, (seen, report)
    assert len(pruned_ids(db)) == 64
    db.close()


def test_the_example_config_states_the_defaults() -> None:
    example = Path(__file__).resolve().parents[1] / "marsad.example.toml"
    assert load_config(example).retention == Retention()


def test_short_and_empty_bodies_are_pruned_too(store: Database) -> None:
    rules = compile_rules(())
    add(store, rules, "https://a.example/short", "خبر قصير جدا", title="قصير", now=OLD)
    add(store, rules, "https://a.example/title-only", "", title="عنوان فقط", now=OLD)
    report = prune_due(store, Retention(), utc_now())
    assert (report.articles, report.stories, report.fingerprints) == (2, 2, 2)
    assert report.index_rows == 0  # too short to be filed under any key
    assert pruned_ids(store) == [1, 2]
    # A title-only article arriving later is not taken for the pruned one (before the prune
    # it was: an article with no body is identified by its title's hash).
    later = add(store, rules, "https://b.example/title-only", "", title="عنوان فقط", now=None)
    assert later.status == "new"


def test_a_story_that_takes_a_copy_during_the_prune_keeps_its_bodies_and_index(
    archive: Path,
) -> None:
    db = store_of(archive)
    fold_to(db, "lsh_bands")
    rules = compile_rules(())
    arrived: list[int] = []

    def a_copy_arrives_midway() -> bool:
        # Called before each batch: once the round's keys left the large level and before the
        # bodies go, the crawler stores an exact copy of the old story.
        old_story_unfiled = level_rows(db, [1, 2])["lsh_bands"] == 0
        if old_story_unfiled and not arrived and not pruned_ids(db):
            copy = add(db, rules, "https://late.example/1", ORIGINAL, title="خطة", now=None)
            assert copy.status == "copy"
            arrived.append(copy.article_id)
        return False

    report = prune_due(db, Retention(), utc_now(), should_stop=a_copy_arrives_midway)
    assert arrived and report.complete
    # Only the giraffe story went; the old story is active again and keeps its bodies ...
    assert pruned_ids(db) == [3] and report.stories == 1
    assert db.execute("SELECT min(length(text)) FROM articles WHERE id IN (1, 2)").fetchone()[0]
    # ... and is filed under its keys again (in the small level, where new rows go), so a copy
    # that is not an exact one still finds it.
    assert level_rows(db, [1, 2])["lsh_recent"] > 0
    assert lsh.level_counts(db)[0] == 1 + 2  # the late copy and the two filed again
    later = add(db, rules, "https://later.example/1", COPIES["paragraph dropped"],
                title="خطة", now=None)  # fmt: skip
    assert later.status == "copy"
    db.close()
