"""Story follow-ups and breaking stories: decided by a pure function on the story's counts,
queued in the article's transaction, exactly once per (rule, story, channel, threshold) even
when the copies come again or from two processes at once."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlite_utils import Database

from marsad.alerts.followups import (
    BREAKING,
    FOLLOW_UP,
    StoryAlert,
    StoryGrowth,
    follow_up_due,
    story_alerts,
)
from marsad.alerts.rules import Breaking, Rule, RuleError, parse_rules
from marsad.cli import cli
from marsad.storage.db import open_store
from marsad.storage.migrations import migrations
from marsad.storage.outbox import enqueue_alert
from marsad.storage.transactions import write_transaction
from tests.test_dedup import ORIGINAL
from tests.webhook_sink import WebhookSink

MARSAD = [sys.executable, "-c", "from marsad.cli import main; main()"]


@pytest.mark.parametrize(
    ("outlets", "reached", "due"),
    [
        (2, 1, None),
        (3, 1, 3),
        (3, 3, None),  # told at 3 already
        (4, 3, None),
        (10, 3, 10),
        (12, 2, 10),  # crossed both at once (a merge): told once, of the highest
        (3, 4, None),  # first alerted at 4 outlets: nothing below to follow up
    ],
)
def test_follow_up_due(outlets: int, reached: int, due: int | None) -> None:
    assert follow_up_due((3, 10), outlets, reached) == due


def test_story_alerts_per_rule_and_channel() -> None:
    follow = Rule("f", ("انسحاب",), ("ops", "chat"), follow_up=(3,))
    breaking = Rule("b", ("انسحاب",), ("ops",), breaking=Breaking(3, 7200.0))
    growth = StoryGrowth(
        outlets=3,
        reached={("f", "ops"): 1, ("f", "chat"): 3},
        matched=frozenset({"b"}),
        outlets_within={7200.0: 3},
    )
    assert story_alerts([follow, breaking], growth) == [
        StoryAlert(FOLLOW_UP, "f", "ops", 3, 3),
        StoryAlert(BREAKING, "b", "ops", 3, 3, 7200.0),
    ]
    # Not matched by the breaking rule, or not within its window: nothing.
    assert story_alerts([breaking], StoryGrowth(3, {}, frozenset(), {7200.0: 3})) == []
    assert story_alerts([breaking], StoryGrowth(5, {}, frozenset({"b"}), {7200.0: 2})) == []
    # Its one alert raised already: not again.
    assert (
        story_alerts([breaking], StoryGrowth(4, {("b", "ops"): 3}, frozenset({"b"}), {7200.0: 4}))
        == []
    )


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"follow_up": [3, 3]}, "'r': follow_up: outlet counts must go up, each once"),
        ({"follow_up": [10, 3]}, "'r': follow_up: outlet counts must go up"),
        ({"follow_up": [1]}, "'r': follow_up: outlet counts must be whole numbers ≥ 2"),
        ({"follow_up": 3}, "'r': follow_up: must be a list of outlet counts"),
        ({"breaking": {"outlets": 5}}, "'r': breaking: within: required"),
        ({"breaking": {"outlets": 1, "within": "2h"}}, "'r': breaking: outlets: must be"),
        ({"breaking": {"outlets": 5, "within": "soon"}}, "'r': breaking: within: must be a"),
        ({"breaking": {"outlets": 5, "within": "2h", "x": 1}}, "'r': breaking: x: unknown key"),
        ({"breaking": 5}, "'r': breaking: must be a table"),
    ],
)
def test_follow_up_and_breaking_errors(extra: dict[str, Any], message: str) -> None:
    with pytest.raises(RuleError, match=message):
        parse_rules([{"name": "r", "keywords": ["انسحاب"], **extra}])


def test_follow_up_and_breaking_parse() -> None:
    (rule,) = parse_rules(
        [
            {
                "name": "r",
                "keywords": ["خطة"],
                "follow_up": [3, 10],
                "breaking": {"outlets": 5, "within": "2h"},
            }
        ]
    )
    assert rule.follow_up == (3, 10) and rule.breaking == Breaking(5, 7200.0)


# -- end to end, through marsad import ------------------------------------------------------------

CONFIG = """
[store]
path = "store.db"

[alerts]
window = "off"

[[rules]]
name = "transport"
keywords = ["خطة"]
channels = ["ops"]
{extra}

[channels.ops]
type = "webhook"
url = "http://127.0.0.1:9/hook"
"""


def setup(tmp_path: Path, extra: str, hook: str = "http://127.0.0.1:9/hook") -> Path:
    config = CONFIG.format(extra=extra).replace("http://127.0.0.1:9/hook", hook)
    (tmp_path / "marsad.toml").write_text(config, encoding="utf-8")
    return tmp_path / "marsad.toml"


def copies(path: Path, outlets: list[tuple[str, str]]) -> Path:
    """A copy of ORIGINAL from each (outlet, published) in turn."""
    lines = [
        {
            "url": f"https://{outlet}.example/story",
            "source": outlet,
            "title": "خطة النقل",
            "text": ORIGINAL,
            "published": published,
        }
        for outlet, published in outlets
    ]
    path.write_text("".join(json.dumps(x, ensure_ascii=False) + "\n" for x in lines), "utf-8")
    return path


def import_(config: Path, path: Path) -> None:
    result = CliRunner().invoke(cli, ["import", str(path), "--config", str(config)])
    assert result.exit_code == 0, result.output


def import_together(config: Path, paths: list[Path]) -> None:
    """``marsad import`` of each of ``paths`` in a process of its own, all at once."""
    runs = [
        subprocess.Popen(
            [*MARSAD, "import", str(path), "--config", str(config)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for path in paths
    ]
    for run in runs:
        _, err = run.communicate(timeout=60)
        assert run.returncode == 0, err[-2000:]


def story_alert_rows(tmp_path: Path) -> list[tuple[int, str, dict[str, Any] | None]]:
    db = open_store(tmp_path / "store.db")
    rows = db.query("SELECT follow_up, payload FROM alerts ORDER BY follow_up, id")
    found = []
    for row in rows:
        payload = json.loads(row["payload"])
        extra = payload.get("follow_up") or payload.get("breaking")
        found.append((row["follow_up"], payload["article"]["source"], extra))
    return found


def test_a_follow_up_at_three_outlets_arrives_exactly_once(tmp_path: Path) -> None:
    config = setup(tmp_path, "follow_up = [3, 10]")
    day = "2026-03-01T{}:00:00Z"
    first = copies(tmp_path / "first.jsonl", [("a", day.format("08")), ("b", day.format("09"))])
    import_(config, first)
    assert story_alert_rows(tmp_path) == [(0, "a", None)]
    third = copies(tmp_path / "third.jsonl", [("c", day.format("10")), ("d", day.format("11"))])
    import_(config, third)
    expected = [(0, "a", None), (3, "c", {"outlets": 3, "threshold": 3})]
    assert story_alert_rows(tmp_path) == expected
    # Importing the same copies again stores nothing and queues nothing.
    import_(config, first)
    import_(config, third)
    assert story_alert_rows(tmp_path) == expected

    # Two processes importing more copies of the story at the same time: each outlet once, the
    # threshold 3 never again, and no follow-up until 10.
    more = [
        copies(tmp_path / f"more{n}.jsonl", [(f"x{n}{i}", day.format("12")) for i in range(2)])
        for n in range(2)
    ]
    import_together(config, more)
    assert story_alert_rows(tmp_path) == expected
    db = open_store(tmp_path / "store.db")
    assert next(db.query("SELECT outlet_count FROM stories WHERE article_count > 0")) == {
        "outlet_count": 8
    }

    # Delivered: the first alert and the follow-up reach the receiver once each (a second run
    # sends nothing again), each under its own idempotency key.
    with WebhookSink() as sink:
        setup(tmp_path, "follow_up = [3, 10]", hook=f"{sink.url}/hook")
        for _ in range(2):
            sent = CliRunner().invoke(cli, ["deliver", "--config", str(config)])
            assert sent.exit_code == 0, sent.output
        bodies = [json.loads(r.body) for r in sink.requests]
    queued = {
        row["id"]: (row["follow_up"], row["idempotency_key"])
        for row in db.query("SELECT id, follow_up, idempotency_key FROM alerts")
    }
    delivered = sorted(
        (*queued[b["alert_id"]], b["idempotency_key"], b["article"]["source"]) for b in bodies
    )
    assert [(level, source) for level, _, _, source in delivered] == [(0, "a"), (3, "c")]
    assert all(stored == sent for _, stored, sent, _ in delivered)
    assert len({key for _, key, _, _ in delivered}) == 2
    # The receiver is told which is the follow-up, and at how many outlets.
    told = sorted((queued[b["alert_id"]][0], b.get("follow_up")) for b in bodies)
    assert told == [(0, None), (3, {"outlets": 3, "threshold": 3})]


def test_two_processes_crossing_a_threshold_together_queue_it_once(tmp_path: Path) -> None:
    config = setup(tmp_path, "follow_up = [3]")
    day = "2026-03-01T{}:00:00Z"
    import_(config, copies(tmp_path / "a.jsonl", [("a", day.format("08"))]))
    halves = [
        copies(tmp_path / "b.jsonl", [("b", day.format("09")), ("c", day.format("09"))]),
        copies(tmp_path / "d.jsonl", [("d", day.format("09")), ("e", day.format("09"))]),
    ]
    import_together(config, halves)
    rows = story_alert_rows(tmp_path)
    assert [(level, extra) for level, _, extra in rows] == [
        (0, None),
        (3, {"outlets": 3, "threshold": 3}),
    ]


BREAKING_RULE = 'breaking = { outlets = 3, within = "2h" }'


def test_breaking_fires_when_the_nth_outlet_comes_within_the_window(tmp_path: Path) -> None:
    config = setup(tmp_path, BREAKING_RULE)
    import_(
        config,
        copies(
            tmp_path / "a.jsonl",
            [("a", "2026-03-01T10:00:00Z"), ("b", "2026-03-01T10:30:00Z")],
        ),
    )
    # Matched twice, by two outlets: not breaking yet, and no ordinary alert either.
    assert story_alert_rows(tmp_path) == []
    import_(config, copies(tmp_path / "c.jsonl", [("c", "2026-03-01T11:59:00Z")]))
    assert story_alert_rows(tmp_path) == [(0, "c", {"outlets": 3, "threshold": 3, "within": "2h"})]
    import_(config, copies(tmp_path / "d.jsonl", [("d", "2026-03-01T11:59:30Z")]))
    assert len(story_alert_rows(tmp_path)) == 1  # once per story


def test_breaking_does_not_fire_when_the_nth_outlet_comes_after_the_window(
    tmp_path: Path,
) -> None:
    config = setup(tmp_path, BREAKING_RULE)
    import_(
        config,
        copies(
            tmp_path / "a.jsonl",
            [
                ("a", "2026-03-01T10:00:00Z"),
                ("b", "2026-03-01T10:30:00Z"),
                ("c", "2026-03-01T12:00:01Z"),
                ("d", "2026-03-01T13:00:00Z"),
            ],
        ),
    )
    assert story_alert_rows(tmp_path) == []


def names_of(db: Database, kind: str) -> list[str]:
    query = f"SELECT name FROM sqlite_master WHERE type = '{kind}' ORDER BY name"
    return [r["name"] for r in db.query(query)]


def test_migration_0015_widens_the_outbox_keeping_alerts_deliveries_and_views(
    tmp_path: Path,
) -> None:
    """A store from before 0015: its alerts are first alerts (follow_up 0), ids, deliveries,
    indexes and views kept; a follow-up at a threshold fits beside them, once."""
    path = tmp_path / "old.db"
    old = Database(sqlite3.connect(path))
    old.execute("PRAGMA foreign_keys = ON")
    everything = migrations._migrations
    try:
        migrations._migrations = [m for m in everything if m.name < "0015"]
        migrations.apply(old)
    finally:
        migrations._migrations = everything
    t0 = "2026-03-01T08:00:00Z"
    old.execute("INSERT INTO stories (id, first_seen, last_seen) VALUES (1, ?, ?)", [t0, t0])
    old.execute(
        "INSERT INTO articles (id, canonical_url, url, source, extraction, body_hash, story_id, "
        "fetched_at) VALUES (1, 'http://a/1', 'http://a/1', 'a', 'feed', 'h', 1, ?)",
        [t0],
    )
    old.execute(
        "INSERT INTO alerts (id, article_id, story_id, rule, channel, idempotency_key, "
        "payload, status, next_attempt_at, created_at) "
        "VALUES (7, 1, 1, 'r', 'ops', 'k7', '{}', 'sent', ?, ?)",
        [t0, t0],
    )
    old.execute(
        "INSERT INTO deliveries (alert_id, attempted_at, ok, duration_ms) VALUES (7, ?, 1, 1)",
        [t0],
    )
    indexes_before = names_of(old, "index' AND tbl_name = 'alerts")
    views_before = names_of(old, "view")
    old.conn.commit()
    old.close()

    db = open_store(path)
    assert list(db.query("SELECT id, follow_up, status FROM alerts")) == [
        {"id": 7, "follow_up": 0, "status": "sent"}
    ]
    assert [r["alert_id"] for r in db.query("SELECT alert_id FROM deliveries")] == [7]
    assert list(db.query("PRAGMA foreign_key_check")) == []
    assert names_of(db, "index' AND tbl_name = 'alerts") == indexes_before
    assert names_of(db, "view") == views_before
    assert len(list(db.query("SELECT * FROM alert_deliveries"))) == 1
    follow_up = {
        "article_id": 1,
        "story_id": 1,
        "rule": "r",
        "channel": "ops",
        "follow_up": 3,
        "payload": {},
        "created_at": t0,
    }
    with write_transaction(db):
        assert enqueue_alert(db, idempotency_key="k-3", **follow_up) is not None
        # The same threshold again, even under another key: the schema refuses it.
        assert enqueue_alert(db, idempotency_key="k-3b", **follow_up) is None
    assert [r["follow_up"] for r in db.query("SELECT follow_up FROM alerts ORDER BY id")] == [0, 3]
