"""Worker processes that end with the process that started them, however it ends.

A pool's worker blocks reading the pool's queue, whose write end it holds itself, so its
parent's death never wakes it: without this it would wait for work forever (and keep the pool's
resource tracker waiting with it). This module imports nothing heavy, so a worker runs it before
it spends seconds importing the work it is for.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
import threading
import time

# How often a worker looks whether its parent is still there: how long it may outlive it where
# the kernel cannot tell it (not Linux).
PARENT_CHECK_SECONDS = 0.5
_PR_SET_PDEATHSIG = 1


def exit_with_parent(parent: int) -> None:
    """A worker's initializer: exit as soon as ``parent`` is no longer this process's parent.

    On Linux the kernel kills the worker the moment its parent dies (PR_SET_PDEATHSIG); a
    thread that watches the parent's id (it changes at once: the orphan is re-parented) covers
    other systems, and a parent that died before this ran.
    """
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        except (OSError, AttributeError):  # no prctl: the thread below does it
            pass
    if os.getppid() != parent:
        os._exit(1)

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(PARENT_CHECK_SECONDS)
        os._exit(1)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()
