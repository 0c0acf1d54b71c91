"""Words with their offsets in the original text, and the key they are matched by."""

from __future__ import annotations

import random

from marsad.arabic import normalize
from marsad.arabic.normalize import normalize_word
from marsad.arabic.tokens import (
    GLUED,
    match_key,
    plain_keys,
    plain_words,
    token_spans,
)


def keys(text: str) -> list[str]:
    return [match_key(word) for word, _, _ in token_spans(text)]


def test_offsets_point_into_the_original_text() -> None:
    text = "وانْسَحَبَت القوات، من قاعدة «K-1» الجوية"
    assert keys(text) == ["وانسحبت", "القوات", "من", "قاعدة", "k", "1", "الجوية"]
    assert [text[start:end] for _, start, end in token_spans(text)][:2] == ["وانْسَحَبَت", "القوات"]


def test_scripts_and_digits_end_a_word() -> None:
    assert keys("K12 وk1 ك١٠ 1.5 ٣٬٥") == ["k", "12", "و", "k", "1", "ك", "10", "1.5", "3,5"]


def test_invisible_marks_and_tatweel_stay_inside_the_word() -> None:
    text = "الانسحـــاب و\u200fالانسحاب ال\u200cانسحاب"
    assert keys(text) == ["الانسحاب", "والانسحاب", "الانسحاب"]


def test_presentation_forms_unfold() -> None:
    assert keys("\ufefb\ufe8e\ufea3") == ["لااح"]


def test_match_key_keeps_ta_marbuta_and_folds_hamza_seats() -> None:
    assert match_key("المجموعة") != match_key("المجموعه")
    assert match_key("مسؤول") == match_key("مسئول")
    assert match_key("أإآٱ") == "اااا"
    assert match_key("کی") == "كي"


def test_fast_paths_agree_with_the_full_normalisation() -> None:
    for word in ["الإنسحاب", "انسحـــاب", "مسؤولى", "ﻻ", "K1", "Straße", "حَماس"]:
        assert normalize_word(word) == normalize(word)
        [plain] = plain_words([word])
        if plain:
            assert plain_keys([plain]) == [match_key(word)]
    assert plain_words(["K1", "حَماس", "انسحـــاب"]) == ["", "", "انسحـــاب"]


def _chunks(rng: random.Random) -> list[str]:
    """Space-free chunks as news text has them: plain words, punctuation glued to either end,
    hamza seats, alef maqsura, tatweel (also leading), harakat, joiners, presentation forms,
    digits, Latin letters, lone punctuation."""
    letters = "ابتثجحخدذرزسشصضطظعغفقكلمنهويةءآأإؤئى"
    odd = ["ـ", "َ", "\u200c", "ﻻ", "1", "٣", "K", "ک", "ڤ", "_", "ـ", "ؘ"]
    glued = [*GLUED, "", "", "", "..."]
    out = []
    for _ in range(20_000):
        word = "".join(rng.choice(letters) for _ in range(rng.randint(1, 9)))
        if rng.random() < 0.2:
            i = rng.randrange(len(word) + 1)
            word = word[:i] + rng.choice(odd) + word[i:]
        out.append(rng.choice(glued) + word + rng.choice(glued))
    out += ["", ".", "«»", "K1", "K-1", "ـالقوات", "الـقوات", "٣", "ﻻ"]
    return out


def test_plain_words_are_the_one_word_the_tokeniser_finds() -> None:
    chunks = _chunks(random.Random(7))
    words = plain_words(chunks)
    keys = plain_keys(words)
    assert plain_keys([]) == []
    for chunk, word, key in zip(chunks, words, keys, strict=True):
        spans = token_spans(chunk)
        if word:
            assert spans == [(word, chunk.index(word), chunk.index(word) + len(word))], chunk
            assert key == match_key(word), chunk
        else:
            assert not key, chunk
    # Most chunks take the batch path; the tokeniser is left the odd ones.
    assert sum(map(bool, words)) > len(chunks) / 2


def test_glued_punctuation_never_belongs_to_a_word() -> None:
    for mark in GLUED:
        assert token_spans(f"{mark}قوات{mark}") == [("قوات", 1, 5)], mark
