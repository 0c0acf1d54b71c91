"""The delivery job's own rules: the backoff formula, senders found through the channel-type
registry, a failing sender."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, ClassVar

import pytest
from sqlite_utils import Database

from marsad.alerts.channels import CHANNEL_TYPES, ChannelType, parse_channels
from marsad.alerts.config import DeliveryConfig
from marsad.alerts.delivery import JITTER, deliver_due, open_delivery, retry_delay
from marsad.alerts.matching import compile_rules
from marsad.alerts.outcome import Outcome
from marsad.alerts.rules import Rule
from marsad.ingest import ingest_article
from marsad.storage.models import DueAlert, NewArticle
from marsad.times import to_iso

T0 = datetime(2025, 3, 1, 12, 0, 0, tzinfo=UTC)
CONFIG = DeliveryConfig(max_attempts=5, backoff_base=30.0, backoff_max=600.0)


@dataclass(frozen=True)
class LogChannel:
    """A channel type the package does not know: proves a new channel is a registry entry."""

    kind: ClassVar[str] = "log"
    name: str


LOG: dict[str, Any] = {"log": LogChannel("log")}


class LogSender:
    def __init__(self, db: Database | None = None, fail_for: frozenset[int] = frozenset()):
        self.sent: list[int] = []
        self.in_transaction: list[bool] = []
        self.closed = False
        self._db = db
        self._fail_for = fail_for

    async def send(
        self, alert: DueAlert, story: Mapping[str, Any], channel: Any, *, now: datetime
    ) -> Outcome:
        if self._db is not None:
            self.in_transaction.append(self._db.conn.in_transaction)
        if alert.id in self._fail_for:
            raise RuntimeError("sender bug")
        self.sent.append(alert.id)
        return Outcome.sent()

    async def aclose(self) -> None:
        self.closed = True


def log_type(sender: LogSender) -> ChannelType[LogChannel]:
    """The log channel type, every pass sending through ``sender``."""
    return ChannelType(
        name=LogChannel.kind,
        parse=lambda name, table, where, environ: LogChannel(name),
        sender=lambda: sender,
    )


def queue(db: Database, n: int) -> list[int]:
    rule = Rule("انسحاب", ("الانسحاب",), ("log",))
    for i in range(n):
        url = f"https://a.example/{i}"
        article = NewArticle(
            url=url, canonical_url=url, source="أ", title=f"الانسحاب رقم {i}", text=f"نص {i} " * i
        )
        ingest_article(db, article, compile_rules([rule]), now=to_iso(T0))
    return [int(row["id"]) for row in db.query("SELECT id FROM alerts ORDER BY id")]


@pytest.mark.parametrize(
    ("attempts", "expected"),
    [(0, 30.0), (1, 60.0), (3, 240.0), (4, 480.0), (5, 600.0), (500, 600.0)],
)
def test_backoff_doubles_up_to_the_cap(attempts: int, expected: float) -> None:
    assert retry_delay(attempts, CONFIG) == expected
    assert retry_delay(attempts, CONFIG, rand=0.999) == pytest.approx(
        expected * (1 + JITTER * 0.999)
    )


def test_retry_after_wins_when_later() -> None:
    assert retry_delay(0, CONFIG, retry_after=3600.0, rand=0.5) == 3600.0
    assert retry_delay(0, CONFIG, retry_after=1.0) == 30.0


def test_new_channel_type_is_a_registry_entry_and_no_transaction_spans_a_send(
    store: Database,
) -> None:
    ids = queue(store, 3)
    sender = LogSender(store)
    registry = {**CHANNEL_TYPES, "log": log_type(sender)}
    channels = parse_channels({"log": {"type": "log"}}, environ={}, channel_types=registry)
    assert channels == LOG
    report = asyncio.run(
        deliver_due(store, channels, CONFIG, now=lambda: T0, channel_types=registry)
    )
    assert (report.sent, report.retried, report.dead) == (3, 0, 0)
    assert sender.sent == ids
    assert sender.in_transaction == [False, False, False]
    assert sender.closed


def test_a_sender_that_raises_loses_nothing_and_the_pass_goes_on(store: Database) -> None:
    first, second = queue(store, 2)
    sender = LogSender(fail_for=frozenset({first}))
    report = asyncio.run(
        deliver_due(
            store,
            LOG,
            CONFIG,
            now=lambda: T0,
            channel_types={"log": log_type(sender)},
        )
    )
    assert (report.sent, report.retried) == (1, 1)
    assert sender.sent == [second]
    row = next(store.query("SELECT status, last_error FROM alerts WHERE id = ?", [first]))
    assert row["status"] == "pending"
    assert "internal error: RuntimeError: sender bug" in row["last_error"]


def test_a_channel_type_without_a_sender_is_dead(store: Database) -> None:
    [alert_id] = queue(store, 1)
    report = asyncio.run(deliver_due(store, LOG, CONFIG, now=lambda: T0, channel_types={}))
    assert report.dead == 1
    row = next(store.query("SELECT status, last_error FROM alerts WHERE id = ?", [alert_id]))
    assert (row["status"], row["last_error"]) == ("dead", "no sender for channel type log")


def test_limit_bounds_one_pass(store: Database) -> None:
    queue(store, 3)
    sender = LogSender()
    report = asyncio.run(
        deliver_due(
            store,
            LOG,
            CONFIG,
            now=lambda: T0,
            limit=2,
            channel_types={"log": log_type(sender)},
        )
    )
    assert report.sent == 2


def test_a_session_makes_each_sender_once_and_closes_it_when_it_ends(store: Database) -> None:
    ids = queue(store, 3)
    made: list[LogSender] = []

    def make() -> LogSender:
        made.append(LogSender())
        return made[-1]

    registry = {"log": ChannelType(LogChannel.kind, log_type(LogSender()).parse, make)}

    async def run() -> list[bool]:
        async with open_delivery(LOG, CONFIG, now=lambda: T0, channel_types=registry) as session:
            open_between = []
            for _ in range(3):
                await session.deliver_due(store, limit=1)
                open_between.append(not made[0].closed)
            return open_between

    assert asyncio.run(run()) == [True, True, True]
    assert len(made) == 1 and made[0].sent == ids and made[0].closed
