"""Words with their offsets in the original text, and the key they are matched by."""

from __future__ import annotations

from arabic import normalize
from arabic.normalize import normalize_word
from arabic.tokens import match_key, plain_arabic_key, tokenize


def test_offsets_point_into_the_original_text() -> None:
    text = "وانْسَحَبَت القوات، من قاعدة «K-1» الجوية"
    tokens = tokenize(text)
    assert [t.key for t in tokens] == ["وانسحبت", "القوات", "من", "قاعدة", "k", "1", "الجوية"]
    assert [text[t.start : t.end] for t in tokens][:2] == ["وانْسَحَبَت", "القوات"]


def test_scripts_and_digits_end_a_word() -> None:
    keys = [t.key for t in tokenize("K12 وk1 ك١٠ 1.5 ٣٬٥")]
    assert keys == ["k", "12", "و", "k", "1", "ك", "10", "1.5", "3,5"]


def test_invisible_marks_and_tatweel_stay_inside_the_word() -> None:
    text = "الانسحـــاب و\u200fالانسحاب ال\u200cانسحاب"
    assert [t.key for t in tokenize(text)] == ["الانسحاب", "والانسحاب", "الانسحاب"]


def test_presentation_forms_unfold() -> None:
    assert [t.key for t in tokenize("\ufefb\ufe8e\ufea3")] == ["لااح"]


def test_match_key_keeps_ta_marbuta_and_folds_hamza_seats() -> None:
    assert match_key("المجموعة") != match_key("المجموعه")
    assert match_key("مسؤول") == match_key("مسئول")
    assert match_key("أإآٱ") == "اااا"
    assert match_key("کی") == "كي"


def test_fast_paths_agree_with_the_full_normalisation() -> None:
    for word in ["الإنسحاب", "انسحـــاب", "مسؤولى", "ﻻ", "K1", "Straße", "حَماس"]:
        assert normalize_word(word) == normalize(word)
        plain = plain_arabic_key(word)
        assert plain is None or plain == match_key(word)
    assert plain_arabic_key("K1") is None
