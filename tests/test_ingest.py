"""The one ingest path: exact copies, sightings, matches and the outbox in one transaction."""

from __future__ import annotations

import sqlite3

import pytest
from sqlite_utils import Database

from marsad.alerts.matching import compile_rules
from marsad.alerts.rules import Rule
from marsad.ingest import ingest_article
from marsad.storage.models import NewArticle

RULES = (Rule("withdrawal", ("انسحاب",), ("ops",)),)

BODY = "أعلن التحالف الانسحاب من القاعدة الجوية بعد سنوات من الوجود فيها."


def article(
    url: str, *, title: str = "خبر", text: str = BODY, guid: str | None = None, source: str = "a"
) -> NewArticle:
    return NewArticle(url=url, canonical_url=url, source=source, title=title, text=text, guid=guid)


def test_new_article_is_stored_matched_and_alerted(store: Database) -> None:
    result = ingest_article(store, article("https://a.example/1"), compile_rules(RULES))
    assert result.status == "new"
    assert result.alerts_queued == 1
    row = store.execute("SELECT text_norm, story_id FROM articles").fetchone()
    assert "الانسحاب" in row[0]
    assert [m.surface for m in result.matches] == ["الانسحاب"]
    alert = next(store.query("SELECT * FROM alerts"))
    assert (alert["rule"], alert["channel"], alert["status"]) == ("withdrawal", "ops", "pending")
    assert alert["story_id"] == row[1]


def test_same_url_or_guid_is_stored_once(store: Database) -> None:
    first = ingest_article(store, article("https://a.example/1", guid="g-1"), compile_rules(RULES))
    again = ingest_article(store, article("https://a.example/1"), compile_rules(RULES))
    by_guid = ingest_article(
        store, article("https://b.example/x", guid="g-1"), compile_rules(RULES)
    )
    assert again.status == by_guid.status == "known"
    assert again.article_id == by_guid.article_id == first.article_id
    assert store.table("articles").count == 1
    assert [r["reason"] for r in store.query("SELECT reason FROM sightings ORDER BY id")] == [
        "url",
        "guid",
    ]


def test_exact_copy_joins_the_story_without_a_second_alert(store: Database) -> None:
    first = ingest_article(store, article("https://a.example/1"), compile_rules(RULES))
    # Same body with different diacritics and hamza spelling, another outlet and headline.
    copy_text = BODY.replace("أعلن", "اعلن").replace("الانسحاب", "الانْسِحَاب")
    copy = ingest_article(
        store,
        article("https://b.example/2", title="عنوان آخر", text=copy_text, source="b"),
        compile_rules(RULES),
    )
    assert copy.status == "copy"
    assert copy.duplicate_of == first.article_id
    assert copy.story_id == first.story_id
    assert copy.alerts_queued == 0
    story = next(store.query("SELECT * FROM stories"))
    assert (story["article_count"], story["outlet_count"]) == (2, 2)
    assert store.table("alerts").count == 1


def test_alert_is_never_written_without_its_article(store: Database) -> None:
    store.execute("CREATE TRIGGER boom BEFORE INSERT ON alerts BEGIN SELECT RAISE(ABORT, 'x'); END")
    with pytest.raises(sqlite3.IntegrityError):
        ingest_article(store, article("https://a.example/1"), compile_rules(RULES))
    assert store.table("articles").count == 0
    assert store.table("matches").count == 0
