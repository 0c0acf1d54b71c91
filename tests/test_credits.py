"""Credit lines and boilerplate: recognised, cut out of the body, kept as provenance."""

from __future__ import annotations

import pytest

from marsad.arabic.credits import split_credits

BODY = "افتتح محافظ المدينة صباح اليوم معرضا للكتاب يضم أكثر من خمسمئة دار نشر."


@pytest.mark.parametrize(
    ("text", "credit"),
    [
        (f"{BODY}\n\nالمصدر : news.yahoo.com", "news.yahoo.com"),
        (f"{BODY}\nالمصدر: صحيفة الوطن", "صحيفة الوطن"),
        (f"{BODY}\n(أ ف ب)", "أ ف ب"),
        (f"{BODY}\n- وكالات", "وكالات"),
        (f"{BODY}\nرويترز", "رويترز"),
        (f"{BODY}\nنقلا عن موقع الخليج", "موقع الخليج"),
        (f"{BODY} (أ ف ب)", "أ ف ب"),
        (f"{BODY} - واس", "واس"),
        (f"جدة - واس - {BODY}", "واس"),
        (f"باريس (رويترز) - {BODY}", "رويترز"),
    ],
)
def test_credit_is_cut_out_and_kept(text: str, credit: str) -> None:
    found = split_credits(text)
    assert found.body == BODY
    assert found.credits == (credit,)


@pytest.mark.parametrize(
    "noise",
    [
        "شارك هذا الخبر مع أصدقائك",
        "اقرأ أيضا: ارتفاع أسعار الذهب في الأسواق المحلية",
        "اقرأ أيضاً:\nعنوان خبر آخر\nوعنوان خبر ثالث",
        "تابعونا على تويتر وفيسبوك",
        "جميع الحقوق محفوظة © 2024",
        "رابط مختصر: https://x.example/a1",
    ],
)
def test_boilerplate_is_cut_out_and_kept(noise: str) -> None:
    found = split_credits(f"{noise}\n\n{BODY}\n\n{noise}")
    assert found.body == BODY
    assert found.boilerplate
    assert found.credits == ()


def test_link_line_glued_to_the_last_paragraph() -> None:
    found = split_credits(f"{BODY} رابط الخبر بصحيفة المساء: معرض للكتاب")
    assert found.body == BODY
    assert found.boilerplate == ("رابط الخبر بصحيفة المساء: معرض للكتاب",)


@pytest.mark.parametrize(
    "text",
    [
        BODY,
        # Sentences that mention an agency or a source are text, not credits.
        "قالت وكالة رويترز إن المعرض سيستمر أسبوعين، ونقلت عن مصادر أن الإقبال كان كبيرا.",
        "المصدر الرئيسي للمياه في المدينة هو السد الذي بني قبل عشرين عاما على الوادي الكبير.",
        "تابع الوزير جولته على الأجنحة، وشارك في ندوة عن مستقبل النشر الرقمي في المنطقة.",
    ],
)
def test_ordinary_text_is_left_alone(text: str) -> None:
    found = split_credits(text)
    assert found.body == text
    assert found.credits == found.boilerplate == ()


def test_provenance_leaves_out_what_is_empty() -> None:
    assert split_credits(BODY).provenance() == {}
    assert split_credits(f"{BODY}\n(واس)").provenance() == {"credits": ["واس"]}
