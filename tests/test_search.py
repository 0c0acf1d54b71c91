"""storage.search: user input → a safe FTS5 expression, and snippets in the original spelling."""

from __future__ import annotations

import pytest
from sqlite_utils import Database

from marsad.storage.search import SearchSyntaxError, parse_query, snippet


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("الإنسحاب", '"الانسحاب"'),
        ("الانْسِحَاب", '"الانسحاب"'),
        ("آمال مُحادثة", '"امال" AND "محادثه"'),
        ('"وقف إطلاق النار"', '"وقف اطلاق النار"'),
        ("«وقف إطلاق النار»", '"وقف اطلاق النار"'),
        ("انسح*", '"انسح"*'),
        ("هدنة OR تهدئة غزة", '"هدنه" OR ("تهدئه" AND "غزه")'),
        ("٢٠٢٤", '"2024"'),
        ("Gaza", '"gaza"'),
        ("U.S.", '"u s"'),
        ("or", '"or"'),  # only upper-case OR is the operator
        ("NEAR(a", '"near a"'),
        ('a"b"', '"a" AND "b"'),
    ],
)
def test_fts_expression(query: str, expected: str) -> None:
    assert parse_query(query).fts() == expected


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("", "empty"),
        ('"الانسحاب', "unclosed quote at position 1"),
        ("غزة «هدنة", "unclosed quote at position 5"),
        ("هدنة»", "unexpected »"),
        ("OR غزة", "OR needs"),
        ("غزة OR OR هدنة", "OR needs"),
        ("ً ٌ", "no letters"),
        ("*", "prefix"),
        ("a*b", "may only end a word"),
    ],
)
def test_malformed(query: str, message: str) -> None:
    with pytest.raises(SearchSyntaxError, match=message):
        parse_query(query)


@pytest.mark.parametrize(
    "query",
    ['"', "NEAR(x y)", "x:y", "^x", "-x", "+x", "x AND", "(x", "x)", "'", "%", "\\", "{x}", "ـ"],
)
def test_any_accepted_input_is_valid_fts5(store: Database, query: str) -> None:
    try:
        expression = parse_query(query).fts()
    except SearchSyntaxError:
        return  # refused with a message: also fine
    list(store.query("SELECT rowid FROM articles_fts WHERE articles_fts MATCH ?", [expression]))


TEXT = "قال المتحدث إنّ الإنْسِحَاب من المدينة سيبدأ غداً، وإن الانسحاب الكامل يستغرق شهراً."


def test_snippet_marks_every_spelling_of_the_hit() -> None:
    found = snippet(TEXT, parse_query("الإنسحاب").terms)
    assert [found.text[s:e] for s, e in found.hits] == ["الإنْسِحَاب", "الانسحاب"]
    assert found.text == TEXT


def test_snippet_window_starts_on_a_word_and_says_it_was_cut() -> None:
    long = "كلمة " * 80 + TEXT + " نهاية" * 80
    found = snippet(long, parse_query('"من المدينة"').terms, width=60)
    assert found.text.startswith("…") and found.text.endswith("…")
    assert [found.text[s:e] for s, e in found.hits] == ["من المدينة"]
    assert found.text[1] != " " and not found.text[1:].startswith("لمة")


def test_snippet_prefix_and_no_hit() -> None:
    found = snippet(TEXT, parse_query("المدين*").terms)
    assert [found.text[s:e] for s, e in found.hits] == ["المدينة"]
    missing = snippet("نص " * 100, parse_query("غائب").terms, width=30)
    assert missing.hits == () and missing.text.endswith("…") and len(missing.text) <= 31
