"""Opening the store: WAL mode, foreign keys, migrations applied, derived data computed."""

from __future__ import annotations

import fcntl
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlite_utils import Database

from marsad.storage.derived import run_derived_tasks
from marsad.storage.migrations import migrations
from marsad.storage.transactions import LOCK_TIMEOUT_SECONDS


def open_store(path: str | Path, *, migrate: bool = True) -> Database:
    """Open (creating if needed) the store at ``path`` and bring it up to date
    (:func:`bring_up_to_date`) unless ``migrate`` is false.

    ``":memory:"`` opens a private in-memory store, for tests.
    """
    if str(path) == ":memory:":
        db = Database(memory=True)
    else:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        # Writers wait for each other (storage/transactions.py takes the lock up front).
        conn = sqlite3.connect(str(path), timeout=LOCK_TIMEOUT_SECONDS, check_same_thread=False)
        db = Database(conn)
        db.enable_wal()
    db.execute("PRAGMA foreign_keys = ON")
    db.execute("PRAGMA synchronous = NORMAL")
    # A fold of the copy-detection index (storage/lsh.py) is one large transaction: give the
    # WAL file back to the disk after it is checkpointed instead of keeping its peak size.
    db.execute("PRAGMA journal_size_limit = 67108864")
    # 16 MB of page cache holds the interior pages of the copy-detection index at a million
    # articles (~5 MB), so each key lookup reads one leaf; at the default 2 MB, three. Fixed,
    # so memory does not grow with the archive (measured at 1M: 32 MB was no faster).
    db.execute("PRAGMA cache_size = -16384")
    if migrate:
        with _migration_lock(path):
            bring_up_to_date(db)
    return db


@contextmanager
def _migration_lock(path: str | Path) -> Iterator[None]:
    """Let one process at a time migrate a store: two opening a new store at once would both
    run 0001. A lock on a file beside the store, released by the OS if the holder dies."""
    if str(path) == ":memory:":
        yield
        return
    with open(f"{path}-migrate.lock", "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def bring_up_to_date(db: Database) -> None:
    """Apply pending migrations, then compute the derived data they recorded as needed
    (:mod:`storage.derived`)."""
    migrations.apply(db)
    run_derived_tasks(db)
