"""Cores of a keyword and the closed affix sets: what is derived and what deliberately not."""

from __future__ import annotations

import random

import pytest

from marsad.arabic.morphology import (
    IMPERFECT,
    NAME_TA,
    PARTICIPLE_FORM,
    PAST_FORM,
    PRESENT_FORM,
    Core,
    Lexicon,
    form_cores,
    phrase_cores,
    word_cores,
)
from marsad.arabic.tokens import match_key


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
        ("تدمير", "دمر", "دمر", "مدمر"),  # II
        ("تأكيد", "اكد", "ءكد", "مءكد"),  # II, first radical hamza
        ("نزوح", "نزح", "نزح", "نازح"),  # I, فعول
    ],
)
def test_derived_forms(masdar: str, past: str, stem: str, participle: str | None) -> None:
    cores = {(c.text, c.form) for c in word_cores(match_key(masdar))}
    assert (past, PAST_FORM) in cores
    assert (stem, PRESENT_FORM) in cores
    if participle:
        assert (participle, PARTICIPLE_FORM) in cores
    else:
        assert PARTICIPLE_FORM not in {form for _, form in cores}


@pytest.mark.parametrize("noun", ["إعلان", "إنتاج", "إسلام", "إنسان", "حكومة", "مستشفى"])
def test_form_iv_and_plain_nouns_get_no_verbs(noun: str) -> None:
    forms = {c.form for c in word_cores(match_key(noun))}
    assert not forms & {PAST_FORM, PRESENT_FORM, PARTICIPLE_FORM}


@pytest.mark.parametrize(
    ("keyword", "word"),
    [
        ("تفجير", "فجر"),  # a bare form II past of a root that is a noun: "dawn"
        ("تدمير", "تدمر"),  # the city, Palmyra
        ("تقديم", "تقدم"),  # ت + a stem that is a form V noun: "progress"
        ("تطوير", "تطورها"),  # "its development"
        ("ترحيل", "رحلته"),  # ت + object after a root whose ة-noun is common: "his trip"
        ("تدمير", "ادمر"),  # the ا of "I" reads as a form IV past
        ("تسليم", "مسلم"),  # a participle that is a word of its own
        ("تقديم", "قدمه"),  # his foot
        ("عبور", "عبر"),  # via
        ("وصول", "واصل"),  # continued
        ("تدريس", "المدرسة"),  # the school, not the teacher
        ("تحويل", "تحولا"),  # a form V masdar, "a shift"
        ("جنوب", "الجانبين"),  # south is no masdar
    ],
)
def test_forms_that_are_other_words_are_not_derived(keyword: str, word: str) -> None:
    assert not accepts(keyword, word)


@pytest.mark.parametrize(
    ("keyword", "word"),
    [
        ("تدمير", "دمروا"),
        ("تدمير", "يدمرون"),
        ("تدمير", "تدمرونها"),
        ("تدمير", "دمر"),
        ("تدمير", "تدمرها"),
        ("تأكيد", "أكد"),
        ("تحذير", "تحذر"),
        ("ترحيل", "رحلوا"),
        ("تدمير", "المدمرة"),
        ("تأكيد", "أكدت"),
        ("تأكيد", "يؤكد"),
        ("تأكيد", "المؤكد"),
        ("عبور", "عبروا"),
        ("وصول", "يصلون"),
        ("وصول", "تصلان"),
        ("انتهاء", "انتهت"),
        ("انتهاء", "ينتهي"),
        ("انتهاء", "ينتهون"),
        ("انتهاء", "المنتهية"),
        ("استدعاء", "استدعى"),
        ("استدعاء", "استدعاه"),
        ("استدعاء", "استدعوا"),
        ("اعتداء", "المعتدين"),
    ],
)
def test_verb_forms_with_their_endings(keyword: str, word: str) -> None:
    assert accepts(keyword, word)


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


# Keywords of every shape the lexicon knows: masdars of each derived form, ة-nouns, plurals,
# nisbas, names with the article, short words, phrases and forms.
_LEXICON_WORDS = [
    "انسحاب", "اعتقال", "اضطراب", "اتفاق", "اختيار", "احتلال", "اعتداء", "استخدام",
    "استقالة", "مقاومة", "تبادل", "انتخابات", "مفاوضات", "عسكري", "القيارة", "القائم",
    "هجوم", "حرب", "غز", "ك", "مجموعة", "صاروخ",
]  # fmt: skip
_LEXICON_PHRASES = [["عين", "الاسد"], ["قاعدة", "القيارة"], ["k", "1"], ["كي", "1"]]
_LEXICON_FORMS = ["يهاجم", "قوات", "ضربة"]


def _lexicon_with_forms() -> tuple[Lexicon[str], dict[str, set[str]]]:
    """A lexicon of every kind of core, and every form it accepts spelt out (the definition of
    :meth:`Lexicon.analyse`: prefix + core + suffix for an accepted pair)."""
    cores: list[tuple[Core, str]] = []
    for word in _LEXICON_WORDS:
        cores.extend((c, word) for c in word_cores(match_key(word)))
        cores.extend((c, word + "/exact") for c in word_cores(match_key(word), exact=True))
    for phrase in _LEXICON_PHRASES:
        for exact in (False, True):
            for position, word_cores_ in enumerate(phrase_cores(phrase, exact=exact)):
                cores.extend((c, f"{phrase}/{position}/{exact}") for c in word_cores_)
    for form in _LEXICON_FORMS:
        cores.extend((c, form + "/form") for c in form_cores(form))
    lexicon: Lexicon[str] = Lexicon()
    forms: dict[str, set[str]] = {}
    for core, payload in cores:
        lexicon.add(core, payload)
        for prefix, suffix in core.pairs:
            forms.setdefault(prefix + core.text + suffix, set()).add(payload)
    return lexicon, forms


def _near_misses(forms: list[str], rng: random.Random) -> list[str]:
    """Accepted forms with one letter changed, dropped or added, and made-up words."""
    letters = "ابتثجحخدذرزسشصضطظعغفقكلمنهويةءk1"
    out = []
    for form in forms:
        i = rng.randrange(len(form))
        c = rng.choice(letters)
        out += [form[:i] + c + form[i + 1 :], form[:i] + form[i + 1 :], form[:i] + c + form[i:]]
    for _ in range(20_000):
        out.append("".join(rng.choice(letters) for _ in range(rng.randint(1, 12))))
    return out


def test_analysis_finds_exactly_the_accepted_forms_and_the_pre_filter_keeps_them() -> None:
    lexicon, forms = _lexicon_with_forms()
    rng = random.Random(3)
    accepted = sorted(forms)
    keys = accepted + _near_misses(rng.sample(accepted, 5_000), rng)
    possible = lexicon.possible(keys)
    for key, kept in zip(keys, possible, strict=True):
        expected = forms.get(key, set())
        found = lexicon.analyse(key)
        assert len(found) == len(set(found)), key
        assert set(found) == expected, key
        assert kept or not expected, key
    # The pre-filter has a point: it turns away most words that are no form of anything.
    rejected = [kept for key, kept in zip(keys, possible, strict=True) if key not in forms]
    assert sum(rejected) < len(rejected) / 4
