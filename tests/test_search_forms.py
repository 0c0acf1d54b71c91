"""Search finds what rules find (issue #13): a dictionary-form query finds the forms a watch rule
with that keyword matches; exact:word or a quoted form finds the literal text; the same in
Datasette's canned query and table search box. Articles written for this test."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from click.testing import CliRunner
from sqlite_utils import Database

from marsad.alerts.matching import compile_rules
from marsad.alerts.rules import Rule
from marsad.cli import cli
from marsad.inspect.plugin import marsad_fts
from marsad.inspect.server import build_datasette
from marsad.storage import inspection
from marsad.storage.db import open_store
from marsad.storage.search import MATCH_NOTHING, parse_query

ARTICLES = [
    ("أغلقت السلطات المساجد في المدينة القديمة", "قررت البلدية إغلاق المساجد مؤقتاً للصيانة."),
    ("افتتاح مسجد جديد", "افتُتح مسجدٌ جديد في الحي الشمالي بحضور السكان."),
    ("القوات تنسحب", "انسحبت القوات من البلدة فجر اليوم، وقال ضابط إنهم ينسحبون تدريجياً."),
    ("سحب الترخيص", "قرر البنك سحب الترخيص من الشركة بعد المخالفات."),
    ("المجموعة المسلحة", "هاجمت المجموعة المسلحة حاجزاً على الطريق."),
    ("حساب الفاتورة", "بلغ مجموعه مئة دينار بعد احتساب الضريبة."),
    ("آلاف النازحين", "نزح الآلاف من القرى الحدودية، ويعيش النازحين في مخيمات مؤقتة."),
    ("النزاهة في العمل", "أكد المدير على النزاهة والشفافية في التعاقدات."),
    ("أخبار المسؤولين", "اجتمع المسئولون في الوزارة، وقال مسؤول إن الاتفاق قريب."),
    ("المدمرة الحربية", "دمرت الغارات الجسر، ويخشى السكان أن يدمر القصف ما تبقى."),
    ("زيارة إلى تدمر", "زار الوفد مدينة تدمر الأثرية في البادية."),
]
KEYWORDS = ["مسجد", "انسحاب", "مجموعة", "نزوح", "مسؤول", "تدمير"]


def _store(directory: Path) -> Path:
    feed = directory / "articles.jsonl"
    feed.write_text(
        "".join(
            json.dumps(
                {
                    "url": f"https://news.example/{n}",
                    "source": "news.example",
                    "title": title,
                    "text": text,
                    "published": f"2024-05-{n + 1:02d}T08:00:00Z",
                },
                ensure_ascii=False,
            )
            + "\n"
            for n, (title, text) in enumerate(ARTICLES)
        ),
        encoding="utf-8",
    )
    db_path = directory / "store.db"
    result = CliRunner().invoke(cli, ["import", str(feed), "--db", str(db_path), "--no-alerts"])
    assert result.exit_code == 0, result.output
    return db_path


@pytest.fixture(scope="module")
def db_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _store(tmp_path_factory.mktemp("forms"))


@pytest.fixture
def db(db_path: Path) -> Iterator[Database]:
    store = open_store(db_path)
    yield store
    store.close()


def titles(db: Database, query: str) -> set[str]:
    return {row["title"] for row in inspection.search(db, query, limit=50)}


def fired(keyword: str) -> set[str]:
    index = compile_rules((Rule("r", (keyword,)),))
    return {title for title, text in ARTICLES if index.match(title, text)}


@pytest.mark.parametrize("keyword", KEYWORDS)
def test_a_dictionary_form_finds_what_a_rule_with_that_keyword_fires_on(
    db: Database, keyword: str
) -> None:
    assert fired(keyword)  # the articles hold forms of every keyword
    assert titles(db, keyword) == fired(keyword)


def test_forms_and_their_look_alikes(db: Database) -> None:
    assert titles(db, "مسجد") == {"أغلقت السلطات المساجد في المدينة القديمة", "افتتاح مسجد جديد"}
    # انسحبت, ينسحبون: found; سحب "withdrew (a licence)" is another word.
    assert titles(db, "انسحاب") == {"القوات تنسحب"}
    # The index writes مجموعة and مجموعه alike; the check by the rule analysis tells them apart.
    assert titles(db, "مجموعة") == {"المجموعة المسلحة"}
    assert titles(db, "نزوح") == {"آلاف النازحين"}
    # Both hamza seats, from one dictionary form.
    assert titles(db, "مسؤول") == {"أخبار المسؤولين"}
    # The city تدمر is not a form of تدمير; دمرت, يدمر, المدمرة are.
    assert titles(db, "تدمير") == {"المدمرة الحربية"}


def test_exact_and_quoted_forms_find_the_literal_text(db: Database) -> None:
    assert titles(db, "exact:مسجد") == {"افتتاح مسجد جديد"}
    assert titles(db, '"المساجد"') == {"أغلقت السلطات المساجد في المدينة القديمة"}
    assert titles(db, "«مجموعه»") == {"حساب الفاتورة"}
    assert titles(db, "exact:المجموعه") == {"المجموعة المسلحة"}  # literal, as the index folds ة
    assert titles(db, "exact:سحب") == {"سحب الترخيص"}
    assert titles(db, "مسج*") == {"افتتاح مسجد جديد"}  # a prefix is literal too


def test_forms_combine_with_and_or_and_filters(db: Database) -> None:
    assert titles(db, "مسجد إغلاق") == {"أغلقت السلطات المساجد في المدينة القديمة"}
    assert titles(db, "نزوح OR انسحاب") == {"آلاف النازحين", "القوات تنسحب"}
    rows = inspection.search(db, "مسجد", since="2024-05-02", limit=50)
    assert [r["title"] for r in rows] == ["افتتاح مسجد جديد"]


def test_the_snippet_marks_each_form(db: Database) -> None:
    (row,) = inspection.search(db, "انسحاب", limit=5)
    assert [row["snippet"][s:e] for s, e in row["hits"]] == ["انسحبت", "ينسحبون"]


def test_a_word_with_no_form_in_the_index_matches_nothing(db: Database) -> None:
    assert titles(db, "استقالة") == set()
    assert titles(db, "استقالة OR مسجد") == fired("مسجد")


def test_a_store_without_the_vocabulary_searches_the_literal_word(db_path: Path) -> None:
    # A store copied before migration 0011: search still answers, literally.
    source = sqlite3.connect(db_path)
    old = Database(sqlite3.connect(":memory:"))
    source.backup(old.conn)  # the WAL's pages too, unlike a copy of the file
    source.close()
    old.execute("DROP TABLE articles_fts_vocab")
    assert parse_query("مسجد").fts() == '"مسجد"'
    assert marsad_fts("مسجد", old.conn) == '"مسجد"'
    assert marsad_fts('"', old.conn) == MATCH_NOTHING
    old.close()


def test_the_cli_finds_the_forms(db_path: Path) -> None:
    result = CliRunner().invoke(cli, ["search", "مسجد", "--db", str(db_path), "--json"])
    assert result.exit_code == 0, result.output
    assert {r["title"] for r in json.loads(result.stdout)} == fired("مسجد")


@pytest.fixture(scope="module")
def datasette(db_path: Path) -> Iterator[Any]:
    ds = build_datasette(db_path.resolve())
    asyncio.run(ds.invoke_startup())
    yield ds
    for database in ds.databases.values():
        database.close()


def rows(ds: Any, path: str) -> list[dict[str, Any]]:
    route, _, query = path.partition("?")
    response = asyncio.run(ds.client.get(f"{route}.json?{query}&_shape=array"))
    assert response.status_code == 200, response.text
    result: list[dict[str, Any]] = response.json()
    return result


def test_datasette_search_finds_the_forms_and_the_literal_text(datasette: Any) -> None:
    name = "store"
    canned = rows(datasette, f"/{name}/search_articles?q={quote('مسجد')}")
    assert {r["title"] for r in canned} == fired("مسجد")
    plural = next(r for r in canned if "المساجد" in r["title"])
    assert "[المساجد]" in plural["snippet"]
    table = rows(datasette, f"/{name}/articles?_search={quote('انسحاب')}&_col=title")
    assert {r["title"] for r in table} == {"القوات تنسحب"}
    literal = rows(datasette, f"/{name}/search_articles?q={quote('exact:مسجد')}")
    assert {r["title"] for r in literal} == {"افتتاح مسجد جديد"}
    quoted = rows(datasette, f"/{name}/articles?_search={quote(chr(34) + 'المساجد' + chr(34))}")
    assert {r["title"] for r in quoted} == {"أغلقت السلطات المساجد في المدينة القديمة"}
