"""The store's own identity: a random id created by its first migration."""

from __future__ import annotations

from sqlite_utils import Database


def store_id(db: Database) -> str:
    row = db.execute("SELECT store_id FROM store_identity WHERE id = 1").fetchone()
    if row is None:
        raise RuntimeError("the store has no identity: it was not migrated")
    return str(row[0])
