"""Stopping a real `marsad run` subprocess the way an operator does, for the daemon tests."""

from __future__ import annotations

import signal
import subprocess
from typing import Any


def stop_daemon(daemon: subprocess.Popen[Any], timeout: float = 60.0) -> str:
    """SIGTERM, then wait up to ``timeout`` for the graceful stop; a daemon still running then is
    killed (its return code then says so to the test's assertion). Returns what it printed on
    its pipes (empty when it had none)."""
    daemon.send_signal(signal.SIGTERM)
    try:
        output, _ = daemon.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        daemon.kill()
        output, _ = daemon.communicate()
    if isinstance(output, bytes):
        return output.decode("utf-8", "replace")
    return output or ""
