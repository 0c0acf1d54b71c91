"""Opening the store: WAL mode, foreign keys, migrations applied, derived data computed."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from sqlite_utils import Database

from marsad.storage.derived import run_derived_tasks
from marsad.storage.migrations import migrations


def open_store(path: str | Path, *, migrate: bool = True) -> Database:
    """Open (creating if needed) the store at ``path`` and bring it up to date
    (:func:`bring_up_to_date`) unless ``migrate`` is false.

    ``":memory:"`` opens a private in-memory store, for tests.
    """
    if str(path) == ":memory:":
        db = Database(memory=True)
    else:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        # A long busy timeout lets the CLI read while the daemon writes.
        conn = sqlite3.connect(str(path), timeout=30, check_same_thread=False)
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
        bring_up_to_date(db)
    return db


def bring_up_to_date(db: Database) -> None:
    """Apply pending migrations, then compute the derived data they recorded as needed
    (:mod:`storage.derived`)."""
    migrations.apply(db)
    run_derived_tasks(db)
