"""Importing an archive no longer floods the channels: alerts are raised only for articles
published within [alerts] window, `--no-alerts` raises none, and what was held back is shown by
`marsad alerts --suppressed` and `marsad rules test`."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from click.testing import CliRunner, Result

from marsad.cli import cli
from marsad.storage.db import open_store

CONFIG = """
[store]
path = "store.db"

[[rules]]
name = "withdrawal"
keywords = ["انسحاب"]
channels = ["ops"]

[channels.ops]
type = "webhook"
url = "http://127.0.0.1:9/hook"
"""
TEXT = "أعلن التحالف الانسحاب من القاعدة الجوية بعد سنوات من الوجود فيها وسط ترقب كبير."
UNDATED = "قال وزير الدفاع إن الانسحاب سيتم على مراحل تبدأ في الربيع وتنتهي قبل نهاية العام."
OLD = "2024-01-02T00:00:00Z"


def record(n: int, published: str | None, text: str = TEXT) -> dict[str, Any]:
    return {
        "url": f"https://a{n}.example/{n}",
        "title": f"خبر {n}",
        "text": text,
        "published": published,
    }


def write_lines(path: Path, records: list[dict[str, Any]]) -> Path:
    path.write_text(
        "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8"
    )
    return path


def marsad(workdir: Path, *args: str) -> Result:
    result = CliRunner().invoke(cli, [*args, "--config", str(workdir / "marsad.toml")])
    assert result.exit_code == 0, result.output
    return result


def json_of(workdir: Path, *args: str) -> Any:
    return json.loads(marsad(workdir, *args, "--json").stdout)


def workdir_with_config(tmp_path: Path) -> Path:
    (tmp_path / "marsad.toml").write_text(CONFIG, encoding="utf-8")
    return tmp_path


def test_an_archive_raises_alerts_only_for_articles_within_the_window(tmp_path: Path) -> None:
    workdir = workdir_with_config(tmp_path)
    recent = (datetime.now(UTC) - timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M:%SZ")
    other = "تقرير عن الانسحاب المرتقب للقوات من المنطقة الشمالية خلال الأسابيع المقبلة بحسب مصادر."
    archive = write_lines(
        tmp_path / "archive.jsonl",
        [record(1, OLD), record(2, recent, other), record(3, None, UNDATED)],
    )
    counts = json_of(workdir, "import", str(archive))
    # The old article is matched and stored, its alert held back; the recent and the undated
    # ones are alerted.
    assert (counts["new"], counts["alerts"], counts["suppressed"]) == (3, 2, 1)
    held = json_of(workdir, "alerts", "--suppressed")
    assert [(h["title"], h["rule"], h["channel"], h["reason"]) for h in held] == [
        ("خبر 1", "withdrawal", "ops", f"published {OLD}, older than the 3d alert window")
    ]
    assert held[0]["raised_by"] is None
    assert {a["title"] for a in json_of(workdir, "alerts")} == {"خبر 2", "خبر 3"}
    backtest = json_of(workdir, "rules", "test", "withdrawal", "--since", "2020-01-01")
    assert (backtest["articles"], backtest["held_back"]) == (3, 1)
    assert [s["held_back"] for s in backtest["samples"] if s["title"] == "خبر 1"] == [True]
    human = marsad(workdir, "rules", "test", "withdrawal", "--since", "2020-01-01").stdout
    assert "held back when they were stored: marsad alerts --suppressed" in human

    # A fresh copy of the old story, published now, raises the story's alert after all.
    fresh_copy = write_lines(tmp_path / "fresh.jsonl", [record(4, recent)])
    assert json_of(workdir, "import", str(fresh_copy))["alerts"] == 1
    raised_by = json_of(workdir, "alerts", "--suppressed")[0]["raised_by"]
    alert = next(a for a in json_of(workdir, "alerts") if a["title"] == "خبر 4")
    assert raised_by == alert["alert_id"]


def test_no_alerts_stores_the_matches_and_records_every_alert_held_back(tmp_path: Path) -> None:
    workdir = workdir_with_config(tmp_path)
    recent = (datetime.now(UTC) - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    export = write_lines(tmp_path / "export.jsonl", [record(1, recent), record(2, None)])
    counts = json_of(workdir, "import", str(export), "--no-alerts")
    # Two articles of one story (the second a copy): each one's alert held back.
    assert (counts["new"], counts["copy"], counts["alerts"], counts["suppressed"]) == (1, 1, 0, 2)
    assert json_of(workdir, "alerts") == []
    held = json_of(workdir, "alerts", "--suppressed")
    assert [(h["title"], h["reason"]) for h in held] == [
        ("خبر 2", "imported with --no-alerts"),
        ("خبر 1", "imported with --no-alerts"),
    ]
    db = open_store(tmp_path / "store.db")
    assert db.table("matches").count == 2  # both articles matched, the copy too
    db.close()
    human = CliRunner().invoke(
        cli, ["import", str(export), "--no-alerts", "--config", str(workdir / "marsad.toml")]
    )
    assert human.exit_code == 0 and "0 alerts queued" in human.stdout
    refused = CliRunner().invoke(
        cli,
        ["alerts", "--suppressed", "--status", "sent", "--config", str(workdir / "marsad.toml")],
    )
    assert refused.exit_code == 2 and "--suppressed lists alerts never queued" in refused.stderr
