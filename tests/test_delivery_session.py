"""A delivery session: senders kept open across passes (one HTTP client per webhook channel, its
connections reused), and drains that run passes until nothing is due.

Real stores, real webhook receivers on 127.0.0.1 that count TCP connections
(tests/counting_sink.py); the clock that stamps the store is injected, so a retry's time stays
in the future unless a test says otherwise.
"""

from __future__ import annotations

import asyncio
import itertools
import socket
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlite_utils import Database

from marsad.alerts.channels import Channel, parse_channels
from marsad.alerts.config import DeliveryConfig
from marsad.alerts.delivery import (
    CHANNEL_CONCURRENCY,
    DRAIN_MAX_PASSES,
    PASS_LIMIT,
    DeliveryReport,
    DrainReport,
    deliver_due,
    open_delivery,
)
from marsad.cli.deliver import deliver_command
from marsad.storage.db import open_store
from marsad.storage.outbox import outbox_backlog
from marsad.times import to_iso, utc_now
from tests.counting_sink import CountingSink
from tests.test_delivery_claims import (
    MARSAD,
    alert_keys,
    queue_alerts,
    queued_store,
    webhook_config,
)

T0 = datetime(2025, 3, 1, 12, 0, 0, tzinfo=UTC)
CONFIG = DeliveryConfig(max_attempts=5, backoff_base=30.0, backoff_max=600.0)


@pytest.fixture
def sink() -> Iterator[CountingSink]:
    with CountingSink() as running:
        yield running


def hooks(**urls: str) -> dict[str, Channel]:
    return parse_channels(
        {name: {"type": "webhook", "url": url, "timeout": "5s"} for name, url in urls.items()},
        environ={},
    )


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def attempts_per_alert(db: Database) -> Counter[int]:
    return Counter(row["alert_id"] for row in db.query("SELECT alert_id FROM deliveries"))


def drain(db: Database, channels: dict[str, Channel], **bounds: Any) -> DrainReport:
    async def run() -> DrainReport:
        async with open_delivery(channels, CONFIG, now=lambda: T0) as session:
            return await session.drain(db, **bounds)

    return asyncio.run(run())


# -- drains ---------------------------------------------------------------------------------------


def test_one_drain_delivers_every_due_alert_not_one_pass_of_them(
    store: Database, sink: CountingSink
) -> None:
    queue_alerts(store, 250)
    channels = hooks(hook=sink.url + "/hook")
    # One pass, as `marsad crawl` ran: the first PASS_LIMIT, the rest left pending.
    one_pass = asyncio.run(deliver_due(store, channels, CONFIG, now=lambda: T0))
    assert one_pass.sent == PASS_LIMIT == 100
    assert one_pass.backlog is not None and one_pass.backlog.due == 150

    report = drain(store, channels)
    assert (report.sent, report.retried, report.dead, report.lost) == (150, 0, 0, 0)
    assert (report.passes, report.ended) == (2, "nothing due")
    assert report.backlog is not None
    assert (report.backlog.due, report.backlog.held, report.backlog.waiting) == (0, 0, 0)
    keys = sink.keys()
    assert set(keys) == alert_keys(store, "hook") and set(keys.values()) == {1}
    assert set(attempts_per_alert(store).values()) == {1}


def test_a_drain_of_250_takes_passes_of_100_over_a_few_connections(
    store: Database, sink: CountingSink
) -> None:
    queue_alerts(store, 250)
    report = drain(store, hooks(hook=sink.url + "/hook"))
    assert (report.sent, report.passes, report.ended) == (250, 3, "nothing due")
    assert len(sink.keys()) == 250
    # The passes' sends went over a few kept-alive connections (the first pass opens up to
    # CHANNEL_CONCURRENCY; on a busy machine one left idle for 2 s expires and is opened again).
    assert sink.accepted <= 250 // 10


def test_a_failing_channel_does_not_stop_the_drain_and_it_ends(
    store: Database, sink: CountingSink
) -> None:
    sink.status["/down"] = 503
    queue_alerts(store, 120, ("good", "down", "gone"))
    channels = hooks(
        good=sink.url + "/good",
        down=sink.url + "/down",
        gone=f"http://127.0.0.1:{closed_port()}/hook",
    )
    started = time.monotonic()
    report = drain(store, channels)
    elapsed = time.monotonic() - started

    assert report.sent == 120 and set(sink.keys("/good")) == alert_keys(store, "good")
    assert (report.retried, report.dead) == (240, 0)
    # The retries are 30 s or more away: not due, so the drain ends, each alert tried once.
    assert report.ended == "nothing due"
    assert report.passes == 4  # 360 alerts, 100 a pass
    assert set(attempts_per_alert(store).values()) == {1}
    assert report.backlog is not None
    assert (report.backlog.due, report.backlog.waiting) == (0, 240)
    assert elapsed < 30


def test_a_drain_stops_claiming_at_its_deadline(store: Database) -> None:
    queue_alerts(store, 100)
    with CountingSink(delay=0.05) as slow:
        started = time.monotonic()
        report = drain(store, hooks(hook=slow.url), deadline=0.3)
        elapsed = time.monotonic() - started
        answered = sum(slow.keys().values())
    assert report.ended == "deadline"
    # 100 answers, 4 at a time, take 1.25 s; the drain claimed for 0.3 s, then settled.
    assert 0 < report.sent == answered < 100
    assert report.backlog is not None
    assert (report.backlog.due, report.backlog.held) == (100 - report.sent, 0)
    assert elapsed < 1.0


def test_a_drain_ends_after_its_limit_or_its_passes(store: Database, sink: CountingSink) -> None:
    queue_alerts(store, 250)
    channels = hooks(hook=sink.url)
    limited = drain(store, channels, limit=150)
    assert (limited.sent, limited.passes, limited.ended) == (150, 2, "limit")
    passes = drain(store, channels, max_passes=1, pass_limit=40)
    assert (passes.sent, passes.passes, passes.ended) == (40, 1, "max passes")
    assert passes.backlog is not None and passes.backlog.due == 60


def test_retries_that_come_due_are_bounded_by_the_passes(
    store: Database, sink: CountingSink
) -> None:
    # The shortest backoff, and a clock a second on at each reading: every failed alert is due
    # again by the next pass (never within its own), and the bound on passes ends the drain.
    sink.status["/down"] = 503
    queue_alerts(store, 3)
    config = DeliveryConfig(max_attempts=1000, backoff_base=1.0, backoff_max=1.0)
    seconds = itertools.count()

    def ticking() -> datetime:
        return T0 + timedelta(seconds=next(seconds))

    async def run() -> DrainReport:
        async with open_delivery(hooks(hook=sink.url + "/down"), config, now=ticking) as s:
            return await s.drain(store, max_passes=5)

    report = asyncio.run(run())
    assert (report.passes, report.ended, report.retried, report.sent) == (5, "max passes", 15, 0)
    assert set(attempts_per_alert(store).values()) == {5}


def test_closing_the_session_ends_a_running_drain(store: Database) -> None:
    queue_alerts(store, 100)
    with CountingSink(delay=0.05) as slow:

        async def run() -> DrainReport:
            session = open_delivery(hooks(hook=slow.url), CONFIG, now=lambda: T0)
            draining = asyncio.create_task(session.drain(store))
            deadline = time.monotonic() + 10
            while not slow.keys() and time.monotonic() < deadline:
                await asyncio.sleep(0.01)
            await session.aclose()  # waits for the sends in flight
            assert draining.done()
            with pytest.raises(RuntimeError, match="closed"):
                await session.deliver_due(store)
            return await draining

        report = asyncio.run(run())
        answered = sum(slow.keys().values())
        assert slow.wait_closed(2.0)
    assert report.ended == "stopped"
    assert 0 < report.sent == answered < 100
    backlog = outbox_backlog(store, to_iso(T0))
    assert (backlog.due, backlog.held) == (100 - report.sent, 0)


# -- connections --------------------------------------------------------------------------------


def run_passes(db: Database, channels: dict[str, Channel], n: int) -> list[DeliveryReport]:
    async def run() -> list[DeliveryReport]:
        async with open_delivery(channels, CONFIG, now=lambda: T0) as session:
            return [await session.deliver_due(db, limit=1) for _ in range(n)]

    return asyncio.run(run())


def test_a_sessions_passes_reuse_one_connection(store: Database, sink: CountingSink) -> None:
    queue_alerts(store, 10)
    channels = hooks(hook=sink.url)
    reports = run_passes(store, channels, 5)
    assert [r.sent for r in reports] == [1] * 5
    assert sink.accepted == 1 and list(sink.ports.values()) == [5]

    # A pass in a session of its own (what every pass was) opens a connection of its own.
    for _ in range(5):
        assert asyncio.run(deliver_due(store, channels, CONFIG, now=lambda: T0, limit=1)).sent
    assert sink.accepted == 1 + 5


def test_a_session_closes_its_connections_when_it_ends(store: Database, sink: CountingSink) -> None:
    queue_alerts(store, 8)

    async def run() -> int:
        async with open_delivery(hooks(hook=sink.url), CONFIG, now=lambda: T0) as session:
            await session.deliver_due(store)
            return sink.open_connections

    open_during = asyncio.run(run())
    assert 1 <= open_during <= CHANNEL_CONCURRENCY
    assert sink.wait_closed(2.0), "the session left connections open"


def test_a_kept_alive_connection_closed_under_a_send_is_retried_at_once(
    store: Database, sink: CountingSink
) -> None:
    queue_alerts(store, 2)

    async def run() -> list[DeliveryReport]:
        async with open_delivery(hooks(hook=sink.url), CONFIG, now=lambda: T0) as session:
            first = await session.deliver_due(store, limit=1)
            # The receiver hangs up on the kept-alive connection when the next request comes.
            sink.drop_reused(1)
            return [first, await session.deliver_due(store, limit=1)]

    first, second = asyncio.run(run())
    assert (first.sent, second.sent, second.retried, second.errors) == (1, 1, 0, [])
    # The second alert went twice: dropped on the old connection, answered on a new one.
    assert [a.answered for a in sink.arrivals] == [True, False, True]
    assert sink.arrivals[1].key == sink.arrivals[2].key
    assert sink.arrivals[0].port == sink.arrivals[1].port != sink.arrivals[2].port
    assert sink.accepted == 2
    assert set(attempts_per_alert(store).values()) == {1}


def test_a_long_lived_client_survives_a_receiver_restart(
    store: Database, sink: CountingSink
) -> None:
    queue_alerts(store, 2)

    async def run() -> list[DeliveryReport]:
        async with open_delivery(hooks(hook=sink.url), CONFIG, now=lambda: T0) as session:
            first = await session.deliver_due(store, limit=1)
            sink.restart()  # its connections closed, listening again on the same port
            return [first, await session.deliver_due(store, limit=1)]

    first, second = asyncio.run(run())
    assert (first.sent, second.sent, second.errors) == (1, 1, [])
    assert sink.accepted == 2 and len({a.port for a in sink.arrivals}) == 2
    assert set(attempts_per_alert(store).values()) == {1}


def test_deliver_help_states_the_bound_on_passes() -> None:
    assert f"up to {DRAIN_MAX_PASSES} passes" in " ".join((deliver_command.help or "").split())


def test_marsad_deliver_also_sends_what_came_due_while_it_ran(tmp_path: Path) -> None:
    store = tmp_path / "store.db"
    queued_store(store, 40)
    with CountingSink(delay=0.15) as slow:
        config = webhook_config(tmp_path, store, slow.url)
        process = subprocess.Popen(
            [*MARSAD, "deliver", "--config", str(config)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            # Its first pass has begun; queue five alerts due from a second after its start
            # (stored times are whole seconds), so that pass leaves them to the next.
            deadline = time.monotonic() + 30
            while not slow.arrivals and time.monotonic() < deadline and process.poll() is None:
                time.sleep(0.01)
            begun = utc_now()
            while utc_now() <= begun and time.monotonic() < deadline:
                time.sleep(0.01)
            db = open_store(store)
            try:
                queue_alerts(db, 5, first=40, now=utc_now())
            finally:
                db.close()
            out, err = process.communicate(timeout=60)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
        answered = slow.keys()
    assert process.returncode == 0, err
    assert out.splitlines() == [
        "45 sent, 0 to retry, 0 dead",
        "left: 0 due, 0 held by another delivery, 0 waiting for a retry",
    ]
    assert len(answered) == 45 and set(answered.values()) == {1}


def test_a_new_connection_closed_without_an_answer_waits_for_the_backoff(
    store: Database, sink: CountingSink
) -> None:
    # Not the stale connection case: the receiver took this request and hung up on it (it may
    # have acted on it), so the alert is not sent again at once.
    queue_alerts(store, 1)
    sink.drop_fresh(1)
    [report] = run_passes(store, hooks(hook=sink.url), 1)
    assert (report.sent, report.retried) == (0, 1)
    assert "RemoteProtocolError" in report.errors[0]
    assert [a.answered for a in sink.arrivals] == [False]
