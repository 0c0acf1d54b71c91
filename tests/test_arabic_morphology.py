"""Cores of a keyword and the closed affix sets: what is derived and what deliberately not."""

from __future__ import annotations

import pytest

from arabic.morphology import (
    IMPERFECT,
    NAME_TA,
    PAST,
    PAST_MARKED,
    Lexicon,
    form_cores,
    word_cores,
)
from arabic.tokens import match_key


def forms_of(keyword: str) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for core in word_cores(match_key(keyword)):
        out.setdefault(core.text, set()).add(core.kind.name)
    return out


def accepts(keyword: str, word: str) -> bool:
    lexicon: Lexicon[str] = Lexicon()
    for core in word_cores(match_key(keyword)):
        lexicon.add(core, keyword)
    return bool(lexicon.analyse(match_key(word)))


@pytest.mark.parametrize(
    ("masdar", "past", "stem", "participle"),
    [
        ("انسحاب", "انسحب", "نسحب", "منسحب"),  # VII
        ("اعتقال", "اعتقل", "عتقل", "معتقل"),  # VIII
        ("اضطراب", "اضطرب", "ضطرب", "مضطرب"),  # VIII, ت assimilated to ط
        ("اتفاق", "اتفق", "تفق", "متفق"),  # VIII, doubled ت
        ("اختيار", "اختار", "ختار", None),  # VIII hollow; مختار is a headman
        ("احتلال", "احتل", "حتل", "محتل"),  # VIII doubled root
        ("اعتداء", "اعتدي", "عتدي", "معتدي"),  # VIII weak final
        ("استخدام", "استخدم", "ستخدم", "مستخدم"),  # X
        ("استقالة", "استقال", "ستقيل", "مستقيل"),  # X hollow
        ("مقاومة", "قاوم", "قاوم", "مقاوم"),  # III
        ("تبادل", "تبادل", "تبادل", "متبادل"),  # VI
    ],
)
def test_derived_forms(masdar: str, past: str, stem: str, participle: str | None) -> None:
    cores = forms_of(masdar)
    assert cores[past] & {PAST.name, PAST_MARKED.name}
    assert IMPERFECT.name in cores[stem]
    if participle:
        assert participle in cores


@pytest.mark.parametrize("noun", ["تفجير", "تدريب", "إعلان", "إنتاج", "إسلام", "إنسان", "هجوم"])
def test_forms_i_ii_iv_and_plain_nouns_get_no_verbs(noun: str) -> None:
    assert set().union(*forms_of(noun).values()) <= {"noun", "ta-noun"}


def test_a_bare_imperfect_stem_is_never_a_match() -> None:
    assert forms_of("انسحاب")["نسحب"] == {IMPERFECT.name}
    assert not accepts("انسحاب", "نسحب")
    assert not accepts("انسحاب", "ونسحب")
    for person in "يتنا":
        assert accepts("انسحاب", person + "نسحب")


def test_names_keep_their_article() -> None:
    assert forms_of("القيارة") == {"قيار": {NAME_TA.name}}
    assert accepts("القيارة", "وبالقياره")
    assert not accepts("القيارة", "قيارة")
    # A masdar written with its article is still the common noun.
    assert accepts("الانسحاب", "انسحابهم")


def test_forms_written_as_imperfect_take_every_person() -> None:
    cores = {c.text: c.kind.name for c in form_cores(match_key("يهاجم"))}
    assert cores["هاجم"] == IMPERFECT.name
