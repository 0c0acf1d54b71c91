"""Write transactions take the write lock first, so a second writer waits instead of failing."""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

import pytest

from marsad.alerts.payload import idempotency_key
from marsad.storage.db import open_store
from marsad.storage.identity import store_id
from marsad.storage.transactions import write_transaction


def test_a_reader_that_then_writes_waits_for_the_other_writer(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    first, second = open_store(path), open_store(path)
    holding = threading.Event()
    errors: list[BaseException] = []

    def hold_the_lock() -> None:
        with write_transaction(first):
            first.execute("INSERT INTO derived_tasks (name, recorded_at) VALUES ('a', 'x')")
            holding.set()
            time.sleep(0.5)

    holder = threading.Thread(target=hold_the_lock)
    holder.start()
    assert holding.wait(5)
    try:
        # The shape that failed at once under a deferred BEGIN: read, then write.
        with write_transaction(second):
            second.execute("SELECT count(*) FROM derived_tasks").fetchone()
            second.execute("INSERT INTO derived_tasks (name, recorded_at) VALUES ('b', 'y')")
    except sqlite3.OperationalError as exc:  # pragma: no cover - the failure this guards
        errors.append(exc)
    holder.join()
    assert not errors
    names = [r[0] for r in second.execute("SELECT name FROM derived_tasks ORDER BY name")]
    assert names == ["a", "b"]


def test_a_failed_block_is_rolled_back_and_a_nested_one_is_a_savepoint(tmp_path: Path) -> None:
    db = open_store(tmp_path / "store.db")
    with pytest.raises(ValueError), write_transaction(db):
        db.execute("INSERT INTO derived_tasks (name, recorded_at) VALUES ('gone', 'x')")
        raise ValueError("boom")
    with write_transaction(db):
        db.execute("INSERT INTO derived_tasks (name, recorded_at) VALUES ('kept', 'x')")
        with pytest.raises(ValueError), write_transaction(db):
            db.execute("INSERT INTO derived_tasks (name, recorded_at) VALUES ('inner', 'x')")
            raise ValueError("inner")
    names = [r[0] for r in db.execute("SELECT name FROM derived_tasks")]
    assert names == ["kept"]
    assert not db.conn.in_transaction


def test_each_store_has_its_own_identity_and_so_its_own_keys(tmp_path: Path) -> None:
    one, two = open_store(tmp_path / "one.db"), open_store(tmp_path / "two.db")
    assert store_id(one) != store_id(two)
    assert store_id(one) == store_id(open_store(tmp_path / "one.db"))
    assert idempotency_key(store_id(one), 1, "r", "c") != idempotency_key(
        store_id(two), 1, "r", "c"
    )
