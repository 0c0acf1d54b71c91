"""One daemon per store: a lock on a file beside the store, held for the daemon's whole life.

The operating system releases an ``flock`` when its holder exits, however it exits (``kill -9``
included), so there is never a stale lock to clean up. The holder writes its pid into the file
only to name itself to the next one that tries.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from typing import IO


class StoreInUse(RuntimeError):
    """Another process holds the store's daemon lock."""

    def __init__(self, store: Path, pid: int | None) -> None:
        holder = f"marsad run (pid {pid})" if pid is not None else "another marsad run"
        super().__init__(
            f"store {store} is already watched by {holder}: stop it first, or point this one "
            "at another store"
        )
        self.store = store
        self.pid = pid


class DaemonLock:
    """The daemon lock of one store; :meth:`release` (or the process ending) gives it up."""

    def __init__(self, store: Path, handle: IO[str]) -> None:
        self.store = store
        self._handle: IO[str] | None = handle

    @classmethod
    def acquire(cls, store_path: str | Path) -> DaemonLock:
        """Take the lock of the store at ``store_path`` or raise :class:`StoreInUse` at once."""
        store = Path(store_path).resolve()
        path = daemon_lock_path(store)
        path.parent.mkdir(parents=True, exist_ok=True)
        # "a+": opening must not empty the file, whose pid is the holder's until we hold it.
        handle = path.open("a+", encoding="utf-8")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            text = handle.read().strip()
            handle.close()
            raise StoreInUse(store, int(text) if text.isdigit() else None) from None
        except BaseException:
            handle.close()
            raise
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        return cls(store, handle)

    def release(self) -> None:
        if self._handle is not None:
            # Closing the file drops the lock; the file stays (removing it would race a
            # newcomer that has it open already).
            self._handle.close()
            self._handle = None

    def __enter__(self) -> DaemonLock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def daemon_lock_path(store: Path) -> Path:
    """``<store>-daemon.lock``, beside the store (found through links to it)."""
    return store.with_name(f"{store.name}-daemon.lock")
