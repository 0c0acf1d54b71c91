from __future__ import annotations

import pytest

from marsad.arabic import normalize, normalize_keep_ta_marbuta


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("الْعَرَبِيَّةُ", "العربيه"),  # harakat, shadda; ة → ه
        ("انسحـــاب", "انسحاب"),  # tatweel
        ("أحمد إلى آخر ٱلكتاب", "احمد الي اخر الكتاب"),  # alef variants; ى → ي
        ("عام ٢٠١٧ و۲۰۲۰", "عام 2017 و2020"),  # Arabic-Indic and Persian digits
        ("\u200fقال\u200e \u202bنعم\u202c", "قال نعم"),  # bidi marks
        ("ﻻ ﺍﻟﻌﺮﺑﻴﺔ", "لا العربيه"),  # presentation forms via NFKC
        ("K-1  القاعدة\n\tالجوية", "k-1 القاعده الجويه"),  # case, whitespace
        ("هل؟ نعم، بالتأكيد؛", "هل? نعم, بالتاكيد;"),  # Arabic punctuation
    ],
)
def test_normalize(raw: str, expected: str) -> None:
    assert normalize(raw) == expected


def test_keep_ta_marbuta_differs_only_in_ta_marbuta() -> None:
    assert normalize_keep_ta_marbuta("مجموعة") == "مجموعة"
    assert normalize("مجموعة") == normalize("مجموعه") == "مجموعه"


def test_normalize_is_idempotent() -> None:
    text = "وَانْسَحَبَتْ القوّات مِن «قاعدة» عين الأسد ١٢"
    assert normalize(normalize(text)) == normalize(text)
