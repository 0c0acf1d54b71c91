from __future__ import annotations

from pathlib import Path

from sqlite_utils import Database

from marsad.storage.db import open_store
from marsad.storage.migrations import migrations


def test_migrations_apply_once(tmp_path: Path) -> None:
    path = tmp_path / "m.db"
    db = open_store(path)
    applied = [m.name for m in migrations.applied(db)]
    assert applied and applied[0] == "0001_foundation"
    schema = db.schema
    db.close()
    again = open_store(path)  # applying the list a second time is a no-op
    assert [m.name for m in migrations.applied(again)] == applied
    assert again.schema == schema
    again.close()


def test_store_is_wal_with_fts(tmp_path: Path) -> None:
    db = open_store(tmp_path / "w.db")
    assert db.journal_mode == "wal"
    assert {"feeds", "articles", "stories", "matches", "alerts", "deliveries"} <= set(
        db.table_names()
    )
    assert db.table("articles").detect_fts() == "articles_fts"
    db.close()


def test_every_pending_list_is_empty_after_open(store: Database) -> None:
    assert migrations.pending(store) == []
