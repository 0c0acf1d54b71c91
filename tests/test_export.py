"""marsad.storage.export: every stored article out, as JSON lines or CSV a spreadsheet reads."""

from __future__ import annotations

import csv
import io
import json

import pytest
from sqlite_utils import Database

from marsad.alerts.match_lines import SkippedLine, match_lines
from marsad.alerts.matching import compile_rules
from marsad.alerts.rules import Rule
from marsad.ingest import ingest_article
from marsad.storage.export import EXPORT_COLUMNS, export_articles
from marsad.storage.models import NewArticle

TEXT = "أعلن التحالف الدولي بدء الانسحاب من قاعدة عين الأسد، وقال إن القوات ستغادر خلال أسابيع."


def _store_two(store: Database) -> None:
    for n, source in enumerate(("وكالة أ", "وكالة ب"), start=1):
        url = f"https://{n}.example/news/{n}"
        article = NewArticle(url=url, canonical_url=url, source=source, title=f"خبر {n}", text=TEXT)
        ingest_article(store, article, compile_rules(()))


def test_jsonl_has_one_object_per_article_in_order(store: Database) -> None:
    _store_two(store)
    out = io.StringIO()
    assert export_articles(store, out, "jsonl") == 2
    rows = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [r["source"] for r in rows] == ["وكالة أ", "وكالة ب"]
    assert rows[0]["duplicate_of"] is None and rows[1]["duplicate_of"] == rows[0]["id"]
    assert set(rows[0]) == set(EXPORT_COLUMNS)


def test_csv_round_trips_arabic_with_a_byte_order_mark(store: Database) -> None:
    _store_two(store)
    out = io.StringIO(newline="")
    assert export_articles(store, out, "csv") == 2
    text = out.getvalue()
    assert text.startswith("\ufeffid,url,")
    rows = list(csv.DictReader(io.StringIO(text.removeprefix("\ufeff"), newline="")))
    assert [r["title"] for r in rows] == ["خبر 1", "خبر 2"]
    assert rows[0]["text"] == TEXT and rows[0]["duplicate_of"] == ""


def test_an_unknown_format_is_named(store: Database) -> None:
    with pytest.raises(ValueError, match=r"unknown export format 'xml' \(known: jsonl, csv\)"):
        export_articles(store, io.StringIO(), "xml")


def test_match_lines_matches_each_article_and_names_bad_lines() -> None:
    index = compile_rules((Rule("pullout", ("انسحاب",)),))
    lines = [
        json.dumps({"id": 7, "title": "", "text": TEXT}, ensure_ascii=False),
        "",
        "[1, 2]",
        '{"id": 8, "title": 3}',
        "{not json",
    ]
    results = list(match_lines(index, lines))
    assert results[0] == {
        "id": 7,
        "matches": [
            {
                "rule": "pullout",
                "keyword": "انسحاب",
                "field": "body",
                "start": TEXT.index("الانسحاب"),
                "end": TEXT.index("الانسحاب") + len("الانسحاب"),
                "surface": "الانسحاب",
                "form": "core",  # which class of the keyword's forms hit (#13)
            }
        ],
    }
    assert results[1:3] == [
        SkippedLine(3, "expected a JSON object"),
        SkippedLine(4, "title and text must be strings"),
    ]
    assert isinstance(results[3], SkippedLine) and results[3].line == 5
