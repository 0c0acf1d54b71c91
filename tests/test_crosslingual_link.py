"""Cross-lingual linking in the store (#17): the pass, the outbox's hold, provenance, retention.

Real model, real store: the articles are the committed labelled set's (tests/data/crosslingual,
written for the project) and the seed pair when ../shared holds the seed. The model loads once
in this process (the pass runs inline, as `marsad link` does); the worker process and the
daemon are tests/test_crosslingual_link_daemon.py's, `marsad crawl` end to end
tests/test_crosslingual_link_crawl.py's.
"""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlite_utils import Database

from marsad.alerts.matching import compile_rules
from marsad.alerts.rules import Breaking, Rule
from marsad.cli import cli
from marsad.cli.output import print_show, translation_lines
from marsad.config import CrossLingualConfig
from marsad.crosslingual.linking import Found, choose_links, decide_mode, plan_join
from marsad.crosslingual.worker import LinkWorker
from marsad.ingest import ingest_article
from marsad.ingest.importer import import_file
from marsad.scheduler.crosslingual import Linker, after_import, link_now
from marsad.storage import crosslingual as xl
from marsad.storage.articles import StoryHead
from marsad.storage.db import open_store
from marsad.storage.inspection import show
from marsad.storage.models import NewArticle
from marsad.storage.outbox import any_claimable, claim_due_alerts
from marsad.storage.retention import Retention, prune_due
from marsad.times import from_iso, to_iso, utc_now
from tests.conftest import shared_path

DATA = Path(__file__).resolve().parent / "data" / "crosslingual"
ON = CrossLingualConfig(enabled=True)
AUTO = CrossLingualConfig(enabled=None)
# Matches the English original ("Harir Air Base"), its translation and the Arabic report.
HARIR = Rule("harir", ("Harir", "حرير"), ("ops",))


def records() -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for name in ("set-a.jsonl", "set-b.jsonl"):
        for line in (DATA / name).read_text(encoding="utf-8").splitlines():
            record = json.loads(line)
            found[record["id"]] = record
    return found


SET = records()


def article(record_id: str) -> NewArticle:
    record = SET[record_id]
    url = f"https://{record['lang']}.example/{record_id}"
    return NewArticle(
        url=url,
        canonical_url=url,
        source=f"{record['outlet']} ({record_id})",
        title=record["title"],
        text=record["text"],
        published=record["published"],
        language=record["lang"],
    )


def ingest(db: Database, *ids: str, rules: list[Rule] | None = None) -> dict[str, int]:
    compiled = compile_rules(rules or [])
    return {rid: ingest_article(db, article(rid), compiled).article_id for rid in ids}


def story_of(db: Database, article_id: int) -> int:
    return int(db.execute("SELECT story_id FROM articles WHERE id = ?", [article_id]).fetchone()[0])


# -- the pure decisions ----------------------------------------------------------------------


def test_an_arabic_article_has_one_original_an_original_many_translations() -> None:
    found = [Found(1, 10, 0.7, {}), Found(1, 11, 0.9, {}), Found(2, 10, 0.8, {})]
    assert choose_links("ar", found) == [Found(1, 11, 0.9, {})]
    # Checked from the English side: each Arabic article once, at its best.
    assert choose_links("other", [Found(1, 10, 0.7, {}), Found(2, 10, 0.8, {})]) == [
        Found(2, 10, 0.8, {}),
        Found(1, 10, 0.7, {}),
    ]
    assert choose_links("ar", []) == []


def test_the_story_with_the_earliest_original_keeps() -> None:
    translation = StoryHead(7, 70, "2025-09-14T11:20:00Z", "h", 1)
    original = StoryHead(3, 30, "2025-09-14T08:35:00Z", "h", 2)
    assert plan_join(translation, original) == plan_join(original, translation)
    assert plan_join(translation, original) is not None
    join = plan_join(translation, original)
    assert join is not None and (join.keep, join.merge) == (3, 7)
    # A translation dated before its original (a wrong time zone): the earliest still heads.
    early = translation._replace(published="2025-09-14T06:00:00Z")
    join = plan_join(early, original)
    assert join is not None and (join.keep, join.merge) == (7, 3)
    assert plan_join(translation, original._replace(story_id=7)) is None


def test_auto_waits_for_a_non_arabic_article() -> None:
    assert not decide_mode(None, other_in_window=False, other_arrived=False).active
    assert decide_mode(None, other_in_window=True, other_arrived=False).active
    assert decide_mode(None, other_in_window=False, other_arrived=True).active
    assert decide_mode(True, other_in_window=False, other_arrived=False).active
    assert not decide_mode(False, other_in_window=True, other_arrived=True).active


# -- the pass --------------------------------------------------------------------------------


@pytest.fixture
def db() -> Any:
    store = open_store(":memory:")
    yield store
    store.close()


def test_english_articles_are_stored_deduplicated_and_matched_like_arabic_ones(
    db: Database,
) -> None:
    rules = compile_rules([Rule("harir", ("Harir",), ("ops",))])
    original = article("a01-en")
    first = ingest_article(db, original, rules)
    # A re-post: the first paragraphs and a credit line, under another URL.
    paragraphs = original.text.split("\n")
    repost = replace(
        original,
        url="https://b.example/1",
        canonical_url="https://b.example/1",
        source="b.example",
        text="\n".join([*paragraphs[:6], "Source: AP"]),
    )
    copy = ingest_article(db, repost, rules)
    other = ingest_article(db, article("a02-en"), rules)
    assert (first.status, first.alerts_queued) == ("new", 1)
    assert "Harir" in {m.keyword for m in first.matches}
    assert (copy.status, copy.story_id, copy.duplicate_of) == (
        "copy",
        first.story_id,
        first.article_id,
    )
    assert other.status == "new" and other.story_id != first.story_id


def test_a_translation_joins_its_original_and_a_report_stays_apart(db: Database) -> None:
    ids = ingest(db, "a01-en", "a01-rep", "a01-ar1")
    assert len({story_of(db, i) for i in ids.values()}) == 3  # same-language dedup: all apart

    report = link_now(db, ON)

    assert (report.active, report.checked, report.profiled, report.linked) == (True, 3, 3, 1)
    original, translation, own = ids["a01-en"], ids["a01-ar1"], ids["a01-rep"]
    assert story_of(db, translation) == story_of(db, original)
    assert story_of(db, own) != story_of(db, original)
    story = db.execute(
        "SELECT original_id, article_count, outlet_count FROM stories WHERE id = ?",
        [story_of(db, original)],
    ).fetchone()
    assert tuple(story) == (original, 2, 2)
    [link] = xl.links_of_article(db, translation)
    assert (link["translation_id"], link["original_id"]) == (translation, original)
    assert link["original_url"] == "https://en.example/a01-en"
    evidence = link["evidence"]
    assert evidence["score"] >= 0.5 and evidence["paragraphs"]
    assert "70" in evidence["anchors_shared"]
    # Checked once: a second pass finds nothing to do and links nothing again.
    again = link_now(db, ON)
    assert (again.checked, again.linked, xl.count_links(db)) == (0, 0, 1)


def test_the_seed_links_to_its_english_original(db: Database) -> None:
    arabic = shared_path("seed", "article-ar.txt").read_text(encoding="utf-8")
    english = (DATA / "seed-original-en.txt").read_text(encoding="utf-8")
    compiled = compile_rules([])
    made = []
    for lang, text, published in (
        ("en", english, "2020-03-29T09:00:00Z"),
        ("ar", arabic, "2020-03-29T12:00:00Z"),
    ):
        title, _, body = text.strip().partition("\n")
        url = f"https://{lang}.example/k1"
        new = NewArticle(url, url, f"{lang}.example", title, body, published=published)
        made.append(ingest_article(db, new, compiled).article_id)
    report = link_now(db, ON)
    assert [(link["translation_id"], link["original_id"]) for link in report.links] == [
        (made[1], made[0])
    ]
    assert story_of(db, made[1]) == story_of(db, made[0])


def test_show_says_translated_from_with_the_evidence(
    db: Database, capsys: pytest.CaptureFixture[str]
) -> None:
    ids = ingest(db, "a01-en", "a01-ar1")
    link_now(db, ON)

    record = show(db, str(ids["a01-ar1"]))
    rows = {row["id"]: row for row in record["articles"]}
    assert rows[ids["a01-ar1"]]["translation_of"] == ids["a01-en"]
    assert rows[ids["a01-ar1"]]["translation_score"] > 0.58
    assert rows[ids["a01-en"]]["translation_of"] is None
    print_show(record)
    assert f"{ids['a01-en']} (translated)" in capsys.readouterr().out  # the "copy of" column
    [line] = translation_lines(record)
    assert line.startswith("translated from https://en.example/a01-en (article ")
    assert "paragraphs matched, shared anchors: " in line and "70" in line.split("anchors:")[1]
    # From the original's side, and the story's: which article is the translation.
    [line] = translation_lines(show(db, str(ids["a01-en"])))
    assert line.startswith(f"article {ids['a01-ar1']} (")
    story = show(db, str(story_of(db, ids["a01-en"])), is_story=True)
    assert [t["translation_id"] for t in story["translations"]] == [ids["a01-ar1"]]


def test_one_story_one_alert_counting_both_languages(db: Database) -> None:
    link_now(db, ON)  # linking on before the articles arrive: their alerts wait for the check
    ids = ingest(db, "a01-en", "a01-ar1", "a01-rep", rules=[HARIR])
    pending = list(db.query("SELECT id, article_id FROM alerts WHERE status = 'pending'"))
    assert len(pending) == 3  # one per story, as same-language dedup left them
    now = utc_now()
    assert not any_claimable(db, due_by=now, now=now)  # held: none of them checked yet

    link_now(db, ON)

    rows = {
        r["article_id"]: r
        for r in db.query("SELECT article_id, status, story_id, payload, last_error FROM alerts")
    }
    # The translation's alert gave way to its original's: one alert for the joined story.
    assert rows[ids["a01-ar1"]]["status"] == "dead"
    assert "superseded by alert" in rows[ids["a01-ar1"]]["last_error"]
    kept = rows[ids["a01-en"]]
    assert kept["status"] == "pending"
    payload = json.loads(kept["payload"])
    provenance = payload["translated_from"]
    assert provenance["url"] == "https://en.example/a01-en"
    assert provenance["translation"]["article_id"] == ids["a01-ar1"]
    assert provenance["score"] > 0.5 and provenance["evidence"]["paragraphs"]
    # The report keeps its own story and alert, with no provenance.
    assert "translated_from" not in json.loads(rows[ids["a01-rep"]]["payload"])
    claimed = claim_due_alerts(db, "t", due_by=now, now=now, lease_until=now, limit=10)
    assert sorted(a.article_id for a in claimed) == sorted([ids["a01-en"], ids["a01-rep"]])
    outlets = db.execute(
        "SELECT outlet_count FROM stories WHERE id = ?", [kept["story_id"]]
    ).fetchone()[0]
    assert outlets == 2


def test_an_alert_waits_for_its_check_at_most_hold_and_not_at_all_when_off(
    db: Database,
) -> None:
    start = "2026-01-01T00:00:00Z"
    linker = Linker(db, "", LinkWorker(inline=True, db=db), clock=lambda: start)
    config = CrossLingualConfig(enabled=True, hold=60.0)
    linker.sync_state(config)
    [article_id] = ingest(db, "a01-rep", rules=[HARIR]).values()
    db.execute("UPDATE alerts SET created_at = ?, next_attempt_at = ?", [start, start])

    def claimable(at: str) -> bool:
        return any_claimable(db, due_by=at, now=at)

    later = to_iso(from_iso(start) + timedelta(seconds=30))
    assert not claimable(later)  # not checked, within the hold
    assert claimable(to_iso(from_iso(start) + timedelta(seconds=61)))  # held no longer
    Linker(db, "", LinkWorker(inline=True, db=db), clock=lambda: later).sync_state(
        replace(config, enabled=False)
    )
    assert claimable(later)  # off: nothing waits
    linker.sync_state(config)
    assert not claimable(later)
    xl.save_profile(db, article_id, None, model="m", fetched_at=start, checked_at=later)
    assert claimable(later)  # checked


def test_auto_computes_nothing_for_arabic_feeds_only(db: Database) -> None:
    ingest(db, "a01-rep", "a02-rep", "a01-ar1")
    worker = LinkWorker()  # a process worker: started only if there is work
    linker = Linker(db, "", worker)
    report = _run(linker, AUTO)
    assert (report.active, report.checked, report.worker) == (False, 0, False)
    assert not worker.running
    assert xl.count_profiles(db) == {}
    state = xl.read_state(db)
    assert state is not None and state.active_since is None and state.sniffed_through == 3

    # An English article arrives: the window's articles (both languages) are profiled.
    ingest(db, "a01-en")
    report = link_now(db, AUTO)
    assert (report.active, report.checked, report.linked) == (True, 4, 1)
    assert xl.count_profiles(db) == {"ar": 3, "other": 1}


def _run(linker: Linker, config: CrossLingualConfig) -> Any:
    import asyncio

    try:
        return asyncio.run(linker.run(config))
    finally:
        linker.worker.close()


def test_retention_prunes_profiles_out_of_the_window_and_keeps_provenance(
    db: Database,
) -> None:
    ingest(db, "a01-en", "a01-ar1")
    link_now(db, ON)
    later = to_iso(from_iso(utc_now()) + timedelta(days=15))  # past the 14-day window
    keep_all = Retention(bodies=None, sightings=None, deliveries=None, fetch_history=None)

    dry = prune_due(db, keep_all, later, dry_run=True)
    assert dry.profiles == 2 and xl.count_profiles(db) == {"ar": 1, "other": 1}
    done = prune_due(db, keep_all, later)
    assert done.profiles == 2 and "2 cross-lingual profiles" in done.summary()
    assert xl.count_profiles(db) == {}
    assert xl.count_links(db) == 1
    assert prune_due(db, keep_all, utc_now()).profiles == 0


def test_the_pass_after_an_import_links_what_it_stored(tmp_path: Path) -> None:
    lines = tmp_path / "in.jsonl"
    lines.write_text(
        "".join(
            json.dumps(
                {
                    "url": f"https://x.example/{rid}",
                    "source": SET[rid]["outlet"],
                    "title": SET[rid]["title"],
                    "text": SET[rid]["text"],
                    "published": SET[rid]["published"],
                },
                ensure_ascii=False,
            )
            + "\n"
            for rid in ("b01-en", "b01-ar1", "b01-rep")
        ),
        encoding="utf-8",
    )
    store = open_store(tmp_path / "store.db")
    try:
        counts = import_file(store, lines, compile_rules([]), after=after_import(ON))
        assert counts.stored == 3
        [link] = [dict(r) for r in store.query("SELECT * FROM crosslingual_links")]
        urls = dict(store.execute("SELECT id, url FROM articles").fetchall())
        assert (urls[link["translation_id"]], urls[link["original_id"]]) == (
            "https://x.example/b01-ar1",
            "https://x.example/b01-en",
        )
    finally:
        store.close()


def test_marsad_link_json(tmp_path: Path) -> None:
    store = open_store(tmp_path / "store.db")
    ingest(store, "a02-en", "a02-ar1", "a02-rep")
    store.close()
    config = tmp_path / "marsad.toml"
    config.write_text(
        f'[store]\npath = "{tmp_path / "store.db"}"\n\n[crosslingual]\nenabled = true\n',
        encoding="utf-8",
    )
    result = CliRunner().invoke(cli, ["link", "--config", str(config), "--json"])
    assert result.exit_code == 0, result.output
    document = json.loads(result.output)
    assert (document["active"], document["checked"], document["linked"]) == (True, 3, 1)
    assert document["profiles"] == {"ar": 2, "other": 1} and document["links_stored"] == 1
    assert document["left"] == 0 and document["worker_cpu_seconds"] > 0
    [link] = document["links"]
    assert link["translation_id"] == 2 and link["original_id"] == 1

    text = CliRunner().invoke(cli, ["link", "--config", str(config)])
    assert text.exit_code == 0, text.output
    assert "0 articles checked" in text.output and "1 translations linked" in text.output


def test_articles_profiled_by_another_model_are_checked_again(db: Database) -> None:
    from marsad.crosslingual.profile import MODEL_ID

    ids = ingest(db, "a01-en", "a01-ar1")
    for article_id in ids.values():  # checked by an engine whose vectors are not today's
        fetched = db.execute("SELECT fetched_at FROM articles WHERE id = ?", [article_id])
        stamp = fetched.fetchone()[0]
        xl.save_profile(db, article_id, None, model="old", fetched_at=stamp, checked_at=stamp)

    report = link_now(db, ON)

    assert (report.checked, report.linked) == (2, 1)
    models = {row[0] for row in db.execute("SELECT model FROM crosslingual_profiles")}
    assert models == {MODEL_ID}
    assert link_now(db, ON).checked == 0


def test_marsad_status_tells_how_linking_goes(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    config = tmp_path / "marsad.toml"
    config.write_text(f'[store]\npath = "{path}"\n', encoding="utf-8")

    def status() -> tuple[dict[str, Any], str]:
        document = CliRunner().invoke(cli, ["status", "--config", str(config), "--json"])
        text = CliRunner().invoke(cli, ["status", "--config", str(config)])
        assert document.exit_code == text.exit_code == 1, text.output  # no daemon runs
        return json.loads(document.output)["watch"]["crosslingual"], text.output

    store = open_store(path)
    try:
        ingest(store, "a01-rep")
        assert status()[0] is None  # never on: nothing to tell
        link_now(store, AUTO)  # an Arabic article only: auto stays off
        linking, text = status()
        assert linking["active_since"] is None
        assert "cross-lingual: off (no article in another language in the window)" in text

        ingest(store, "a01-en")
        link_now(store, AUTO)  # on, and both checked
        ingest(store, "a01-ar1", rules=[HARIR])  # its alert waits for the check
        linking, text = status()
        assert linking["active_since"] and linking["to_check"] == 1
        assert linking["alerts_waiting"] == 1 and linking["links"] == 0
        assert "1 to check, 1 alert waiting for the check" in text
        assert "(window 2w)" in text

        link_now(store, AUTO)
        linking, text = status()
        assert (linking["to_check"], linking["alerts_waiting"], linking["links"]) == (0, 0, 1)
        assert linking["profiles"] == {"ar": 2, "other": 1}
        assert "3 articles checked (1 not Arabic), 1 translations linked, 0 to check" in text
    finally:
        store.close()


def test_a_story_grown_by_a_translation_raises_its_follow_up_once(db: Database) -> None:
    follow = replace(HARIR, follow_up=(2,))
    link_now(db, ON)
    ids = ingest(db, "a01-en", "a01-ar1", rules=[follow])  # two stories, an alert each

    report = link_now(db, ON, rules=compile_rules([follow]))

    assert (report.linked, report.alerts_queued) == (1, 1)
    assert "1 follow-up or breaking alerts queued" in report.summary()
    [row] = db.query("SELECT * FROM alerts WHERE follow_up = 2")
    assert (row["article_id"], row["status"]) == (ids["a01-ar1"], "pending")
    payload = json.loads(row["payload"])
    assert payload["follow_up"] == {"outlets": 2, "threshold": 2}
    assert [m["keyword"] for m in payload["matches"]] == ["حرير"] * len(payload["matches"])
    assert payload["matches"] and payload["translated_from"]["url"].endswith("/a01-en")
    assert link_now(db, ON, rules=compile_rules([follow])).alerts_queued == 0
    assert db.execute("SELECT count(*) FROM alerts WHERE follow_up = 2").fetchone()[0] == 1


def test_a_breaking_rule_fires_when_a_translation_brings_its_story_to_the_threshold(
    db: Database,
) -> None:
    breaking = replace(HARIR, breaking=Breaking(outlets=2, within=6 * 3600.0))
    link_now(db, ON)
    ids = ingest(db, "a01-en", "a01-ar1", rules=[breaking])
    assert db.execute("SELECT count(*) FROM alerts").fetchone()[0] == 0  # one outlet each

    assert link_now(db, ON, rules=compile_rules([breaking])).alerts_queued == 1
    [row] = db.query("SELECT * FROM alerts")
    assert (row["article_id"], row["follow_up"]) == (ids["a01-ar1"], 0)
    assert json.loads(row["payload"])["breaking"]["outlets"] == 2
    # Without rules (marsad import --no-alerts), a join raises nothing.
    other = open_store(":memory:")
    try:
        link_now(other, ON)
        ingest(other, "a01-en", "a01-ar1", rules=[breaking])
        assert link_now(other, ON).alerts_queued == 0
    finally:
        other.close()
