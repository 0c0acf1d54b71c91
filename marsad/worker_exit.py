"""Worker processes that end with the process that started them, however it ends.

A pool's worker blocks reading the pool's queue, whose write end it holds itself, so its
parent's death never wakes it: without this it would wait for work forever (and keep the pool's
resource tracker waiting with it). This module imports nothing heavy, so a worker runs it before
it spends seconds importing the work it is for.
"""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    from concurrent.futures import ProcessPoolExecutor

log = logging.getLogger(__name__)
T = TypeVar("T")

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


class SpawnedPool:
    """``await pool.run(fn, *args)`` in ``size`` worker processes that end with this one.

    The processes are spawned, not forked (the caller holds an open SQLite connection and a
    running event loop a forked child must not inherit), on first use or :meth:`start`, and each
    runs ``warm`` at once (importing what the work needs before the first call waits for it).
    A worker that dies breaks the pool: the call raises ``BrokenProcessPool`` and the next one
    starts a new pool. ``what`` names the workers in the log line that says so.
    """

    def __init__(self, size: int, warm: Callable[[], object], what: str) -> None:
        self.size = size
        self.warm = warm
        self.what = what
        self._pool: ProcessPoolExecutor | None = None

    @property
    def running(self) -> bool:
        return self._pool is not None

    def start(self) -> bool:
        """Start the processes unless they run; True when they were started now."""
        if self._pool is not None:
            return False
        from concurrent.futures import ProcessPoolExecutor
        from multiprocessing import get_context

        self._pool = ProcessPoolExecutor(
            self.size,
            mp_context=get_context("spawn"),
            initializer=exit_with_parent,
            initargs=(os.getpid(),),
        )
        for _ in range(self.size):
            self._pool.submit(self.warm)
        return True

    async def run(self, fn: Callable[..., T], *args: object) -> T:
        # Imported here: a worker imports this module first thing, before it is protected.
        import asyncio
        from concurrent.futures.process import BrokenProcessPool

        self.start()
        pool = self._pool
        assert pool is not None
        try:
            return await asyncio.get_running_loop().run_in_executor(pool, fn, *args)
        except BrokenProcessPool:
            if self._pool is pool:
                log.warning("%s died; starting it again", self.what)
                pool.shutdown(wait=False, cancel_futures=True)
                self._pool = None
            raise

    def pids(self) -> list[int]:
        """The worker processes' ids (none before the pool starts)."""
        processes = getattr(self._pool, "_processes", None) or {}
        return [process.pid for process in processes.values()]

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
