"""`marsad import` while another process holds the store's write lock: it waits (bounded), then
stops with one line saying how many articles it had committed; those stay stored."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from marsad.ingest.importer import IMPORT_BATCH
from marsad.storage.db import open_store

# The real CLI, with the wait for the write lock cut from minutes to a fifth of a second.
IMPATIENT_MARSAD = [
    sys.executable,
    "-c",
    "import marsad.storage.db as db, marsad.storage.transactions as tx\n"
    "db.LOCK_TIMEOUT_SECONDS = 0.2\n"
    "tx.LOCK_ATTEMPTS = 1\n"
    "from marsad.cli import main\n"
    "main()",
]


def line(n: int) -> str:
    record = {"url": f"https://a.example/{n}", "title": f"خبر {n}", "text": f"نص {n}"}
    return json.dumps(record, ensure_ascii=False) + "\n"


def stored(db_path: Path) -> int:
    conn = sqlite3.connect(db_path)
    try:
        return int(conn.execute("SELECT count(*) FROM articles").fetchone()[0])
    finally:
        conn.close()


def test_a_busy_store_stops_the_import_in_one_line_that_counts_what_was_committed(
    tmp_path: Path,
) -> None:
    db_path = tmp_path / "store.db"
    open_store(db_path).close()
    # A pipe: the test decides when the import's next batch starts.
    feed = tmp_path / "feed.jsonl"
    os.mkfifo(feed)
    importer = subprocess.Popen(
        [*IMPATIENT_MARSAD, "import", str(feed), "--db", str(db_path), "--workers", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    other_writer = sqlite3.connect(db_path, isolation_level=None)
    try:
        with feed.open("w", encoding="utf-8") as pipe:
            pipe.writelines(line(n) for n in range(1, IMPORT_BATCH + 1))
            pipe.flush()
            deadline = time.monotonic() + 60
            while stored(db_path) < IMPORT_BATCH and time.monotonic() < deadline:
                assert importer.poll() is None, importer.communicate()
                time.sleep(0.05)
            assert stored(db_path) == IMPORT_BATCH
            # The first batch is committed and the import waits for its next line holding no
            # lock; another writer takes the lock and keeps it.
            other_writer.execute("BEGIN IMMEDIATE")
            pipe.writelines(line(n) for n in range(IMPORT_BATCH + 1, IMPORT_BATCH + 4))
        _, stderr = importer.communicate(timeout=60)
    finally:
        if importer.poll() is None:
            importer.kill()
            importer.communicate()
        other_writer.close()
    assert importer.returncode == 2
    assert "Traceback" not in stderr
    # It said that it waited, then why it stopped, each in a line of its own.
    *waited, stopped = stderr.splitlines()
    assert waited == [
        "marsad: the store is busy (another process is writing): waited 0s, attempt 1 of 1"
    ]
    assert stopped.startswith(f"marsad: {feed}:{IMPORT_BATCH + 1}: import stopped: the store ")
    assert f"; {IMPORT_BATCH} articles stored and 0 already held were committed before" in stopped
    assert stored(db_path) == IMPORT_BATCH
