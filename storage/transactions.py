"""Write transactions that wait their turn.

``Database.atomic()`` opens a deferred ``BEGIN``: a transaction that reads and then writes cannot
wait for another writer, and SQLite fails it at once with "database is locked" whatever the busy
timeout says. Every write transaction of ours takes the write lock first (``BEGIN IMMEDIATE``),
so a second writer (an import beside the daemon, two imports, a delivery pass) waits for the
first, up to a bound, and says that it waited.
"""

from __future__ import annotations

import logging
import secrets
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sqlite_utils import Database

log = logging.getLogger("marsad.store")

# How long one attempt to take the write lock may wait (the connection's busy timeout is set
# from it), how many attempts, and the wait worth a line in the log.
LOCK_TIMEOUT_SECONDS = 30.0
LOCK_ATTEMPTS = 4
SLOW_LOCK_SECONDS = 1.0


class StoreBusy(RuntimeError):
    """Another process held the store's write lock for longer than we wait."""


@contextmanager
def write_transaction(db: Database) -> Iterator[Database]:
    """Run the block in one write transaction holding the write lock from its first statement.

    Nested inside an open transaction it is a savepoint of that one. Raises :class:`StoreBusy`
    after ``LOCK_ATTEMPTS`` waits of the busy timeout each.
    """
    conn = db.conn
    if conn.in_transaction:
        savepoint = f"marsad_{secrets.token_hex(8)}"
        conn.execute(f"SAVEPOINT {savepoint}")
        try:
            yield db
        except BaseException:
            if conn.in_transaction:
                conn.execute(f"ROLLBACK TO SAVEPOINT {savepoint}")
                conn.execute(f"RELEASE SAVEPOINT {savepoint}")
            raise
        conn.execute(f"RELEASE SAVEPOINT {savepoint}")
        return
    _begin_immediate(conn)
    try:
        yield db
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    try:
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise


def _begin_immediate(conn: sqlite3.Connection) -> None:
    started = time.monotonic()
    for attempt in range(1, LOCK_ATTEMPTS + 1):
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) and "busy" not in str(exc):
                raise
            log.warning(
                "the store is busy (another process is writing): waited %.0fs, attempt %d of %d",
                time.monotonic() - started,
                attempt,
                LOCK_ATTEMPTS,
            )
            continue
        waited = time.monotonic() - started
        if waited >= SLOW_LOCK_SECONDS:
            log.info("waited %.1fs for the store's write lock", waited)
        return
    raise StoreBusy(
        f"the store stayed locked by another writer for {time.monotonic() - started:.0f}s; "
        "giving up on this write"
    )
