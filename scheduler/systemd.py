"""systemd's notify protocol: ``READY=1``, ``WATCHDOG=1``, ``STOPPING=1``, ``STATUS=…``.

A datagram of ``KEY=VALUE`` lines to the unix socket named by ``$NOTIFY_SOCKET`` (a leading
``@`` names an abstract socket: a NUL byte in the address). Outside systemd the variable is
unset and every call does nothing. Small enough not to need a library (sd_notify(3) is the
reference); nothing here blocks: a datagram socket either takes the message or refuses it.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Mapping

log = logging.getLogger("marsad.systemd")


class Notifier:
    """``Notifier.from_environ().notify("READY=1")``; a no-op without ``$NOTIFY_SOCKET``."""

    def __init__(self, address: str | None) -> None:
        self.address = address
        self._warned = False

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> Notifier:
        env = os.environ if environ is None else environ
        return cls(env.get("NOTIFY_SOCKET") or None)

    @property
    def enabled(self) -> bool:
        return self.address is not None

    def notify(self, *lines: str) -> bool:
        """Send ``lines`` as one message; False when there is no socket or it refused."""
        if self.address is None:
            return False
        target = "\0" + self.address[1:] if self.address.startswith("@") else self.address
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
                sock.sendto("\n".join(lines).encode("utf-8"), target)
        except OSError as exc:
            if not self._warned:  # once: a watchdog ping every few seconds would flood the log
                log.warning("cannot notify systemd at %s: %s", self.address, exc)
                self._warned = True
            return False
        return True


def watchdog_seconds(environ: Mapping[str, str] | None = None, pid: int | None = None) -> float:
    """systemd's watchdog period (``$WATCHDOG_USEC``) for this process, in seconds; 0 when there
    is none or it is meant for another process (``$WATCHDOG_PID``)."""
    env = os.environ if environ is None else environ
    usec = env.get("WATCHDOG_USEC", "")
    meant_for = env.get("WATCHDOG_PID", "")
    if not usec.isdigit() or int(usec) == 0:
        return 0.0
    if meant_for and meant_for != str(os.getpid() if pid is None else pid):
        return 0.0
    return int(usec) / 1_000_000
