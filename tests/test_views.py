"""The views of 0003 answer the common questions for plain sqlite3 users, and say the same as
the command line."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from click.testing import CliRunner

from marsad.cli import cli
from marsad.storage.db import open_store
from marsad.storage.migrations import migrations
from tests.test_cli_inspect import build_store


def test_views_through_plain_sqlite3(tmp_path: Path) -> None:
    build_store(tmp_path)
    # A read-only connection, as a person poking at the store would open it.
    conn = sqlite3.connect(f"file:{tmp_path / 'store.db'}?mode=ro", uri=True)
    try:
        story = conn.execute(
            "SELECT title, outlet_count, outlets, copy_count FROM story_overview "
            "ORDER BY outlet_count DESC LIMIT 1"
        ).fetchone()
        assert story == ("الجيش يعلن الإنسحاب من المدينة", 2, "النهار, الوطن", 1)
        dead = conn.execute(
            "SELECT channel, last_error, outlets FROM alert_deliveries WHERE status = 'dead'"
        ).fetchall()
        assert dead == [("desk", "HTTP 503 after 8 attempts", "النهار, الوطن")]
        failing = conn.execute(
            "SELECT name, consecutive_failures FROM feed_health WHERE state = 'failing'"
        ).fetchall()
        assert failing == [("النهار", 3)]
    finally:
        conn.close()


def test_views_match_the_command_line(tmp_path: Path) -> None:
    config = build_store(tmp_path)
    db = open_store(tmp_path / "store.db")
    try:
        view = list(
            db.query("SELECT * FROM alert_deliveries ORDER BY created_at DESC, alert_id DESC")
        )
    finally:
        db.close()
    result = CliRunner().invoke(cli, ["alerts", "--json", "--config", str(config)])
    assert json.loads(result.stdout) == view


def test_migrations_twice_are_a_no_op(tmp_path: Path) -> None:
    db = open_store(tmp_path / "twice.db")
    try:
        before = list(db.query("SELECT name, sql FROM sqlite_master ORDER BY name"))
        migrations.apply(db)
        assert list(db.query("SELECT name, sql FROM sqlite_master ORDER BY name")) == before
        views = {r["name"] for r in db.query("SELECT name FROM sqlite_master WHERE type='view'")}
        assert views == {"story_overview", "alert_deliveries", "feed_health"}
    finally:
        db.close()
