"""``marsad crawl`` end to end across languages (#17), real subprocesses on a loopback web.

An English wire feed carries an original; an Arabic feed carries its machine translation and an
Arabic outlet's own report of the same event (the committed labelled set, written for the
project), and the translation of a story whose original the wire lists only at the next crawl.
One rule matches them all. After the crawls: each translation is in its original's story with
its provenance (``marsad show``), the report in a story of its own, and the webhook heard of
each story once, the one joined within a crawl counting both languages' outlets; the original
crawled second joins its translation's story (its own alert gives way: the channel heard of the
story already), and the earliest article heads it.
"""

from __future__ import annotations

import json
import subprocess
import sys
from html import escape
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from marsad.cli import cli
from marsad.storage.db import open_store
from tests.feedserver import FeedServer
from tests.webhook_sink import WebhookSink

MARSAD = [sys.executable, "-c", "from marsad.cli import main; main()"]
DATA = Path(__file__).resolve().parent / "data" / "crosslingual"
EVENT = ("a01-en", "a01-ar1", "a01-rep", "b01-en", "b01-ar1")


def _records() -> dict[str, dict[str, Any]]:
    lines = [
        line
        for name in ("set-a.jsonl", "set-b.jsonl")
        for line in (DATA / name).read_text(encoding="utf-8").splitlines()
    ]
    return {r["id"]: r for r in map(json.loads, lines) if r["id"] in EVENT}


def _page(record: dict[str, Any]) -> str:
    lang = "en" if record["lang"] == "en" else "ar"
    direction = "ltr" if lang == "en" else "rtl"
    paragraphs = "".join(f"<p>{escape(p)}</p>\n" for p in record["text"].split("\n"))
    return (
        f'<!DOCTYPE html><html lang="{lang}" dir="{direction}"><head><meta charset="utf-8">'
        f"<title>{escape(record['title'])}</title></head><body><article>"
        f"<h1>{escape(record['title'])}</h1>\n{paragraphs}</article></body></html>"
    )


def _feed(records: list[dict[str, Any]]) -> str:
    items = "".join(
        f"<item><title>{escape(r['title'])}</title><link>{{base}}/pages/{r['id']}.html</link>"
        f"<guid>{r['id']}</guid><pubDate>{_rfc822(r['published'])}</pubDate></item>\n"
        for r in records
    )
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n<rss version="2.0"><channel><title>news</title>'
        f"<link>{{base}}/</link><description>news</description>\n{items}</channel></rss>\n"
    )


def _rfc822(iso: str) -> str:
    from datetime import datetime
    from email.utils import format_datetime

    return format_datetime(datetime.fromisoformat(iso.replace("Z", "+00:00")))


def _config(tmp: Path, server: FeedServer, sink: WebhookSink) -> Path:
    config = tmp / "marsad.toml"
    config.write_text(
        '[store]\npath = "store.db"\n\n[crawl]\ndelay = 0\ndownload_timeout = "5s"\n'
        'workers = 0\nallow_private = ["127.0.0.0/8"]\n\n'
        '[alerts]\nwindow = "off"\n\n'
        '[crosslingual]\nenabled = true\nhold = "120s"\n\n'
        f'[[feeds]]\nname = "wire"\nurl = "{server.url("/en/rss.xml")}"\n\n'
        f'[[feeds]]\nname = "arabic"\nurl = "{server.url("/ar/rss.xml")}"\n\n'
        f'[channels.ops]\ntype = "webhook"\nurl = "{sink.url}/hook"\n\n'
        '[[rules]]\nname = "watch"\nkeywords = ["Harir", "حرير", "OPEC", "أوبك"]\n'
        'channels = ["ops"]\n',
        encoding="utf-8",
    )
    return config


def _crawl(config: Path) -> None:
    done = subprocess.run(
        [*MARSAD, "crawl", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=config.parent,
    )
    assert done.returncode == 0, done.stderr[-3000:]


def _show(config: Path, url: str) -> str:
    """`marsad show URL`, in this process (it loads no model)."""
    store = config.parent / "store.db"
    result = CliRunner().invoke(cli, ["show", url, "--config", str(config), "--db", str(store)])
    assert result.exit_code == 0, result.output
    return result.output


def _stories(store: Path) -> dict[str, int]:
    db = open_store(store)
    try:
        return {
            url.rsplit("/", 1)[1].removesuffix(".html"): story
            for url, story in db.execute("SELECT url, story_id FROM articles").fetchall()
        }
    finally:
        db.close()


def _alerts(store: Path) -> list[dict[str, Any]]:
    db = open_store(store)
    try:
        return [
            dict(r) for r in db.query("SELECT article_id, story_id, status, payload FROM alerts")
        ]
    finally:
        db.close()


@pytest.mark.slow  # two `marsad crawl` subprocesses, each starting the worker process
def test_crawls_link_translations_either_way_round_and_keep_reports_apart(
    tmp_path: Path,
) -> None:
    records = _records()
    with FeedServer() as server, WebhookSink() as sink:
        for record in records.values():
            server.serve(f"/pages/{record['id']}.html", _page(record))
        # First crawl: an original with its translation and a report (a01), and a
        # translation whose original comes a crawl later (b01).
        wire = [records["a01-en"]]
        server.serve_in_turn(
            "/en/rss.xml",
            [_feed(wire), _feed([*wire, records["b01-en"]])],
            "application/rss+xml",
        )
        arabic = [records["a01-ar1"], records["a01-rep"], records["b01-ar1"]]
        server.serve("/ar/rss.xml", _feed(arabic), "application/rss+xml")
        config = _config(tmp_path, server, sink)
        _crawl(config)
        first = [json.loads(r.body) for r in sink.requests]
        _crawl(config)
        second = [json.loads(r.body) for r in sink.requests[len(first) :]]
        shown = {
            rid: _show(config, server.url(f"/pages/{rid}.html"))
            for rid in ("a01-ar1", "a01-rep", "b01-ar1")
        }

    stories = _stories(tmp_path / "store.db")
    assert set(stories) == set(records)
    assert stories["a01-ar1"] == stories["a01-en"]
    assert stories["a01-rep"] != stories["a01-en"]
    assert stories["b01-ar1"] == stories["b01-en"]
    # One alert per story: the one joined in the first crawl counts both languages' outlets;
    # the original crawled second raised none (the channel heard of its story already).
    told = {b["article"]["url"].rsplit("/", 1)[1].removesuffix(".html"): b for b in first}
    assert sorted(told) == ["a01-en", "a01-rep", "b01-ar1"]
    assert second == []
    joined = told["a01-en"]
    assert joined["story"]["id"] == stories["a01-en"]
    assert joined["story"]["outlets"] == 2
    alerts = _alerts(tmp_path / "store.db")
    sent = [a for a in alerts if a["status"] == "sent"]
    provenance = {a["story_id"]: json.loads(a["payload"]).get("translated_from") for a in sent}
    assert provenance[stories["a01-rep"]] is None
    assert provenance[stories["a01-en"]]["url"].endswith("/pages/a01-en.html")
    assert provenance[stories["a01-en"]]["translation"]["url"].endswith("/pages/a01-ar1.html")
    # b01: its original's alert gave way to the translation's, sent before it arrived; the
    # story is headed by the earliest, the original.
    assert sorted(a["status"] for a in alerts) == ["dead", "dead", "sent", "sent", "sent"]
    db = open_store(tmp_path / "store.db")
    try:
        head = db.execute(
            "SELECT a.url FROM stories s JOIN articles a ON a.id = s.original_id WHERE s.id = ?",
            [stories["b01-en"]],
        ).fetchone()[0]
        links = db.execute("SELECT count(*) FROM crosslingual_links").fetchone()[0]
    finally:
        db.close()
    assert head.endswith("/pages/b01-en.html") and links == 2

    assert f"translated from {server.url('/pages/a01-en.html')}" in shown["a01-ar1"]
    assert "paragraphs matched" in shown["a01-ar1"]
    assert f"translated from {server.url('/pages/b01-en.html')}" in shown["b01-ar1"]
    assert "translated from" not in shown["a01-rep"]
