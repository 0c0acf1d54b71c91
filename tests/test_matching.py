"""The rule language at match time: any/all/none, threshold, near, fields, aliases; spans,
snippets and the compiled index."""

from __future__ import annotations

import pytest

from marsad.alerts import matching
from marsad.alerts.matching import (
    Match,
    RuleIndex,
    compile_rules,
    field_text,
    marked_snippet,
    snippet,
)
from marsad.alerts.rules import Keyword, Rule
from tests.conftest import match_rules

TITLE = "التحالف يكمل انسحابه من قاعدة K1"
BODY = (
    "انسحبت القوات الأميركية من قاعدة كي 1 الجوية في كركوك صباح الأحد. "
    "وقال مسؤول إن الخطة تشمل قاعدة القيارة لاحقاً، فيما تبقى قاعدة عين الأسد في الأنبار. "
    "ولم يصدر تعليق من الرئيس السوري بشار الأسد."
)


def kw(*words: str) -> tuple[Keyword, ...]:
    return tuple(Keyword(w) for w in words)


def names(matches: list[Match]) -> set[str]:
    return {m.rule for m in matches}


def test_every_match_explains_itself() -> None:
    found = match_rules((Rule("w", ("انسحاب",)),), TITLE, BODY)
    assert [(m.rule, m.keyword, m.field, m.surface) for m in found] == [
        ("w", "انسحاب", "title", "انسحابه"),
        ("w", "انسحاب", "body", "انسحبت"),
    ]
    for m in found:
        assert field_text(TITLE, BODY, m.field)[m.start : m.end] == m.surface


def test_a_match_field_names_the_text_its_offsets_count_in() -> None:
    assert field_text("t", "b", "title") == "t"
    assert field_text("t", "b", "body") == "b"


def test_all_none_and_threshold() -> None:
    rules = (
        Rule("all", all_of=kw("انسحاب", "القيارة")),
        Rule("all-missing", all_of=kw("انسحاب", "الموصل")),
        Rule("none", any_of=kw("انسحاب"), none_of=kw("بشار")),
        Rule("two-of-three", any_of=kw("القيارة", "عين الأسد", "الموصل"), threshold=2),
        Rule("three-of-three", any_of=kw("القيارة", "عين الأسد", "الموصل"), threshold=3),
        Rule("any-and-all", any_of=kw("الموصل", "كركوك"), all_of=kw("K1")),
    )
    found = match_rules(rules, TITLE, BODY)
    assert names(found) == {"all", "two-of-three", "any-and-all"}
    # None-group words never show up as matches.
    assert all(m.keyword != "بشار" for m in found)


def test_near_counts_words_between_hits_in_one_field() -> None:
    close = Rule("close", all_of=kw("انسحاب", "كركوك"), near=8)
    far = Rule("far", all_of=kw("انسحاب", "عين الأسد"), near=5)
    wide = Rule("wide", all_of=kw("انسحاب", "عين الأسد"), near=30)
    found = match_rules((close, far, wide), TITLE, BODY)
    assert names(found) == {"close", "wide"}
    # Only the hits inside a window that satisfies the rule are shown.
    assert {m.surface for m in found if m.rule == "close"} == {"انسحبت", "كركوك"}
    # Title and body are separate: a title hit is not "near" a body hit.
    split = Rule("split", all_of=kw("انسحاب", "القيارة"), near=0, fields=("title", "body"))
    assert not match_rules((split,), "انسحاب", "القيارة")


def test_field_scope() -> None:
    title_only = Rule("t", ("K1",), fields=("title",))
    body_word_in_title = Rule("b", ("كركوك",), fields=("title",))
    found = match_rules((title_only, body_word_in_title), TITLE, BODY)
    assert [(m.rule, m.field, m.surface) for m in found] == [("t", "title", "K1")]


def test_aliases_forms_and_exact() -> None:
    rule = Rule(
        "base",
        any_of=(
            Keyword("عين الأسد", aliases=("Ain al-Asad",)),
            Keyword("قاعدة", exact=True),
        ),
    )
    found = match_rules((rule,), "", "Troops left Ain al-Asad, then قاعدته and القاعدة.")
    assert [(m.keyword, m.surface) for m in found] == [("عين الأسد", "Ain al-Asad")]


def test_phrases_need_consecutive_words() -> None:
    rule = Rule("a", ("عين الأسد",))
    assert match_rules((rule,), "", "في قاعدة وعين الأسد الجوية")
    assert not match_rules((rule,), "", "قالت عين: الأسد غاب")
    assert not match_rules((rule,), "", "عين على الأسد")


def test_an_index_holds_its_rules_and_matches_the_same_from_any_iterable() -> None:
    rules = (Rule("w", ("انسحاب",)),)
    index = compile_rules(iter(rules))
    assert index.rules == rules
    assert index.match("", "الانسحاب") == match_rules(list(rules), "", "الانسحاب")
    assert compile_rules(()).match("", "الانسحاب") == []


def test_snippets() -> None:
    text = "بدأ " * 40 + "الانسحاب من القاعدة " + "ثم " * 40
    start = text.index("الانسحاب")
    end = start + len("الانسحاب")
    plain = snippet(text, start, end)
    assert plain.startswith("…") and plain.endswith("…") and "الانسحاب من القاعدة" in plain
    marked = marked_snippet(text, start, end)
    assert "بدأ [الانسحاب] من" in marked
    assert marked_snippet("الانسحاب", 0, 8, mark=("<b>", "</b>")) == "<b>الانسحاب</b>"


def test_a_full_word_cache_starts_over_without_changing_matches(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    rule = Rule("w", ("انسحاب", "عين الأسد"))
    index = RuleIndex((rule,))
    expected = [index.match(TITLE, BODY + f" كلمة{i}") for i in range(3)]
    monkeypatch.setattr(matching, "_CACHE_LIMIT", 12)
    small = RuleIndex((rule,))
    for i in range(3):
        assert small.match(TITLE, BODY + f" كلمة{i}") == expected[i]
        assert len(small._seen) <= 12 + len(BODY.split())
