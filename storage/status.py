"""What the daemon's probes, its metrics and ``marsad status`` read: the store's health from
outside the daemon's own connection, and the daemon's runtime file beside the store.

Every reader here opens connections of its own. The daemon's one connection belongs to its event
loop (a statement from another thread would join whatever transaction the loop has open), and
``marsad status`` runs in another process altogether.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from sqlite_utils import Database

from marsad.storage.daemon_lock import daemon_lock_path

# Below this much free space on the store's file system a write may fail at any moment (SQLite
# needs room for the WAL and for each transaction's pages): the store is not writable for long.
MIN_FREE_BYTES = 16 * 1024 * 1024


# -- writability ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class WriteCheck:
    ok: bool
    detail: str
    busy: bool = False  # another connection held the write lock: nothing proved either way


def check_writable(
    path: Path, *, timeout: float = 0.5, inode: tuple[int, int] | None = None
) -> WriteCheck:
    """Whether the daemon could write the store at ``path`` now, and after a restart.

    Its own connection is no witness: an open connection keeps writing through its file
    descriptors after the file is made read-only (and it belongs to the loop's thread). So:

    - the file, its write-ahead log and its directory are writable for this process by the
      kernel's own rule (``access(2)``: the mode for a user, an immutable flag or a read-only
      file system for root too). Asked without opening the file: closing a descriptor of it
      would drop the POSIX locks this process's SQLite connection holds on it. (A new SQLite
      connection is no witness of this either: in the daemon's process SQLite hands it the
      descriptor an earlier connection opened read-write, kept open for those locks' sake.);
    - there is room on the file system for the write-ahead log to grow;
    - a new connection takes the write lock and writes the header's ``user_version`` back
      unchanged, then rolls back (nothing is written). The lock is waited for at most
      ``timeout`` and held for a moment; held longer by another connection, it is a write in
      progress, not a failure (``busy``).

    ``inode``: the (device, inode) the daemon opened; another file at the path now means the
    daemon writes to one nobody will read.
    """
    try:
        stat = path.stat()
    except OSError as exc:
        return WriteCheck(False, f"{path}: {exc.strerror or exc}")
    if inode is not None and (stat.st_dev, stat.st_ino) != inode:
        return WriteCheck(False, f"{path} was replaced or moved since the daemon opened it")
    wal = path.with_name(path.name + "-wal")
    for target, mode in ((path, os.W_OK), (wal, os.W_OK), (path.parent, os.W_OK | os.X_OK)):
        if (target != wal or wal.exists()) and not _access(target, mode):
            return WriteCheck(
                False,
                f"not writable: {target} (its mode, an immutable flag or a read-only file system)",
            )
    free = shutil.disk_usage(path.parent).free
    if free < MIN_FREE_BYTES:
        return WriteCheck(False, f"only {free // 1024} KiB free on the store's file system")
    try:
        conn = sqlite3.connect(
            f"file:{quote(str(path))}?mode=rw", uri=True, timeout=timeout, isolation_level=None
        )
    except sqlite3.Error as exc:
        return WriteCheck(False, f"cannot open for writing: {exc}")
    try:
        conn.execute("BEGIN IMMEDIATE")
        try:
            version = int(conn.execute("PRAGMA user_version").fetchone()[0])
            conn.execute(f"PRAGMA user_version = {version}")
        finally:
            conn.execute("ROLLBACK")
    except sqlite3.OperationalError as exc:
        message = str(exc)
        if "locked" in message or "busy" in message:
            return WriteCheck(True, f"a write is in progress (lock held over {timeout:g}s)", True)
        return WriteCheck(False, f"not writable: {message}")
    except sqlite3.Error as exc:
        return WriteCheck(False, str(exc))
    finally:
        conn.close()
    return WriteCheck(True, "writable")


def _access(path: Path, mode: int) -> bool:
    if os.access in os.supports_effective_ids:
        return os.access(path, mode, effective_ids=True)
    return os.access(path, mode)


def store_identity(path: Path) -> tuple[int, int] | None:
    """The (device, inode) of the store's file, to notice later that it was replaced."""
    try:
        stat = path.stat()
    except OSError:
        return None
    return stat.st_dev, stat.st_ino


# -- reading -------------------------------------------------------------------------------------


def open_reader(path: Path, *, timeout: float = 2.0) -> Database:
    """A read-only connection to the store (never creates it, never migrates, never writes).
    Under WAL a reader neither waits for the writer nor holds it up."""
    conn = sqlite3.connect(
        f"file:{quote(str(path))}?mode=ro", uri=True, timeout=timeout, check_same_thread=False
    )
    return Database(conn)


def store_sizes(path: Path) -> tuple[int, int]:
    """The store's file and its write-ahead log, in bytes (0 for a file not there)."""

    def size(p: Path) -> int:
        try:
            return p.stat().st_size
        except OSError:
            return 0

    return size(path), size(path.with_name(path.name + "-wal"))


def feeds_by_health(db: Database, health: str) -> list[dict[str, Any]]:
    """The feeds in the config whose health (as last told on the [health] channels) is
    ``health`` ("failing" or "silent"), longest in it first."""
    return list(
        db.query(
            """
            SELECT name, health, health_since, consecutive_failures, last_error,
                   last_success_at, last_new_item_at, backoff_until, next_poll_at
            FROM feeds WHERE retired_at IS NULL AND health = :health
            ORDER BY health_since, name
            """,
            {"health": health},
        )
    )


@dataclass(frozen=True)
class OutboxSummary:
    pending: int
    due: int  # pending and due now (held by a pass or not)
    held: int  # article alerts waiting for their channel's digest (in one closed or not yet)
    dead: int
    oldest_pending_at: str | None  # created_at of the oldest pending alert
    oldest_due_at: str | None  # the earliest next_attempt_at of those due


def outbox_summary(db: Database, now: str) -> OutboxSummary:
    """The outbox at ``now``: a few aggregate reads on the ``alerts_due`` index (the held
    count on ``alerts_held``)."""
    row = next(
        db.query(
            """
            SELECT
                (SELECT count(*) FROM alerts WHERE status = 'pending') AS pending,
                (SELECT count(*) FROM alerts WHERE status = 'pending'
                    AND next_attempt_at <= :now) AS due,
                (SELECT count(*) FROM alerts WHERE status = 'held') AS held,
                (SELECT count(*) FROM alerts WHERE status = 'dead') AS dead,
                (SELECT min(created_at) FROM alerts WHERE status = 'pending')
                    AS oldest_pending_at,
                (SELECT min(next_attempt_at) FROM alerts WHERE status = 'pending'
                    AND next_attempt_at <= :now) AS oldest_due_at
            """,
            {"now": now},
        )
    )
    return OutboxSummary(
        pending=row["pending"],
        due=row["due"],
        held=row["held"],
        dead=row["dead"],
        oldest_pending_at=row["oldest_pending_at"],
        oldest_due_at=row["oldest_due_at"],
    )


def oldest_due_alert_at(db: Database, now: str) -> str | None:
    """When the pending alert that has waited longest since it fell due fell due."""
    row = next(
        db.query(
            "SELECT min(next_attempt_at) AS at FROM alerts "
            "WHERE status = 'pending' AND next_attempt_at <= :now",
            {"now": now},
        )
    )
    return None if row["at"] is None else str(row["at"])


def last_crawl_at(db: Database) -> str | None:
    """The last time any feed in the config was fetched (or failed to be)."""
    row = next(db.query("SELECT max(last_fetch_at) AS at FROM feeds WHERE retired_at IS NULL"))
    return None if row["at"] is None else str(row["at"])


def next_polls(db: Database, limit: int) -> list[dict[str, Any]]:
    """The feeds polled next (as the daemon last recorded them), soonest first."""
    return list(
        db.query(
            """
            SELECT name, next_poll_at FROM feeds
            WHERE retired_at IS NULL AND next_poll_at IS NOT NULL
            ORDER BY next_poll_at, name LIMIT :limit
            """,
            {"limit": limit},
        )
    )


def copy_layer(db: Database, article_id: int) -> str | None:
    """Which copy-detection layer found the stored copy ``article_id`` (None: not a copy)."""
    rows = list(
        db.query(
            "SELECT json_extract(dup_evidence, '$.layer') AS layer FROM articles WHERE id = ?",
            [article_id],
        )
    )
    return str(rows[0]["layer"]) if rows and rows[0]["layer"] is not None else None


# -- the daemon's runtime file -------------------------------------------------------------------


def runtime_path(store: Path) -> Path:
    """``<store>-daemon.json`` beside the store (and its daemon lock): who runs on it, since
    when, and where its probes answer."""
    store = store.resolve()
    return store.with_name(f"{store.name}-daemon.json")


def write_runtime(store: Path, info: dict[str, Any]) -> Path:
    """Write the runtime file whole (a reader never sees half of it)."""
    path = runtime_path(store)
    part = path.with_name(f"{path.name}.{os.getpid()}.part")
    part.write_text(json.dumps(info, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    os.replace(part, path)
    return path


def read_runtime(store: Path) -> dict[str, Any] | None:
    try:
        value = json.loads(runtime_path(store).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return value if isinstance(value, dict) else None


def remove_runtime(store: Path, pid: int) -> None:
    """Remove the runtime file if it is still ``pid``'s."""
    info = read_runtime(store)
    if info is not None and info.get("pid") == pid:
        runtime_path(store).unlink(missing_ok=True)


def daemon_lock_held(store: Path) -> bool:
    """Whether a daemon holds the store's lock now (:mod:`storage.daemon_lock`).

    Asked by taking the lock shared, without waiting, and letting it go at once: a daemon that
    starts within that moment is told the store is in use and exits (it can be started again).
    """
    path = daemon_lock_path(store.resolve())
    try:
        handle = path.open("r", encoding="utf-8")
    except FileNotFoundError:
        return False
    with handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(handle, fcntl.LOCK_UN)
        return False


def daemon_lock_pid(store: Path) -> int | None:
    """The pid the lock's last holder wrote into it."""
    try:
        text = daemon_lock_path(store.resolve()).read_text(encoding="utf-8").strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None
