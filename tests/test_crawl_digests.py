"""``marsad crawl`` closes the digests that are due before it delivers, as ``marsad deliver``
and the daemon's digest job do: a cron job that runs only ``marsad crawl`` still sends its
hourly digests.

Two alerts of an hourly digest channel are stored two hours before the run (their hour has
ended); ``marsad crawl``, a real subprocess polling a feed on a loopback server, sends their
digest to a loopback webhook receiver, once, and records both alerts as sent in it.
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from marsad.alerts.matching import compile_rules
from marsad.alerts.rules import Rule
from marsad.ingest import ingest_article
from marsad.storage.db import open_store
from marsad.storage.models import NewArticle
from marsad.times import to_iso
from tests.feedserver import FeedServer
from tests.webhook_sink import WebhookSink

MARSAD = [sys.executable, "-c", "from marsad.cli import main; main()"]
_WORDS = ("القوات", "الحكومة", "المدينة", "الشمال", "الجنوب", "الاتفاق", "المفاوضات", "النفط")
EMPTY_RSS = (
    '<?xml version="1.0" encoding="utf-8"?>\n<rss version="2.0"><channel>'
    "<title>أخبار</title><link>{base}/</link><description>لا جديد</description>"
    "</channel></rss>\n"
)


@pytest.mark.slow  # a crawl subprocess
def test_marsad_crawl_sends_the_digest_of_an_ended_period(tmp_path: Path) -> None:
    store = tmp_path / "store.db"
    db = open_store(store)
    rules = compile_rules([Rule("انسحاب", ("الانسحاب",), ("hourly",))])
    # Two hours ago (the real clock: the subprocess reads it): that hour has ended.
    earlier = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=2)
    for number in range(2):
        rng = random.Random(number)
        text = "الانسحاب " + " ".join(rng.choice(_WORDS) for _ in range(60))
        url = f"https://a.example/{number}"
        article = NewArticle(
            url=url, canonical_url=url, source="أ", title=f"الانسحاب {number}", text=text
        )
        at = to_iso(earlier + timedelta(minutes=10 * (number + 1)))
        assert ingest_article(db, article, rules, now=at).alerts_queued == 1
    db.close()

    with FeedServer() as server, WebhookSink() as sink:
        feed = server.serve("/rss.xml", EMPTY_RSS, "application/rss+xml")
        config = tmp_path / "marsad.toml"
        config.write_text(
            '[store]\npath = "store.db"\n\n[crawl]\ndelay = 0\ndownload_timeout = "3s"\n'
            'workers = 0\nallow_private = ["127.0.0.0/8"]\n\n'
            f'[[feeds]]\nname = "news"\nurl = "{feed}"\n\n'
            f'[channels.hourly]\ntype = "webhook"\nurl = "{sink.url}/digest"\n'
            'digest = "hourly"\n\n'
            '[[rules]]\nname = "انسحاب"\nkeywords = ["الانسحاب"]\nchannels = ["hourly"]\n',
            encoding="utf-8",
        )
        done = subprocess.run(
            [*MARSAD, "crawl", "--config", str(config)],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, done.stderr[-3000:]
        assert [r.path for r in sink.requests] == ["/digest"]
        document = json.loads(sink.requests[0].body)

    digest = document["digest"]
    assert (digest["schedule"], digest["total"]) == ("hourly UTC", 2)
    assert digest["period"] == {
        "start": to_iso(earlier),
        "end": to_iso(earlier + timedelta(hours=1)),
    }
    assert [s["title"] for s in digest["stories"]] == ["الانسحاب 1", "الانسحاب 0"]  # newest first
    db = open_store(store)
    rows = [dict(r) for r in db.query("SELECT kind, status, digest_id FROM alerts ORDER BY id")]
    db.close()
    assert rows == [
        {"kind": "article", "status": "sent", "digest_id": 1},
        {"kind": "article", "status": "sent", "digest_id": 1},
        {"kind": "digest", "status": "sent", "digest_id": 1},
    ]
