"""Alerts held back by the alert window or --no-alerts: recorded, never queued, and a later fresh
copy of the story still raises the story's alert."""

from __future__ import annotations

from sqlite_utils import Database

from marsad.alerts.config import AlertsConfig
from marsad.alerts.matching import compile_rules
from marsad.alerts.rules import Rule
from marsad.ingest import ingest_article
from marsad.storage.models import NewArticle
from marsad.storage.suppressions import list_suppressions, suppressed_articles

RULES = compile_rules(
    (Rule("withdrawal", ("انسحاب",), ("ops", "desk")),), alerts=AlertsConfig(window=3 * 86400)
)
NOW = "2024-05-10T12:00:00Z"
LATER = "2024-05-11T12:00:00Z"
BODY = "أعلن التحالف الانسحاب من القاعدة الجوية بعد سنوات من الوجود فيها وسط ترقب كبير."
OLD_REASON = "published 2024-01-02T00:00:00Z, older than the 3d alert window"


def article(url: str, published: str | None, *, source: str = "a") -> NewArticle:
    return NewArticle(
        url=url, canonical_url=url, source=source, title="خبر", text=BODY, published=published
    )


def alerts(store: Database) -> list[tuple[int, str, str]]:
    rows = store.execute("SELECT story_id, rule, channel FROM alerts ORDER BY id")
    return [tuple(r) for r in rows]


def test_an_old_article_is_matched_but_its_alerts_are_held_back_and_recorded(
    store: Database,
) -> None:
    result = ingest_article(
        store, article("https://a.example/1", "2024-01-02T00:00:00Z"), RULES, now=NOW
    )
    assert result.status == "new" and result.alerts_queued == 0
    assert [m.surface for m in result.matches] == ["الانسحاب"]
    assert store.table("matches").count == 1
    assert alerts(store) == []
    held = list_suppressions(store)
    assert [(h["rule"], h["channel"], h["reason"], h["raised_by"]) for h in held] == [
        ("withdrawal", "desk", OLD_REASON, None),
        ("withdrawal", "ops", OLD_REASON, None),
    ]
    assert {(h["article_id"], h["story_id"], h["created_at"]) for h in held} == {
        (result.article_id, result.story_id, NOW)
    }


def test_a_fresh_copy_of_a_held_back_story_still_raises_the_story_alert(store: Database) -> None:
    old = ingest_article(
        store, article("https://a.example/1", "2024-01-02T00:00:00Z"), RULES, now=NOW
    )
    fresh = ingest_article(
        store,
        article("https://b.example/2", "2024-05-11T09:00:00Z", source="b"),
        RULES,
        now=LATER,
    )
    assert fresh.status == "copy" and fresh.story_id == old.story_id
    assert fresh.alerts_queued == 2
    assert alerts(store) == [
        (old.story_id, "withdrawal", "ops"),
        (old.story_id, "withdrawal", "desk"),
    ]
    # The record of what was held back stays, and says the story was alerted after all.
    raised = {row["channel"]: row["raised_by"] for row in list_suppressions(store)}
    ids = {r["channel"]: r["id"] for r in store.query("SELECT id, channel FROM alerts")}
    assert raised == ids


def test_an_old_copy_of_an_alerted_story_records_nothing_held_back(store: Database) -> None:
    first = ingest_article(
        store, article("https://a.example/1", "2024-05-10T09:00:00Z"), RULES, now=NOW
    )
    assert first.alerts_queued == 2
    late = ingest_article(
        store,
        article("https://b.example/2", "2024-01-02T00:00:00Z", source="b"),
        RULES,
        now=LATER,
    )
    assert late.status == "copy" and late.alerts_queued == 0
    # The story was alerted: nothing about it was held back.
    assert list_suppressions(store) == []
    assert len(alerts(store)) == 2


def test_an_article_without_a_date_is_alerted(store: Database) -> None:
    result = ingest_article(store, article("https://a.example/1", None), RULES, now=NOW)
    assert result.alerts_queued == 2
    assert list_suppressions(store) == []


def test_a_reason_to_hold_back_holds_even_a_fresh_article(store: Database) -> None:
    result = ingest_article(
        store,
        article("https://a.example/1", "2024-05-10T11:00:00Z"),
        RULES,
        now=NOW,
        hold_alerts="imported with --no-alerts",
    )
    assert result.alerts_queued == 0 and alerts(store) == []
    assert {h["reason"] for h in list_suppressions(store)} == {"imported with --no-alerts"}
    assert suppressed_articles(store, "withdrawal", [result.article_id, 999]) == {result.article_id}
    assert suppressed_articles(store, "other", [result.article_id]) == set()


def test_listing_filters_by_rule_channel_and_time(store: Database) -> None:
    ingest_article(store, article("https://a.example/1", "2024-01-02T00:00:00Z"), RULES, now=NOW)
    assert len(list_suppressions(store, channel="ops")) == 1
    assert list_suppressions(store, rule="nope") == []
    assert len(list_suppressions(store, since=NOW)) == 2
    assert list_suppressions(store, until=NOW) == []
    assert len(list_suppressions(store, limit=1)) == 1
