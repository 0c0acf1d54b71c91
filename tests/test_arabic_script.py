"""marsad.arabic.script: the one "is this Arabic?" every part of marsad asks."""

from __future__ import annotations

import pytest

from marsad.arabic.script import (
    arabic_letter_share,
    has_arabic,
    is_arabic_script,
    is_basic_arabic_letter,
)


@pytest.mark.parametrize("ch", ["ا", "ي", "ء", "ـ", "َ", "٣", "ڤ", "ﻻ", "ﷲ", "ݐ"])
def test_arabic_script_characters(ch: str) -> None:
    assert is_arabic_script(ch)


@pytest.mark.parametrize("ch", ["a", "é", "א", "\ufeff", " ", "3"])
def test_not_arabic_script(ch: str) -> None:
    assert not is_arabic_script(ch)


def test_basic_letters_exclude_tatweel_marks_and_digits() -> None:
    assert is_basic_arabic_letter("ء") and is_basic_arabic_letter("ي")
    assert not any(is_basic_arabic_letter(ch) for ch in ("ـ", "َ", "٣", "ڤ", "a"))


def test_letter_share_and_presence() -> None:
    assert arabic_letter_share("") == 0.0
    assert arabic_letter_share("123 !") == 0.0
    assert arabic_letter_share("قاعدة K1") == pytest.approx(5 / 6)
    assert has_arabic("K1 «ك 1»") and not has_arabic("K1 (K-1)")
