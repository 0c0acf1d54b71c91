"""Templatic derivation: the broken plurals of a singular noun and the root of a masdar.

Pure string functions over match keys (see :func:`arabic.tokens.match_key`: أ إ آ → ا, ؤ ئ → ء,
ى → ي, ة kept). They say what the templates give; :mod:`arabic.morphology` decides which of
those a keyword derives by default (the safe ones), which only on request, and turns them into
cores with their affixes.

Each template was checked against a month of real Arabic news (the words it makes, how often
they occur and what they mean there); where a template also makes a common word of another
meaning, that word is in :data:`arabic.wordlists.NOT_PLURALS` rather than the template dropped.
"""

from __future__ import annotations

from dataclasses import dataclass

_LONG = "اوي"


@dataclass(frozen=True)
class Plural:
    """One broken plural a template makes: its letters (without a final ة), whether it is
    written with ة (أسلحة, قادة), and the template, for people reading `rules forms`."""

    text: str
    ta: bool
    pattern: str


def broken_plurals(stem: str, *, had_ta: bool, short: bool = False) -> list[Plural]:
    """The broken plurals the templates give for a singular noun (``stem`` without its final
    ة; ``had_ta`` says whether it had one).

    Four- and five-letter singulars have templates whose plurals have a shape of their own
    (مفاعل, فواعل, فعائل, فعلاء, مفاعيل, فواعيل…). Three-letter nouns (``short``) have
    several plurals each (أفعال, فعول, فعال) and no way to tell which from the letters: they
    get أفعال and فعول, and only when asked (``plurals = true``).
    """
    n = len(stem)
    out: list[Plural] = []

    def add(text: str, pattern: str, *, ta: bool = False) -> None:
        if text != stem and all(p.text != text for p in out):
            out.append(Plural(text, ta, pattern))

    if n == 3 and short and not had_ta:
        c1, c2, c3 = stem[0], stem[1], stem[2]
        if c2 not in _LONG and c3 not in "اي":
            add("ا" + c1 + c2 + "ا" + c3, "فعل → أفعال")
            add(c1 + c2 + "و" + c3, "فعل → فعول")
        return out
    if n == 4:
        c1, c2, c3, c4 = stem[0], stem[1], stem[2], stem[3]
        if c2 == "ا" and c3 != "ا" and c4 not in _LONG and c1 != "و":
            # فاعل, فاعلة → فواعل (شارع → شوارع, عاصمة → عواصم, قائمة → قوائم). The
            # human فاعل → فعّال (حاكم → حكام) is no template: four in ten of the words it
            # makes are others (كتاب, نشاط, حزام, حسام); the word lists name the plurals.
            add(c1 + "وا" + c3 + c4, "فاعل → فواعل")
        elif c2 == "ا" and c4 == "ي" and not had_ta:
            # فاعي → فعاة (قاضي → قضاة, داعي → دعاة).
            add(c1 + c3 + "ا", "فاعي → فعاة", ta=True)
        elif c3 in "اي" and c2 not in _LONG:
            if had_ta and c4 not in _LONG:
                # فعيلة, فعالة → فعائل (جريمة → جرائم, رسالة → رسائل, مسألة → مسائل).
                add(c1 + c2 + "اء" + c4, "فعيلة → فعائل")
            elif c3 == "ي" and c4 not in _LONG and not had_ta:
                # فعيل → فعلاء (وزير → وزراء, سجين → سجناء). Its other plurals do not
                # keep a shape of their own: فعلى is the nisba فعلي (قتيل → قتلى, but غريب →
                # غربي "western"), أفعلاء a weekday (ربيع → الأربعاء); the word lists name them.
                add(c1 + c2 + c4 + "اء", "فعيل → فعلاء")
            elif c3 == "ا" and c4 not in _LONG and not had_ta:
                # فعال → أفعلة (سلاح → أسلحة, جهاز → أجهزة).
                add("ا" + c1 + c2 + c4, "فعال → أفعلة", ta=True)
        elif (
            c2 != "ا"
            and c3 not in _LONG
            and c4 not in "اي"
            and c1 not in "اي"
            and (
                # ت + three letters is an imperfect or a form V word (ترجع, توجه), whose مفاعل
                # shape is a form VI masdar (تراجع, تواجه); with ة it is a noun (تجربة → تجارب).
                c1 != "ت" or had_ta
            )
        ):
            # مفعل, مفعلة, فعلل → مفاعل (مسجد → مساجد, منطقة → مناطق, فندق → فنادق).
            add(c1 + c2 + "ا" + c3 + c4, "مفعل → مفاعل")
        elif c1 == "م" and c4 == "ا" and c3 not in _LONG and not had_ta:
            # مفعأ → مفاعئ, its hamza lost to the key's alef (مبدأ → مبادئ, ملجأ → ملاجئ).
            add(c1 + c2 + "ا" + c3 + "ء", "مفعأ → مفاعئ")
    elif n == 5:
        c1, c2, c3, c4, c5 = stem[0], stem[1], stem[2], stem[3], stem[4]
        if c2 == "ا" and c4 in "وي" and c3 not in _LONG and c1 != "و":
            # فاعول, فاعيل, فاعولة → فواعيل (صاروخ → صواريخ, فاتورة → فواتير).
            add(c1 + "وا" + c3 + "ي" + c5, "فاعول → فواعيل")
        elif c4 in _LONG and c2 != "ا" and c3 not in _LONG and c5 not in _LONG:
            # مفعول, مفعال, تفعيل, فعلول, أفعول → مفاعيل (مشروع → مشاريع, تقرير → تقارير,
            # برميل → براميل, أسبوع → أسابيع, شيطان → شياطين).
            add(c1 + c2 + "ا" + c3 + "ي" + c5, "مفعول → مفاعيل")
    return out


@dataclass(frozen=True)
class Root:
    """The three radicals of a form I masdar, and how sure the letters are about it."""

    letters: str
    pattern: str


def form_i_root(stem: str, *, had_ta: bool, any_pattern: bool) -> Root | None:
    """The root of a form I masdar, or None.

    By default only فعول (نزوح, هجوم, خروج: almost always a masdar, or a plural whose
    "verb" is its own singular); with ``any_pattern`` (``verbs = true``) also a bare
    three-letter word (سجن, قتل), فعال, فعالة, فعلة, فعيل and فعلان, whose letters are as
    often a noun of another meaning (كتاب, سفارة, حملة, وزير). Hollow and weak roots, and
    doubled ones, are left out: their verbs do not keep the three letters.
    """
    n = len(stem)
    letters: str | None = None
    pattern = ""
    if n == 4 and not had_ta and stem[2] == "و" and stem[0] not in "اتم":
        # (ا ت م first: an imperfect or a participle, اقول تعود مكون, not a masdar.)
        letters, pattern = stem[0] + stem[1] + stem[3], "فعول"
    elif any_pattern:
        if n == 3 and stem[1] not in _LONG:
            letters, pattern = stem, "فعل" + ("ة" if had_ta else "")
        elif n == 4 and stem[2] == "ا":
            letters, pattern = stem[0] + stem[1] + stem[3], "فعال" + ("ة" if had_ta else "")
        elif n == 4 and stem[2] == "ي" and not had_ta:
            letters, pattern = stem[0] + stem[1] + stem[3], "فعيل"
        elif n == 5 and stem.endswith("ان") and not had_ta:
            letters, pattern = stem[:3], "فعلان"
    if letters is None:
        return None
    c1, c2, c3 = letters[0], letters[1], letters[2]
    if c2 in _LONG or c3 in _LONG or c2 == c3 or c1 == "ي":
        return None
    return Root(letters, pattern)


def form_ii_root(key: str) -> str | None:
    """The root of a form II masdar تفعيل (تدمير → دمر, تأكيد → اكد), or None."""
    if len(key) != 5 or key[0] != "ت" or key[3] != "ي":
        return None
    c1, c2, c3 = key[1], key[2], key[4]
    # A doubled middle و or ي is a consonant (تطوير → طوّر); ا there is form III or VI.
    if c2 == "ا" or c3 in _LONG or c1 == "ي":
        return None
    return c1 + c2 + c3
