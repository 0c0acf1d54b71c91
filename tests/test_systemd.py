"""systemd's notify protocol on a real datagram socket, and the shipped unit file.

The daemon says READY=1 once polling has begun, pings WATCHDOG=1 at half of $WATCHDOG_USEC only
while /readyz would pass, and says STOPPING=1 when a graceful stop begins.
"""

from __future__ import annotations

import configparser
import os
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from importlib.resources import files
from pathlib import Path

import pytest

from marsad.scheduler.systemd import Notifier, watchdog_seconds
from tests.test_probes import Daemon, GatedSite, ReadOnly, config_text, daemons, site

__all__ = ["daemons", "site"]  # fixtures used here


class NotifySocket:
    """A datagram socket like systemd's, abstract (``@name``) or on a path."""

    def __init__(self, path: Path | None = None) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        if path is None:
            name = f"marsad-test-{uuid.uuid4().hex}"
            self.sock.bind("\0" + name)
            self.address = "@" + name
        else:
            self.sock.bind(str(path))
            self.address = str(path)
        self.messages: list[tuple[float, str]] = []

    def receive(self, timeout: float) -> str | None:
        self.sock.settimeout(timeout)
        try:
            data = self.sock.recv(4096).decode("utf-8")
        except TimeoutError:
            return None
        self.messages.append((time.monotonic(), data))
        return data

    def wait_for(self, line: str, timeout: float) -> float:
        """When a message with ``line`` arrived (reading on until then)."""
        deadline = time.monotonic() + timeout
        for at, message in self.messages:
            if line in message.splitlines():
                return at
        while time.monotonic() < deadline:
            message = self.receive(max(0.01, deadline - time.monotonic()))
            if message is not None and line in message.splitlines():
                return self.messages[-1][0]
        raise AssertionError(f"no {line!r} within {timeout}s; got {self.messages}")

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def notify_socket() -> Iterator[NotifySocket]:
    listening = NotifySocket()
    yield listening
    listening.close()


def test_notifier_sends_to_abstract_and_path_sockets(tmp_path: Path) -> None:
    abstract = NotifySocket()
    on_path = NotifySocket(tmp_path / "notify")
    try:
        assert Notifier(abstract.address).notify("READY=1", "STATUS=polling")
        assert abstract.receive(2) == "READY=1\nSTATUS=polling"
        assert Notifier.from_environ({"NOTIFY_SOCKET": on_path.address}).notify("WATCHDOG=1")
        assert on_path.receive(2) == "WATCHDOG=1"
    finally:
        abstract.close()
        on_path.close()
    assert not Notifier.from_environ({}).notify("READY=1")  # outside systemd: nothing
    assert not Notifier(str(tmp_path / "nobody-listens")).notify("READY=1")


def test_watchdog_period_is_for_this_process_only() -> None:
    assert watchdog_seconds({"WATCHDOG_USEC": "4000000"}) == 4.0
    assert watchdog_seconds({"WATCHDOG_USEC": "4000000", "WATCHDOG_PID": str(os.getpid())}) == 4
    assert watchdog_seconds({"WATCHDOG_USEC": "4000000", "WATCHDOG_PID": "1"}, pid=2) == 0
    assert watchdog_seconds({"WATCHDOG_USEC": "0"}) == 0
    assert watchdog_seconds({}) == 0


@pytest.mark.slow
def test_daemon_notifies_ready_watchdog_while_ready_and_stopping(
    tmp_path: Path, site: GatedSite, daemons: list[Daemon], notify_socket: NotifySocket
) -> None:
    env = {"NOTIFY_SOCKET": notify_socket.address, "WATCHDOG_USEC": "1000000"}
    daemon = Daemon(tmp_path, config_text({"news": site.feed("/news.xml", "one")}), env=env)
    daemons.append(daemon)
    notify_socket.wait_for("READY=1", 30)
    assert daemon.runtime()["pid"] == daemon.process.pid  # written before READY=1
    first = notify_socket.wait_for("WATCHDOG=1", 5)
    notify_socket.messages.clear()
    notify_socket.wait_for("WATCHDOG=1", 5)
    assert notify_socket.messages[-1][0] - first < 2.5  # every half second, give or take

    with ReadOnly(daemon.store):
        # A ping decided before may still arrive; then none for four intervals and more.
        assert silence(notify_socket, "WATCHDOG=1", quiet=2.0, within=6.0)
    notify_socket.wait_for("WATCHDOG=1", 5)

    assert daemon.stop() == 0, daemon.output
    notify_socket.wait_for("STOPPING=1", 1)
    assert "no watchdog ping" in daemon.output


def silence(listening: NotifySocket, line: str, *, quiet: float, within: float) -> bool:
    """Whether ``line`` stops arriving for ``quiet`` seconds within ``within`` seconds."""
    start = last = time.monotonic()
    while time.monotonic() - start < within:
        message = listening.receive(0.05)
        now = time.monotonic()
        if message is not None and line in message.splitlines():
            last = now
        elif now - last >= quiet:
            return True
    return False


def test_the_unit_file_is_shipped_and_uses_the_notify_protocol(tmp_path: Path) -> None:
    unit = files("marsad.scheduler") / "marsad.service"
    text = unit.read_text(encoding="utf-8")
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string(text)
    service = parser["Service"]
    assert service["Type"] == "notify"
    assert service["Restart"] == "always"
    assert int(service["WatchdogSec"]) >= 30
    assert service["ExecStart"].endswith("marsad run --config /var/lib/marsad/marsad.toml")
    assert service["NoNewPrivileges"] == "yes"
    assert parser["Install"]["WantedBy"] == "multi-user.target"
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        return
    # systemd's own reading of it (ExecStart pointed at a program that exists here).
    local = tmp_path / "marsad.service"
    local.write_text(
        text.replace("/opt/marsad/.venv/bin/marsad", shutil.which("true") or "/bin/true"),
        encoding="utf-8",
    )
    checked = subprocess.run(
        [analyze, "verify", str(local)], capture_output=True, text=True, timeout=60
    )
    assert checked.returncode == 0, checked.stderr
