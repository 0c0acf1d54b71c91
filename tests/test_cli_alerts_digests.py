"""``marsad alerts`` on a store with digests, through the real CLI in a subprocess: alerts held
for their channel's digest (``--status held``), each alert a digest carries saying ``in digest
N``, and the digests themselves (channel, period, how many stories and alerts), in the human
and the ``--json`` output.

The store is built through the real ingest path, digest job and outbox with a fixed clock: a
webhook channel with a daily 07:00 Asia/Riyadh digest; two alerts on 1 March (their digest sent
to a loopback receiver), one on 2 March (its digest closed, not sent yet) and one on 3 March
(its period has not ended: held, in no digest).
"""

from __future__ import annotations

import asyncio
import json
import random
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlite_utils import Database

from marsad.alerts.channels import Channel, parse_channels
from marsad.alerts.config import DeliveryConfig
from marsad.alerts.delivery import deliver_due
from marsad.alerts.matching import compile_rules
from marsad.alerts.rules import Rule
from marsad.cli import cli
from marsad.ingest import ingest_article
from marsad.scheduler.digests import close_due_digests
from marsad.storage.db import open_store
from marsad.storage.models import NewArticle
from marsad.times import to_iso
from tests.webhook_sink import WebhookSink

FIXTURES = Path(__file__).parent / "fixtures" / "cli"
MARSAD = [sys.executable, "-c", "from marsad.cli import main; main()"]
# 07:00 in Riyadh is 04:00 UTC.
DAY1 = datetime(2025, 3, 1, 4, 0, tzinfo=UTC)
_WORDS = ("القوات", "الحكومة", "المدينة", "الشمال", "الجنوب", "الاتفاق", "المفاوضات", "النفط")
TITLES = ("الانسحاب من الميناء", "الانسحاب من المطار", "الانسحاب من الجسر", "الانسحاب من السوق")


def _channels(url: str) -> dict[str, Channel]:
    table = {"type": "webhook", "url": url, "digest": "daily 07:00", "timezone": "Asia/Riyadh"}
    return parse_channels({"desk": table}, environ={})


def _raise(db: Database, number: int, at: datetime) -> None:
    rng = random.Random(number)
    text = "الانسحاب " + " ".join(rng.choice(_WORDS) for _ in range(60))
    url = f"https://a.example/{number}"
    article = NewArticle(url=url, canonical_url=url, source="أ", title=TITLES[number], text=text)
    rules = compile_rules([Rule("انسحاب", ("الانسحاب",), ("desk",))])
    assert ingest_article(db, article, rules, now=to_iso(at)).alerts_queued == 1


@pytest.fixture(scope="module")
def store_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("digests") / "store.db"
    db = open_store(path)
    config = DeliveryConfig(max_attempts=5, backoff_base=30.0, backoff_max=600.0)
    with WebhookSink() as sink:
        channels = _channels(sink.url + "/in")
        _raise(db, 0, DAY1 + timedelta(hours=1))
        _raise(db, 1, DAY1 + timedelta(hours=2))
        day2 = DAY1 + timedelta(days=1, minutes=5)
        assert [d.id for d in close_due_digests(db, channels, day2)] == [1]
        report = asyncio.run(deliver_due(db, channels, config, now=lambda: day2))
        assert (report.sent, report.errors) == (1, [])
        _raise(db, 2, DAY1 + timedelta(days=1, hours=3))
        day3 = DAY1 + timedelta(days=2, minutes=5)
        assert [d.id for d in close_due_digests(db, channels, day3)] == [2]
        _raise(db, 3, DAY1 + timedelta(days=2, hours=1))
        # The digest job's next run holds it (its period has not ended): no digest.
        assert close_due_digests(db, channels, DAY1 + timedelta(days=2, hours=2)) == []
        assert len(sink.requests) == 1
    db.close()
    return path


def marsad(store: Path, *args: str) -> str:
    """``marsad alerts ARGS`` in this process (the command's own code, without the seconds a
    fresh interpreter costs; one test runs it as a subprocess)."""
    done = CliRunner().invoke(cli, ["alerts", *args, "--db", str(store)])
    assert done.exit_code == 0, done.output
    return done.stdout


def test_json_lists_alerts_with_their_digest_and_the_digests(store_path: Path) -> None:
    rows: list[dict[str, Any]] = json.loads(marsad(store_path, "--json"))
    # Article alerts are the alert_deliveries view's rows (digest_id: the digest carrying
    # one); digest rows say their kind and period.
    summary = [
        (r.get("kind"), r["alert_id"], r["status"], r["digest_id"], r.get("period")) for r in rows
    ]
    assert summary == [
        (None, 6, "held", None, None),
        ("digest", 5, "pending", 2, "2025-03-02 07:00 → 2025-03-03 07:00 (Asia/Riyadh)"),
        (None, 4, "held", 2, None),
        ("digest", 3, "sent", 1, "2025-03-01 07:00 → 2025-03-02 07:00 (Asia/Riyadh)"),
        (None, 2, "sent", 1, None),
        (None, 1, "sent", 1, None),
    ]
    sent_digest = rows[3]
    assert {k: sent_digest[k] for k in ("channel", "story_count", "alert_count", "sent_at")} == {
        "channel": "desk",
        "story_count": 2,
        "alert_count": 2,
        "sent_at": "2025-03-02T04:05:00Z",
    }
    assert sent_digest["schedule"] == "daily 07:00 Asia/Riyadh"
    held = json.loads(marsad(store_path, "--status", "held", "--json"))
    assert [(r["alert_id"], r["digest_id"]) for r in held] == [(6, None), (4, 2)]
    # A digest is no one rule's: --rule lists article alerts only.
    by_rule = json.loads(marsad(store_path, "--rule", "انسحاب", "--json"))
    assert [r["alert_id"] for r in by_rule] == [6, 4, 2, 1]


def test_human_output_shows_in_digest_n_and_a_digests_table(store_path: Path) -> None:
    # The whole output, as a person sees it (tables are wider than a line of code).
    expected = (FIXTURES / "alerts_digests_sent.txt").read_text(encoding="utf-8")
    assert marsad(store_path, "--status", "sent") == expected
    done = subprocess.run(
        [*MARSAD, "alerts", "--db", str(store_path)], capture_output=True, text=True, timeout=60
    )
    assert (done.returncode, done.stderr) == (0, "")
    assert done.stdout == (FIXTURES / "alerts_digests_all.txt").read_text(encoding="utf-8")


def test_a_dead_digest_is_retried_by_its_id_and_then_carries_its_alerts(tmp_path: Path) -> None:
    """``marsad alerts retry ID`` of a digest the receiver refused: queued again, sent at the
    next pass, and the alerts it carries (dead with it) are recorded as sent in it."""
    db = open_store(tmp_path / "store.db")
    config = DeliveryConfig(max_attempts=5, backoff_base=30.0, backoff_max=600.0)
    with WebhookSink() as sink:
        channels = _channels(sink.url + "/in")
        _raise(db, 0, DAY1 + timedelta(hours=1))
        day2 = DAY1 + timedelta(days=1, minutes=5)
        [closed] = close_due_digests(db, channels, day2)
        sink.answer_next(410)  # a permanent refusal: the digest and its alert are dead
        assert asyncio.run(deliver_due(db, channels, config, now=lambda: day2)).dead == 1
        dead = [(r["kind"], r["status"]) for r in db.query("SELECT kind, status FROM alerts")]
        assert dead == [("article", "dead"), ("digest", "dead")]

        digest_row = int(next(db.query("SELECT id FROM alerts WHERE kind = 'digest'"))["id"])
        retried = CliRunner().invoke(
            cli, ["alerts", "retry", str(digest_row), "--db", str(tmp_path / "store.db")]
        )
        assert retried.exit_code == 0, retried.output
        assert retried.stdout.startswith(f"alert {digest_row} ((digest) → desk) re-queued")
        # Re-queued due now by the real clock, as a person's retry is.
        after = asyncio.run(deliver_due(db, channels, config, now=lambda: datetime.now(UTC)))
        assert (after.sent, after.errors) == (1, [])
        assert len(sink.requests) == 2
    rows = db.query("SELECT kind, status, digest_id FROM alerts ORDER BY id")
    assert [tuple(r.values()) for r in rows] == [
        ("article", "sent", closed.id),
        ("digest", "sent", closed.id),
    ]
    db.close()
