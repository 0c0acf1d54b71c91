"""The delivery trial: three ``marsad deliver`` processes at once on one store of 500 pending
alerts per channel, to a loopback webhook receiver and a loopback SMTP server; one of them is
killed with SIGKILL in the middle of its pass.

What must hold, and why:

- Every alert arrives at its channel: the survivors send all they can claim and leave alone
  the claims the killed process held (their passes began before it died); the next pass sees
  that the claimer's process is gone and sends them at once (elsewhere a lease lapses first:
  tests/test_delivery_claims.py).
- An alert arrives twice only if the killed process held its claim when it died: a pass holds
  claims only for the sends it has in flight, so the repeats are at most its sends in flight,
  ``CHANNEL_CONCURRENCY`` per channel and ``PASS_CONCURRENCY`` in all (with one send at a time
  this is the "at most one per killed process" of a sequential pass). Each is a send the receiver
  had taken when the process died, never settled; no alert arrives three times.
- A repeat carries the alert's own idempotency key (the webhook header and body; the e-mail's
  X-Marsad-Idempotency-Key and Message-ID), so a receiver can drop it.
- Every other alert arrives exactly once, and the store records one attempt per alert.

The receivers take a moment over each answer after they have the request (the window in which a
kill leaves a delivered alert unsettled) and so that the three passes overlap.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sqlite3
import subprocess
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Awaitable, Iterator
from email import policy
from email.parser import BytesParser
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from marsad.alerts.delivery import CHANNEL_CONCURRENCY, PASS_CONCURRENCY
from tests.test_delivery_claims import MARSAD, SlowSink, queued_store

pytestmark = pytest.mark.slow

ALERTS_PER_CHANNEL = 500
PROCESSES = 3
ANSWER_DELAY = 0.05
TRIAL_TIMEOUT = 120.0


class SlowInbox:
    """An aiosmtpd handler that keeps every message it is given, then takes ``delay`` seconds
    before it answers 250."""

    def __init__(self, delay: float) -> None:
        self.delay = delay
        self.port = 0
        self._lock = threading.Lock()
        self._messages: list[bytes] = []

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        with self._lock:
            self._messages.append(envelope.original_content or b"")
        await asyncio.sleep(self.delay)
        return "250 OK"

    def messages(self) -> list[bytes]:
        with self._lock:
            return list(self._messages)


class _EphemeralController(Controller):
    """Listens on a port the OS picks (aiosmtpd must know its port before it connects to it)."""

    def _create_server(self) -> Awaitable[Any]:
        async def create() -> Any:
            server = await self.loop.create_server(
                self._factory_invoker, host=self.hostname, port=0, ssl=self.ssl_context
            )
            self.port = server.sockets[0].getsockname()[1]
            return server

        return create()


@pytest.fixture
def inbox() -> Iterator[SlowInbox]:
    handler = SlowInbox(ANSWER_DELAY)
    controller = _EphemeralController(handler, hostname="127.0.0.1", port=0)
    controller.start()
    handler.port = controller.port
    try:
        yield handler
    finally:
        controller.stop()


def query(store: Path, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    with sqlite3.connect(store, timeout=30) as conn:
        return conn.execute(sql, params).fetchall()


def wait_until(condition: Any, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.01)
    return False


def test_three_passes_and_a_kill_deliver_every_alert_and_repeat_only_the_killed_ones_sends(
    tmp_path: Path, inbox: SlowInbox
) -> None:
    store = tmp_path / "store.db"
    queued_store(store, ALERTS_PER_CHANNEL, ("hook", "mail"))
    keys = dict(query(store, "SELECT id, idempotency_key FROM alerts"))
    channel_of = dict(query(store, "SELECT id, channel FROM alerts"))
    assert Counter(channel_of.values()) == {"hook": ALERTS_PER_CHANNEL, "mail": ALERTS_PER_CHANNEL}

    with SlowSink(delay=ANSWER_DELAY) as sink:
        config = tmp_path / "marsad.toml"
        config.write_text(
            f"""
[store]
path = "{store}"

[channels.hook]
type = "webhook"
url = "{sink.url}/hook"
timeout = "5s"

[channels.mail]
type = "email"
to = ["desk@example.org"]
from = "marsad@example.org"
smtp_host = "127.0.0.1"
smtp_port = {inbox.port}
timeout = "5s"
""",
            encoding="utf-8",
        )
        logs = [tmp_path / f"deliver-{i}.log" for i in range(PROCESSES)]
        passes = []
        for log in logs:
            with log.open("w", encoding="utf-8") as out:
                passes.append(
                    subprocess.Popen(
                        [*MARSAD, "deliver", "--config", str(config)],
                        stdout=out,
                        stderr=subprocess.STDOUT,
                        text=True,
                    )
                )
        victim = passes[1]
        try:
            # Mid-pass: the victim holds claims, and the receivers have had a good part.
            claimed_by_victim = (
                "SELECT id FROM alerts WHERE status = 'pending' AND claimed_by LIKE ?"
            )
            tag = (f"%:{victim.pid}:%",)
            assert wait_until(
                lambda: (
                    len(sink.requests) + len(inbox.messages()) >= ALERTS_PER_CHANNEL // 2
                    and query(store, claimed_by_victim, tag)
                ),
                TRIAL_TIMEOUT,
            ), "the victim never held claims while the others were busy"
            os.kill(victim.pid, signal.SIGKILL)
            victim.wait(timeout=10)
            sent_at_kill = query(store, "SELECT count(*) FROM alerts WHERE status = 'sent'")[0][0]
            held = {row[0] for row in query(store, claimed_by_victim, tag)}
            for survivor in (passes[0], passes[2]):
                survivor.wait(timeout=TRIAL_TIMEOUT)
        finally:
            for process in passes:
                if process.poll() is None:
                    process.kill()
                    process.wait()
        outputs = [log.read_text(encoding="utf-8") for log in logs]
        assert victim.returncode == -signal.SIGKILL
        for i in (0, 2):
            assert passes[i].returncode == 0, outputs[i]
        survivors_sent = [int(outputs[i].split(" sent")[0]) for i in (0, 2)]

        # The survivors left the killed pass's claims alone; the next pass takes them at once.
        left = query(store, "SELECT id, claimed_by FROM alerts WHERE status = 'pending'")
        recovery = subprocess.run(
            [*MARSAD, "deliver", "--config", str(config)],
            capture_output=True,
            text=True,
            timeout=TRIAL_TIMEOUT,
        )
        webhook_arrivals = list(sink.requests)
    mail_arrivals = inbox.messages()

    assert 0 < len(held) <= PASS_CONCURRENCY
    assert sent_at_kill < 2 * ALERTS_PER_CHANNEL
    assert all(n > 0 for n in survivors_sent), outputs
    assert {alert_id for alert_id, _ in left} == held
    assert all(f":{victim.pid}:" in claimer for _, claimer in left)
    assert recovery.returncode == 0, recovery.stderr
    assert recovery.stdout.splitlines()[0] == f"{len(held)} sent, 0 to retry, 0 dead"
    assert f"claimed by pid {victim.pid}, which is gone" in recovery.stderr

    # Who arrived where, identified by the alert itself, each copy with its key.
    arrived: dict[str, Counter[int]] = defaultdict(Counter)
    for request in webhook_arrivals:
        document = json.loads(request.body)
        alert_id = document["alert_id"]
        assert request.headers["idempotency-key"] == document["idempotency_key"] == keys[alert_id]
        arrived["hook"][alert_id] += 1
    parser = BytesParser(policy=policy.default)
    by_key = {key: alert_id for alert_id, key in keys.items()}
    for raw in mail_arrivals:
        message = parser.parsebytes(raw)
        key = str(message["X-Marsad-Idempotency-Key"])
        assert key in by_key
        assert str(message["Message-ID"]).startswith(f"<{key}@")
        arrived["mail"][by_key[key]] += 1

    repeats: dict[str, set[int]] = {}
    for channel in ("hook", "mail"):
        expected = {i for i, c in channel_of.items() if c == channel}
        assert set(arrived[channel]) == expected, f"{channel}: alerts missing"
        assert max(arrived[channel].values()) <= 2, f"{channel}: an alert arrived 3 times"
        repeats[channel] = {i for i, n in arrived[channel].items() if n == 2}
        assert repeats[channel] <= held, f"{channel}: a repeat the killed pass did not hold"
        assert len(repeats[channel]) <= CHANNEL_CONCURRENCY
    assert len(repeats["hook"]) + len(repeats["mail"]) <= PASS_CONCURRENCY

    statuses = Counter(row[0] for row in query(store, "SELECT status FROM alerts"))
    assert statuses == {"sent": 2 * ALERTS_PER_CHANNEL}
    assert query(store, "SELECT count(*) FROM alerts WHERE claimed_by IS NOT NULL") == [(0,)]
    attempts = Counter(row[0] for row in query(store, "SELECT alert_id FROM deliveries"))
    assert set(attempts.values()) == {1} and len(attempts) == 2 * ALERTS_PER_CHANNEL
    print(
        f"trial: {len(held)} claims held by the killed pass, repeats "
        f"{len(repeats['hook'])} webhook + {len(repeats['mail'])} e-mail; survivors sent "
        f"{survivors_sent}; {sent_at_kill} sent when it was killed"
    )
