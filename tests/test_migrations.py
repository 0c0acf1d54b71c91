"""Migrations are frozen history: plain SQL and sqlite-utils, applied once; derived data is the
application's (storage.derived), computed on a migration's record when the store is opened."""

from __future__ import annotations

import ast
import sys
from pathlib import Path
from typing import Any

from sqlite_utils import Database

from marsad.alerts.matching import compile_rules
from marsad.arabic import normalize
from marsad.ingest import ingest_article
from marsad.storage import derived, lsh
from marsad.storage import migrations as migrations_module
from marsad.storage.db import bring_up_to_date, open_store
from marsad.storage.fingerprint import Fingerprint
from marsad.storage.migrations import migrations
from marsad.storage.models import NewArticle
from tests.test_dedup import COPIES, ORIGINAL, OTHER_WRITEUP, P1, P3

# Every module that defines a migration function.
MIGRATION_MODULES = [Path(migrations_module.__file__)]


def imported_modules(path: Path) -> set[str]:
    """The top-level package of every import in the file, at any depth (inside functions too)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, f"{path}: relative import of {node.module}"
            found.add((node.module or "").split(".")[0])
    return found


def test_migrations_import_only_the_standard_library_and_sqlite_utils() -> None:
    for path in MIGRATION_MODULES:
        others = {
            name
            for name in imported_modules(path)
            if name != "sqlite_utils" and name not in sys.stdlib_module_names
        }
        assert not others, f"{path.name} imports {sorted(others)}: a migration must not"


def test_every_migration_is_defined_in_a_checked_module() -> None:
    for migration in migrations._migrations:
        assert Path(sys.modules[migration.fn.__module__].__file__ or "") in MIGRATION_MODULES


def snapshot(db: Database) -> dict[str, Any]:
    return {
        "schema": list(db.query("SELECT type, name, sql FROM sqlite_master ORDER BY name")),
        "applied": [m.name for m in migrations.applied(db)],
        "tasks": list(db.query("SELECT * FROM derived_tasks")),
        "lsh_state": list(db.query("SELECT * FROM lsh_state")),
    }


def test_applying_the_migrations_twice_is_a_no_op(tmp_path: Path) -> None:
    db = open_store(tmp_path / "twice.db")
    ingest_article(
        db,
        NewArticle(
            url="https://a.example/1",
            canonical_url="https://a.example/1",
            source="a",
            title="خطة",
            text=ORIGINAL,
        ),
        compile_rules(()),
    )
    before = snapshot(db)
    migrations.apply(db)
    bring_up_to_date(db)
    assert snapshot(db) == before
    db.close()
    again = open_store(tmp_path / "twice.db")
    assert snapshot(again) == before
    again.close()


# Long and short bodies, one with a credit line (provenance), one too short to index, one empty.
ARTICLES = [
    ("خطة لتوسيع النقل العام", ORIGINAL),
    ("عنوان آخر", COPIES["credit line added"]),
    ("هيئة النقل", OTHER_WRITEUP),
    ("مقتطف", P1 + "\n" + P3),
    ("قصير", "خبر قصير جدا"),
    ("عنوان فقط", ""),
]


def old_store(path: Path) -> Database:
    """A store as 0001 left it, holding ARTICLES (ids 1…) without any derived data."""
    db = open_store(path, migrate=False)
    migrations.apply(db, stop_before="0002_copy_detection")
    for number, (title, text) in enumerate(ARTICLES, start=1):
        db.execute(
            "INSERT INTO stories (id, original_id, title, first_seen, last_seen) "
            "VALUES (?, ?, ?, '2024-05-01T08:00:00Z', '2024-05-01T08:00:00Z')",
            [number, number, title],
        )
        db.execute(
            "INSERT INTO articles (id, canonical_url, url, source, title, text, title_norm, "
            "text_norm, extraction, body_hash, story_id, fetched_at) "
            "VALUES (?, ?, ?, 'a', ?, ?, ?, ?, 'import', '', ?, '2024-05-01T08:00:00Z')",
            [
                number,
                f"https://a.example/{number}",
                f"https://a.example/{number}",
                title,
                text,
                normalize(title),
                normalize(text),
                number,
            ],
        )
    db.conn.commit()
    return db


def derived_data(db: Database) -> dict[str, list[tuple[Any, ...]]]:
    keys = " UNION ALL ".join(f"SELECT band_key, article_id FROM {t}" for t in lsh.LEVELS)
    return {
        "articles": db.execute(
            "SELECT id, body_hash, provenance FROM articles ORDER BY id"
        ).fetchall(),
        "fingerprints": db.execute(
            "SELECT article_id, shingles, signature FROM fingerprints ORDER BY article_id"
        ).fetchall(),
        "keys": db.execute(f"SELECT * FROM ({keys}) ORDER BY article_id, band_key").fetchall(),
    }


def test_an_old_store_gets_the_derived_data_ingesting_gives_today(tmp_path: Path) -> None:
    db = old_store(tmp_path / "old.db")
    migrations.apply(db)
    assert derived.recorded_tasks(db) == ["index_articles"]
    assert db.table("fingerprints").count == 0  # the migrations computed nothing
    assert derived.run_derived_tasks(db) == ["index_articles"]
    assert derived.recorded_tasks(db) == []

    today = open_store(":memory:")
    for number, (title, text) in enumerate(ARTICLES, start=1):
        url = f"https://a.example/{number}"
        article = NewArticle(url=url, canonical_url=url, source="a", title=title, text=text)
        ingest_article(today, article, compile_rules(()))
    got, expected = derived_data(db), derived_data(today)
    assert got == expected
    assert len(got["fingerprints"]) == len(ARTICLES)
    assert got["keys"]  # the long ones are indexed
    assert any(provenance for _, _, provenance in got["articles"])
    today.close()
    db.close()


def test_opening_an_old_store_computes_its_derived_data_once(tmp_path: Path) -> None:
    old_store(tmp_path / "old.db").close()
    db = open_store(tmp_path / "old.db")
    assert db.table("fingerprints").count == len(ARTICLES)
    assert derived.recorded_tasks(db) == []
    assert lsh.level_counts(db) == (0, 0)  # the archive's keys are in lsh_bands, as folded
    db.close()


def test_only_a_recorded_task_runs(store: Database) -> None:
    # Opening a store that records nothing does no scan: an article stored without its
    # fingerprint (which the ingest path never does) is left alone.
    store.execute(
        "INSERT INTO stories (id, title, first_seen, last_seen) VALUES (1, 't', 'x', 'x')"
    )
    store.execute(
        "INSERT INTO articles (id, canonical_url, url, source, title, text, title_norm, "
        "extraction, body_hash, story_id, fetched_at) "
        "VALUES (1, 'u', 'u', 'a', 't', ?, 't', 'import', '', 1, 'x')",
        [ORIGINAL],
    )
    assert derived.run_derived_tasks(store) == []
    assert store.table("fingerprints").count == 0


def test_an_interrupted_task_resumes_with_the_articles_left(tmp_path: Path) -> None:
    db = old_store(tmp_path / "old.db")
    migrations.apply(db)
    first = derived.articles_without_fingerprint(db, 0, 2)
    with db.atomic():
        for row in first:  # as if the first batch were committed before a crash
            lsh.insert_fingerprint(db, row["id"], Fingerprint(b"", 0))
    left = [row["id"] for row in derived.articles_without_fingerprint(db, 0, 100)]
    assert left == list(range(3, len(ARTICLES) + 1))
    assert derived.index_unindexed_articles(db) == len(ARTICLES) - 2
    db.close()
