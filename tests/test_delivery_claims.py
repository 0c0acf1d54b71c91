"""Delivery passes claim alerts before sending them, so any number of passes, in any number of
processes on one store, send each alert at most once per attempt; and a pass sends concurrently
within its bounds.

Real stores on disk (one connection per pass, as separate processes have), real `marsad deliver`
subprocesses and real loopback webhook receivers; time is injected where a lease must lapse.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar

import pytest
from sqlite_utils import Database

from marsad.alerts.channels import ChannelType, parse_channels
from marsad.alerts.config import DeliveryConfig
from marsad.alerts.delivery import (
    CHANNEL_CONCURRENCY,
    PASS_CONCURRENCY,
    SEND_SLACK_SECONDS,
    SMTP_EXCHANGES,
    STORE_WAIT_SECONDS,
    claimer_process,
    deliver_due,
    lease_seconds,
    new_claimer,
    process_is_gone,
    send_deadline,
)
from marsad.alerts.matching import compile_rules
from marsad.alerts.outcome import Outcome
from marsad.alerts.rules import Rule
from marsad.ingest import ingest_article
from marsad.storage.db import open_store
from marsad.storage.models import DueAlert, NewArticle
from marsad.storage.outbox import claim_due_alerts, mark_sent, outbox_backlog, requeue_alert
from marsad.storage.transactions import write_transaction
from marsad.times import to_iso
from tests.webhook_sink import Received, WebhookSink

MARSAD = [sys.executable, "-c", "from marsad.cli import main; main()"]
QUEUED_AT = "2025-03-01T12:00:00Z"
T0 = datetime(2025, 3, 1, 12, 0, 0, tzinfo=UTC)
CONFIG = DeliveryConfig(max_attempts=5, backoff_base=30.0, backoff_max=600.0)
# Words the synthetic articles are drawn from (written for these tests).
_WORDS = [
    *("القوات", "الحكومة", "المدينة", "الشمال", "الجنوب", "الاتفاق", "المفاوضات", "الرئيس"),
    *("الوزير", "البرلمان", "الاقتصاد", "السوق", "النفط", "المطار", "الميناء", "الجامعة"),
    *("المستشفى", "الطريق", "الجسر", "المصنع", "الحدود", "الوفد"),
]


def queue_alerts(
    db: Database,
    count: int,
    channels: tuple[str, ...] = ("hook",),
    *,
    first: int = 0,
    now: str = QUEUED_AT,
) -> None:
    """``count`` articles in ``db`` (numbered from ``first``), each raising one alert per
    channel, due from ``now``.

    The texts are random draws from a small vocabulary: different enough that no article is a
    copy of another, so each is its own story and gets its own alerts."""
    rng = random.Random(count if not first else f"{first}:{count}")
    rules = compile_rules([Rule("انسحاب", ("الانسحاب",), channels)])
    for i in range(first, first + count):
        text = "الانسحاب " + " ".join(rng.choice(_WORDS) for _ in range(60))
        url = f"https://a.example/{i}"
        article = NewArticle(
            url=url, canonical_url=url, source="أ", title=f"الانسحاب رقم {i}", text=text
        )
        ingest_article(db, article, rules, now=now)


def queued_store(path: Path, count: int, channels: tuple[str, ...] = ("hook",)) -> None:
    db = open_store(path)
    try:
        queue_alerts(db, count, channels)
    finally:
        db.close()


def alert_keys(db: Database, channel: str) -> set[str]:
    return {
        row["idempotency_key"]
        for row in db.query("SELECT idempotency_key FROM alerts WHERE channel = ?", [channel])
    }


class SlowSink(WebhookSink):
    """A webhook receiver that takes ``delay`` seconds over every answer, after it has the
    request: passes overlap, and a pass stopped meanwhile has a delivered alert unsettled."""

    def __init__(self, delay: float) -> None:
        super().__init__()
        self.delay = delay
        # A client killed while it waits leaves a broken pipe behind: expected, not worth a trace.
        self._server.handle_error = lambda request, client_address: None  # type: ignore[method-assign]

    def __enter__(self) -> SlowSink:
        super().__enter__()
        return self

    def _next_answer(self, received: Received) -> Any:
        answer = super()._next_answer(received)
        time.sleep(self.delay)
        return answer

    def keys(self) -> Counter[str]:
        with self._lock:
            return Counter(r.headers["idempotency-key"] for r in self.requests)


def webhook_config(tmp_path: Path, store: Path, url: str) -> Path:
    config = tmp_path / "marsad.toml"
    config.write_text(
        f'[store]\npath = "{store}"\n\n[channels.hook]\ntype = "webhook"\nurl = "{url}"\n'
        'timeout = "5s"\n',
        encoding="utf-8",
    )
    return config


@pytest.fixture
def two_stores(tmp_path: Path) -> Iterator[tuple[Database, Database]]:
    """Two connections to one store on disk, as two processes have."""
    path = tmp_path / "store.db"
    first, second = open_store(path), open_store(path)
    yield first, second
    first.close()
    second.close()


def claim(db: Database, claimer: str, at: datetime, lease: float, limit: int) -> list[DueAlert]:
    with write_transaction(db):
        return claim_due_alerts(
            db,
            claimer,
            due_by=to_iso(at),
            now=to_iso(at),
            lease_until=to_iso(at + timedelta(seconds=lease)),
            limit=limit,
        )


# -- the claim ------------------------------------------------------------------------------------


def test_claims_are_exclusive_between_connections(two_stores: tuple[Database, Database]) -> None:
    first, second = two_stores
    queue_alerts(first, 5)
    mine = claim(first, "a", T0, 60, limit=3)
    theirs = claim(second, "b", T0, 60, limit=10)
    assert [a.id for a in mine] == [1, 2, 3]  # oldest first, as many as asked
    assert [a.id for a in theirs] == [4, 5]
    assert claim(first, "c", T0, 60, limit=10) == []
    holders = Counter(r["claimed_by"] for r in second.query("SELECT claimed_by FROM alerts"))
    assert holders == {"a": 3, "b": 2}


def test_a_claim_holds_until_its_lease_lapses(two_stores: tuple[Database, Database]) -> None:
    first, second = two_stores
    queue_alerts(first, 1)
    [held] = claim(first, "dead pass", T0, 60, limit=1)
    assert claim(second, "b", T0 + timedelta(seconds=59), 60, limit=1) == []
    [taken] = claim(second, "b", T0 + timedelta(seconds=60), 60, limit=1)
    assert taken.id == held.id
    assert taken.idempotency_key == held.idempotency_key


def test_only_the_holder_settles_an_alert(two_stores: tuple[Database, Database]) -> None:
    first, second = two_stores
    queue_alerts(first, 1)
    [alert] = claim(first, "a", T0, 60, limit=1)
    claim(second, "b", T0 + timedelta(seconds=61), 60, limit=1)  # a's lease lapsed: b took it
    with write_transaction(first):
        assert not mark_sent(first, alert.id, QUEUED_AT, claimer="a")
        assert not mark_sent(first, alert.id, QUEUED_AT)  # nor anyone not holding it
    with write_transaction(second):
        assert mark_sent(second, alert.id, QUEUED_AT, claimer="b")
    row = next(second.query("SELECT status, attempts, claimed_by, lease_until FROM alerts"))
    assert dict(row) == {"status": "sent", "attempts": 1, "claimed_by": None, "lease_until": None}


def test_a_requeued_alert_is_released_from_its_claim(store: Database) -> None:
    queue_alerts(store, 1)
    [alert] = claim(store, "dead pass", T0, 3600, limit=1)
    with write_transaction(store):
        assert requeue_alert(store, alert.id, to_iso(T0))
    [again] = claim(store, "b", T0, 60, limit=1)
    assert again.id == alert.id


# -- the lease ----------------------------------------------------------------------------------


def test_the_lease_outlasts_the_longest_send_and_a_wait_for_the_store() -> None:
    channels = parse_channels(
        {
            "hook": {"type": "webhook", "url": "https://hooks.example/in", "timeout": "10s"},
            "mail": {"type": "email", "to": ["a@example.org", "b@example.org"], "timeout": 30},
        },
        environ={},
    )
    assert send_deadline(channels["hook"]) == 10 + SEND_SLACK_SECONDS
    # smtplib's timeout is per exchange; the send may first wait for a thread.
    mail = 2 * (SMTP_EXCHANGES + 2) * 30 + SEND_SLACK_SECONDS
    assert send_deadline(channels["mail"]) == mail
    assert lease_seconds([channels["hook"]]) == 10 + SEND_SLACK_SECONDS + STORE_WAIT_SECONDS + 1
    assert lease_seconds(channels.values()) == mail + STORE_WAIT_SECONDS + 1


# -- passes -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TallyChannel:
    kind: ClassVar[str] = "tally"
    name: str

    def unset_variables(self) -> tuple[str, ...]:
        return ()


class TallySender:
    """Takes a moment over each send and keeps the most sends it saw at once, per channel and
    in all, and the most alerts the pass held claimed at once."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.sent: list[int] = []
        self.now: Counter[str] = Counter()
        self.most: Counter[str] = Counter()
        self.most_in_all = 0
        self.most_claimed = 0

    async def send(
        self, alert: DueAlert, story: Mapping[str, Any], channel: Any, *, now: datetime
    ) -> Outcome:
        self.now[alert.channel] += 1
        self.most[alert.channel] = max(self.most[alert.channel], self.now[alert.channel])
        self.most_in_all = max(self.most_in_all, sum(self.now.values()))
        claimed = next(self.db.query("SELECT count(*) AS n FROM alerts WHERE claimed_by NOTNULL"))
        self.most_claimed = max(self.most_claimed, claimed["n"])
        await asyncio.sleep(0.005)
        self.now[alert.channel] -= 1
        self.sent.append(alert.id)
        return Outcome.sent()

    async def aclose(self) -> None:
        """Nothing held."""


def test_a_pass_sends_concurrently_within_its_bounds_and_claims_little(store: Database) -> None:
    names = ("a", "b", "c")
    queue_alerts(store, 20, names)
    sender = TallySender(store)
    registry = {"tally": ChannelType("tally", lambda n, t, w, e: TallyChannel(n), lambda: sender)}
    channels = {name: TallyChannel(name) for name in names}
    report = asyncio.run(
        deliver_due(store, channels, CONFIG, now=lambda: T0, limit=None, channel_types=registry)
    )
    assert report.sent == 60
    assert sorted(sender.sent) == list(range(1, 61))
    assert sender.most == {name: CHANNEL_CONCURRENCY for name in names}
    # Three channels could run 12 at once; the pass runs 8, and holds no more claimed than that.
    assert sender.most_in_all == PASS_CONCURRENCY
    assert sender.most_claimed == PASS_CONCURRENCY
    assert report.backlog is not None and report.backlog.due == 0


def test_a_pass_leaves_alerts_another_holds_until_the_claim_lapses(store: Database) -> None:
    queue_alerts(store, 4)
    channels = parse_channels({"hook": {"type": "webhook", "url": "http://x/"}}, environ={})
    lease = lease_seconds(channels.values())
    held = claim(store, "a pass that died", T0, lease, limit=2)
    with WebhookSink() as sink:
        channels = parse_channels({"hook": {"type": "webhook", "url": sink.url}}, environ={})
        first = asyncio.run(deliver_due(store, channels, CONFIG, now=lambda: T0))
        assert first.sent == 2
        assert first.backlog is not None
        assert (first.backlog.due, first.backlog.held) == (0, 2)
        assert first.backlog.held_until == to_iso(T0 + timedelta(seconds=lease))
        later = T0 + timedelta(seconds=lease)
        second = asyncio.run(deliver_due(store, channels, CONFIG, now=lambda: later))
        assert second.sent == 2
        keys = Counter(r.headers["idempotency-key"] for r in sink.requests)
    assert set(keys) == alert_keys(store, "hook")
    assert set(keys.values()) == {1}
    assert {a.idempotency_key for a in held} <= set(keys)
    assert outbox_backlog(store, to_iso(later)).held == 0


def test_hanging_receivers_cost_one_timeout_together_not_one_each(store: Database) -> None:
    names = ("one", "two", "three", "four")
    queue_alerts(store, 1, names)
    with WebhookSink() as sink:
        sink.answer_next(200, count=len(names), hold=True)
        channels = parse_channels(
            {n: {"type": "webhook", "url": f"{sink.url}/{n}", "timeout": 1} for n in names},
            environ={},
        )
        started = time.monotonic()
        report = asyncio.run(deliver_due(store, channels, CONFIG, now=lambda: T0))
        elapsed = time.monotonic() - started
    assert report.retried == len(names)
    assert all("timed out after 1s" in e for e in report.errors)
    # One after another they would take 4 s; together about one timeout.
    assert elapsed < 2.5


def test_two_deliver_processes_on_one_store_send_each_alert_once(tmp_path: Path) -> None:
    store = tmp_path / "store.db"
    queued_store(store, 60)
    with SlowSink(delay=0.03) as sink:
        config = webhook_config(tmp_path, store, sink.url + "/hook")
        passes = [
            subprocess.Popen(
                [*MARSAD, "deliver", "--config", str(config)],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for _ in range(2)
        ]
        outputs = [p.communicate(timeout=120) for p in passes]
        keys = sink.keys()
    for p, (out, err) in zip(passes, outputs, strict=True):
        assert p.returncode == 0, err
        assert "left: 0 due" in out
    db = open_store(store)
    try:
        expected = alert_keys(db, "hook")
        statuses = Counter(row["status"] for row in db.query("SELECT status FROM alerts"))
    finally:
        db.close()
    assert len(expected) == 60
    assert set(keys) == expected
    repeated = {key: n for key, n in keys.items() if n > 1}
    assert repeated == {}, f"{len(repeated)} alerts sent more than once"
    assert statuses == {"sent": 60}
    sent = [int(out.split(" sent")[0]) for out, _ in outputs]
    assert sum(sent) == 60


def test_deliver_with_a_limit_says_how_many_are_still_due(tmp_path: Path) -> None:
    store = tmp_path / "store.db"
    queued_store(store, 12)
    with WebhookSink() as sink:
        config = webhook_config(tmp_path, store, sink.url)
        result = subprocess.run(
            [*MARSAD, "deliver", "--config", str(config), "--limit", "5"],
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "5 sent, 0 to retry, 0 dead",
        "left: 7 due, 0 held by another delivery, 0 waiting for a retry",
    ]


def test_sigterm_lets_the_sends_in_flight_settle_and_claims_nothing_more(tmp_path: Path) -> None:
    store = tmp_path / "store.db"
    queued_store(store, 40)
    with SlowSink(delay=0.3) as sink:
        config = webhook_config(tmp_path, store, sink.url)
        process = subprocess.Popen(
            [*MARSAD, "deliver", "--config", str(config)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        deadline = time.monotonic() + 30
        while not sink.keys() and time.monotonic() < deadline and process.poll() is None:
            time.sleep(0.01)
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=30)
        received = sink.keys()
    assert process.returncode == 130, err
    assert "SIGTERM: finishing the sends in flight" in err
    db = open_store(store)
    try:
        statuses = Counter(row["status"] for row in db.query("SELECT status FROM alerts"))
        claimed = list(db.query("SELECT id FROM alerts WHERE claimed_by IS NOT NULL"))
    finally:
        db.close()
    # Every request the receiver had was answered and settled; the rest wait, unclaimed.
    assert 0 < statuses["sent"] == len(received) < 40
    assert statuses["pending"] == 40 - statuses["sent"]
    assert claimed == []
    assert out.splitlines()[0] == f"{statuses['sent']} sent, 0 to retry, 0 dead"


class LeaseReader:
    """Reads, while it sends, how long the store says its alert is claimed for."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.leases: dict[str, str] = {}

    async def send(
        self, alert: DueAlert, story: Mapping[str, Any], channel: Any, *, now: datetime
    ) -> Outcome:
        row = next(self.db.query("SELECT lease_until FROM alerts WHERE id = ?", [alert.id]))
        self.leases[alert.channel] = row["lease_until"]
        return Outcome.sent()

    async def aclose(self) -> None:
        """Nothing held."""


def test_each_channel_is_claimed_for_as_long_as_its_own_sends_need(store: Database) -> None:
    queue_alerts(store, 1, ("hook", "mail"))
    channels = parse_channels(
        {
            "hook": {"type": "webhook", "url": "https://hooks.example/in", "timeout": "10s"},
            "mail": {"type": "email", "to": ["a@example.org"], "timeout": "30s"},
        },
        environ={},
    )
    reader = LeaseReader(store)
    registry = {
        kind: ChannelType(kind, lambda n, t, w, e: None, lambda: reader)
        for kind in ("webhook", "email")
    }
    report = asyncio.run(
        deliver_due(store, channels, CONFIG, now=lambda: T0, channel_types=registry)
    )
    assert report.sent == 2
    assert reader.leases == {
        name: to_iso(T0 + timedelta(seconds=lease_seconds([channel])))
        for name, channel in channels.items()
    }
    assert reader.leases["hook"] < reader.leases["mail"]


def test_claims_of_a_process_that_is_gone_are_released_by_the_next_pass(store: Database) -> None:
    queue_alerts(store, 3)
    here = socket.gethostname()
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()  # reaped: its pid names no process now
    alive = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        claimers = {
            1: f"{here}:{gone.pid}:dead0001",  # this host, process gone: released
            2: f"{here}:{alive.pid}:live0001",  # this host, alive: its lease holds
            3: f"elsewhere.example:{gone.pid}:far00001",  # cannot be seen: its lease holds
        }
        for alert_id, claimer in claimers.items():
            with write_transaction(store):
                store.execute(
                    "UPDATE alerts SET claimed_by = ?, lease_until = ? WHERE id = ?",
                    [claimer, to_iso(T0 + timedelta(hours=1)), alert_id],
                )
        with WebhookSink() as sink:
            channels = parse_channels({"hook": {"type": "webhook", "url": sink.url}}, environ={})
            report = asyncio.run(deliver_due(store, channels, CONFIG, now=lambda: T0))
            sent = [json.loads(r.body)["alert_id"] for r in sink.requests]
    finally:
        alive.kill()
        alive.wait()
    assert (report.sent, sent) == (1, [1])
    assert report.backlog is not None and report.backlog.held == 2


def test_a_claimer_name_carries_its_host_and_pid() -> None:
    assert claimer_process(new_claimer()) == (socket.gethostname(), os.getpid())
    assert claimer_process("a pass that died") is None
    assert claimer_process("host:notapid:tag") is None
    assert process_is_gone(os.getpid()) is False
