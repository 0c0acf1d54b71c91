"""``marsad status`` on a store whose digest channel holds alerts: the outbox counts say how
many are held for digests, beside pending and dead, in the human and the ``--json`` report.

The store is filled through the real ingest path and digest job with a fixed clock: three
alerts of an hourly digest channel (two of them in a digest closed and not sent yet, one
waiting for its hour to end) and one alert of a channel without a digest (pending).
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from marsad.alerts.channels import parse_channels
from marsad.alerts.matching import compile_rules
from marsad.alerts.rules import Rule
from marsad.cli.status import describe, gather_status
from marsad.ingest import ingest_article
from marsad.scheduler.digests import close_due_digests
from marsad.storage.db import open_store
from marsad.storage.models import NewArticle
from marsad.times import to_iso

MARSAD = [sys.executable, "-c", "from marsad.cli import main; main()"]
T0 = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)
_WORDS = ("القوات", "الحكومة", "المدينة", "الشمال", "الجنوب", "الاتفاق", "المفاوضات", "النفط")


def _fill(path: Path) -> None:
    db = open_store(path)
    channels = parse_channels(
        {
            "hourly": {"type": "webhook", "url": "http://127.0.0.1:9/h", "digest": "hourly"},
            "alone": {"type": "webhook", "url": "http://127.0.0.1:9/a"},
        },
        environ={},
    )
    rules = compile_rules(
        [Rule("انسحاب", ("الانسحاب",), ("hourly",)), Rule("هدنة", ("الهدنة",), ("alone",))]
    )
    for number, (word, minutes) in enumerate(
        [("الانسحاب", 10), ("الانسحاب", 20), ("الهدنة", 30), ("الانسحاب", 70)]
    ):
        rng = random.Random(number)
        text = f"{word} " + " ".join(rng.choice(_WORDS) for _ in range(60))
        url = f"https://a.example/{number}"
        article = NewArticle(
            url=url, canonical_url=url, source="أ", title=f"{word} {number}", text=text
        )
        stored = ingest_article(db, article, rules, now=to_iso(T0 + timedelta(minutes=minutes)))
        assert stored.alerts_queued == 1
    # 10:15: the 09:00 hour's two alerts are in a digest (queued, pending); 10:10's is held.
    closed = close_due_digests(db, channels, T0 + timedelta(minutes=75))
    assert [(d.alerts, d.stories) for d in closed] == [(2, 2)]
    db.close()


def test_status_counts_alerts_held_for_digests(tmp_path: Path) -> None:
    store = tmp_path / "store.db"
    _fill(store)
    now = T0 + timedelta(minutes=80)
    report = gather_status(store, now)
    assert report["watch"]["outbox"] == {
        "pending": 2,  # the digest and the alert of the channel without one
        "due": 2,
        "held": 3,
        "dead": 0,
        "oldest_pending_at": to_iso(T0 + timedelta(minutes=30)),
        "oldest_due_at": to_iso(T0 + timedelta(minutes=30)),
    }
    outbox = next(line for line in describe(report) if line.startswith("outbox: "))
    assert outbox == (
        f"outbox: 2 pending, 2 due (since {to_iso(T0 + timedelta(minutes=30))}), "
        "3 held for digests, 0 dead"
    )

    done = subprocess.run(
        [*MARSAD, "status", "--db", str(store), "--json"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1, done.stderr  # no daemon runs on it
    assert json.loads(done.stdout)["watch"]["outbox"]["held"] == 3
