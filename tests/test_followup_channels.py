"""A story's follow-ups and breaking alerts as the channels and the store handle them: the
subject says which it is, a merge of two stories keeps a follow-up pending, and a rule scoped to
a feed the config lacks is a config error."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlite_utils import Database

from marsad.alerts.channels.apprise import render_alert
from marsad.alerts.channels.email import EmailChannel, email_message
from marsad.alerts.matching import compile_rules
from marsad.alerts.render import growth_label
from marsad.config import ConfigError, load_config
from marsad.ingest import ingest_article
from marsad.storage.articles import move_alerts
from marsad.storage.db import open_store
from marsad.storage.models import DueAlert, NewArticle
from marsad.storage.outbox import enqueue_alert

FOLLOW_UP = {"rule": "نقل", "article": {"title": "خطة النقل", "url": "https://a.example/1"}}


def due(payload: dict[str, object]) -> DueAlert:
    return DueAlert(
        id=7,
        article_id=1,
        story_id=1,
        rule="نقل",
        channel="ops",
        idempotency_key="k-7",
        payload=payload,
        attempts=0,
    )


def test_growth_label_names_a_follow_up_or_a_breaking_alert() -> None:
    assert growth_label({**FOLLOW_UP, "follow_up": {"outlets": 3, "threshold": 3}}) == (
        "متابعة: 3 outlets"
    )
    breaking = {"outlets": 5, "threshold": 5, "within": "2h"}
    assert growth_label({**FOLLOW_UP, "breaking": breaking}) == "عاجل: 5 outlets in 2h"
    assert growth_label(FOLLOW_UP) is None


def test_a_follow_ups_mail_and_chat_title_are_not_the_first_alerts() -> None:
    channel = EmailChannel(name="ops", to=("desk@example.org",), sender="marsad@example.org")
    first = due(FOLLOW_UP)
    grown = due({**FOLLOW_UP, "follow_up": {"outlets": 3, "threshold": 3}})
    story = {"outlets": 3, "sources": ["أ", "ب", "ج"]}
    assert email_message(first, story, channel)["Subject"] == "[marsad] نقل: خطة النقل"
    assert (
        email_message(grown, story, channel)["Subject"]
        == "[marsad] متابعة: 3 outlets — نقل: خطة النقل"
    )
    assert "متابعة: 3 outlets" in render_alert(grown, story)[0]
    assert "متابعة" not in render_alert(first, story)[0]


def two_stories(db: Database) -> tuple[int, int]:
    ids = []
    for n, body in enumerate(("قطار سريع يربط المدن " * 30, "مهرجان الكتاب يفتتح أبوابه " * 30)):
        url = f"https://s{n}.example/{n}"
        article = NewArticle(url=url, canonical_url=url, source=f"s{n}", title=body[:20], text=body)
        result = ingest_article(db, article, compile_rules([]), now="2026-03-01T08:00:00Z")
        ids.append(
            int(next(db.query("SELECT story_id FROM articles WHERE url = ?", [url]))["story_id"])
        )
        assert result.status == "new"
    return ids[0], ids[1]


def queue_first_alerts(db: Database, keep: int, other: int, at: str) -> None:
    """Each story's first alert of rule r on channel ops, pending."""
    for story, key in ((keep, "first-keep"), (other, "first-other")):
        enqueue_alert(
            db,
            article_id=story,
            story_id=story,
            rule="r",
            channel="ops",
            idempotency_key=key,
            payload={"rule": "r"},
            created_at=at,
        )


def test_a_merge_moves_a_pending_follow_up_instead_of_killing_it(tmp_path: Path) -> None:
    db = open_store(tmp_path / "store.db")
    keep, other = two_stories(db)
    at = "2026-03-01T09:00:00Z"
    queue_first_alerts(db, keep, other, at)
    db.execute("UPDATE alerts SET status = 'sent'")
    follow_up = enqueue_alert(
        db,
        article_id=other,
        story_id=other,
        rule="r",
        channel="ops",
        follow_up=3,
        idempotency_key="follow-up-other",
        payload={"rule": "r"},
        created_at=at,
    )
    assert follow_up is not None
    move_alerts(db, keep, other)
    row = next(
        db.query("SELECT story_id, status, last_error FROM alerts WHERE id = ?", [follow_up])
    )
    assert row == {"story_id": keep, "status": "pending", "last_error": None}


def test_a_rule_scoped_to_a_feed_the_config_lacks_is_a_config_error(tmp_path: Path) -> None:
    config = tmp_path / "marsad.toml"
    config.write_text(
        """
[[feeds]]
name = "alpha"
url = "https://alpha.example/rss"

[[rules]]
name = "r"
keywords = ["خطة"]
feeds = ["alpah"]
""",
        encoding="utf-8",
    )
    with pytest.raises(
        ConfigError, match=r"rules\[0\] 'r': feeds: no feed named 'alpah' \(defined: alpha\)"
    ):
        load_config(config)


def test_an_alert_superseded_by_a_merge_is_no_dead_letter(tmp_path: Path) -> None:
    """Two stories each with a pending first alert, merged: the absorbed story's alert is
    superseded (dead, never sent: the kept story's alert tells it), and is not told as a dead
    letter: it did not fail to be delivered."""
    from marsad.storage.health import unnoticed_dead_letters

    db = open_store(tmp_path / "store.db")
    keep, other = two_stories(db)
    queue_first_alerts(db, keep, other, "2026-03-01T09:00:00Z")
    move_alerts(db, keep, other)
    superseded = list(db.query("SELECT status, last_error FROM alerts WHERE story_id = ?", [other]))
    assert [row["status"] for row in superseded] == ["dead"]
    assert "superseded" in superseded[0]["last_error"]
    assert unnoticed_dead_letters(db).ids == ()
