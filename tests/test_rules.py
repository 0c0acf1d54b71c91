"""Parsing the rule language: what is accepted, and errors that name the rule and the key."""

from __future__ import annotations

import tomllib

import pytest

from marsad.alerts.rules import Keyword, Rule, RuleError, parse_rules

FULL = """
[[rules]]
name = "pullout"
channels = ["ops"]
any = ["انسحاب", { keyword = "إخلاء", forms = ["أخلى", "يخلي"] }]
all = ["K1"]
none = [{ keyword = "مناورة", exact = true }]
near = 12
fields = ["body"]
threshold = 1
aliases = { "K1" = ["كي وان"] }
"""


def test_full_rule() -> None:
    (rule,) = parse_rules(tomllib.loads(FULL)["rules"])
    assert rule.name == "pullout" and rule.channels == ("ops",)
    assert [k.text for k in rule.any_of] == ["انسحاب", "إخلاء"]
    assert rule.any_of == (Keyword("انسحاب"), Keyword("إخلاء", forms=("أخلى", "يخلي")))
    assert rule.all_of == (Keyword("K1", aliases=("كي وان",)),)
    assert rule.none_of == (Keyword("مناورة", exact=True),)
    assert (rule.near, rule.fields, rule.threshold) == (12, ("body",), 1)
    assert hash(rule) == hash(parse_rules(tomllib.loads(FULL)["rules"])[0])


def test_plain_keywords_rule_is_the_foundation_rule() -> None:
    (rule,) = parse_rules([{"name": "w", "keywords": ["انسحاب"], "channels": ["ops"]}])
    assert rule == Rule("w", ("انسحاب",), ("ops",))
    assert rule.any_of == (Keyword("انسحاب"),) and rule.fields == ("title", "body")


def test_rule_level_exact_applies_to_every_keyword() -> None:
    (rule,) = parse_rules([{"name": "w", "keywords": ["حماس"], "exact": True}])
    assert rule.any_of == (Keyword("حماس", exact=True),)


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ({"name": "r"}, "rules[0] 'r': keywords: must be a list"),
        ({"name": "r", "keywords": []}, "rules[0] 'r': keywords: required"),
        ({"name": "r", "any": ["a"], "keywords": ["b"]}, "'r': any: give either"),
        ({"name": "r", "all": []}, "'r': keywords: required"),
        ({"name": "r", "keywords": ["a"], "colour": 1}, "'r': colour: unknown key"),
        ({"name": "r", "keywords": ["a"], "near": -1}, "'r': near: must be a whole number"),
        ({"name": "r", "keywords": ["a"], "near": "5"}, "'r': near"),
        ({"name": "r", "keywords": ["a"], "threshold": 2}, "'r': threshold: 2 is more than"),
        ({"name": "r", "keywords": ["a"], "threshold": 0}, "'r': threshold: must be"),
        ({"name": "r", "keywords": ["a"], "fields": ["url"]}, "'r': fields: 'url'"),
        ({"name": "r", "keywords": ["a"], "fields": []}, "'r': fields: must name"),
        ({"name": "r", "keywords": ["a", "a"]}, "'r': keywords: 'a' is listed twice"),
        ({"name": "r", "keywords": ["a"], "none": ["a"]}, "'r': keywords: 'a' is listed twice"),
        ({"name": "r", "keywords": [{"word": "a"}]}, "'r': keywords[0]: word: unknown key"),
        ({"name": "r", "keywords": [{"exact": True}]}, "'r': keywords[0]: keyword: required"),
        ({"name": "r", "keywords": [{"keyword": "a", "exact": 1}]}, "keywords[0]: exact"),
        (
            {"name": "r", "keywords": [{"keyword": "a", "exact": True, "forms": ["b"]}]},
            "keywords[0]: forms: an exact keyword takes no forms",
        ),
        ({"name": "r", "keywords": [3]}, "'r': keywords[0]: must be a string or a table"),
        ({"name": "r", "keywords": ["!!"]}, "'r': keywords[0]: no letters or digits"),
        ({"name": "r", "keywords": ["a"], "aliases": {"b": ["c"]}}, "aliases: 'b' is not"),
        ({"name": "r", "keywords": ["a"], "aliases": ["c"]}, "'r': aliases: must be a table"),
        ({"name": "r", "keywords": ["a"], "exact": "yes"}, "'r': exact: must be true"),
    ],
)
def test_invalid_rules_name_the_rule_and_the_key(table: dict[str, object], message: str) -> None:
    with pytest.raises(RuleError) as info:
        parse_rules([table])
    assert message in str(info.value)


def test_duplicate_rule_names() -> None:
    with pytest.raises(RuleError, match="name: used by an earlier rule"):
        parse_rules([{"name": "r", "keywords": ["a"]}, {"name": "r", "keywords": ["b"]}])


def test_verbs_plurals_and_none_per_keyword_or_rule() -> None:
    (rule,) = parse_rules(
        tomllib.loads(
            """
            [[rules]]
            name = "prisons"
            verbs = true
            any = ["سجن", { keyword = "قتل", verbs = false, none = ["قاتل"] },
                   { keyword = "طفل", plurals = true }]
            """
        )["rules"]
    )
    assert rule.any_of == (
        Keyword("سجن", verbs=True),
        Keyword("قتل", verbs=False, none=("قاتل",)),
        Keyword("طفل", verbs=True, plurals=True),
    )


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ({"name": "r", "keywords": ["a"], "verbs": "yes"}, "'r': verbs: must be true or false"),
        ({"name": "r", "keywords": [{"keyword": "a", "plurals": 1}]}, "keywords[0]: plurals"),
        (
            {"name": "r", "keywords": [{"keyword": "a", "exact": True, "verbs": True}]},
            "keywords[0]: verbs: an exact keyword has no forms",
        ),
        ({"name": "r", "keywords": [{"keyword": "a", "none": "b"}]}, "none: must be a list"),
        (
            {"name": "r", "keywords": [{"keyword": "a", "none": ["b c"]}]},
            "keywords[0]: none[0]: one word",
        ),
    ],
)
def test_invalid_form_options(table: dict[str, object], message: str) -> None:
    with pytest.raises(RuleError) as info:
        parse_rules([table])
    assert message in str(info.value)
