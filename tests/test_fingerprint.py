"""Shingles, MinHash signatures, band keys and chunk keys: pure and deterministic."""

from __future__ import annotations

import numpy as np

from marsad.storage import fingerprint as fpr

TEXT = (
    "اعلن مجلس الادارة في اجتماعه الدوري عن خطة لتوسيع شبكة النقل العام في المدينة خلال "
    "السنوات الخمس المقبله وتشمل الخطة انشاء ثلاثة خطوط جديدة للحافلات السريعة وربط الاحياء "
    "الشرقية بوسط المدينة عبر قطار خفيف يعمل بالطاقة الكهربائية وقال رئيس المجلس ان المشروع "
    "سيوفر الاف الوظائف وسيخفف الازدحام المروري الذي تعانيه الطرق الرئيسية في ساعات الذروة "
    "واضاف ان التمويل سيأتي من الميزانية العامة ومن شراكات مع القطاع الخاص"
)


def test_signature_is_deterministic_and_sized() -> None:
    a = fpr.fingerprint(TEXT)
    assert a == fpr.fingerprint(TEXT)
    assert len(a.signature) == 4 * fpr.PERMUTATIONS
    assert a.shingles == len(TEXT.split()) - fpr.SHINGLE_WORDS + 1
    assert len(fpr.band_keys(a)) == fpr.BANDS
    assert len(set(fpr.band_keys(a))) == fpr.BANDS


def test_empty_and_tiny_texts_are_not_indexable() -> None:
    assert fpr.fingerprint("").shingles == 0
    assert not fpr.fingerprint("").indexable
    assert fpr.fingerprint("كلمتان فقط").shingles == 1
    assert not fpr.fingerprint("خمس كلمات لا تكفي هنا").indexable


def test_estimate_follows_exact_similarity() -> None:
    words = TEXT.split()
    for keep in (20, 35, 50, len(words)):
        part = " ".join(words[:keep])
        truth = fpr.exact(fpr.shingle_hashes(TEXT), fpr.shingle_hashes(part))
        guess = fpr.estimate(fpr.fingerprint(TEXT), fpr.fingerprint(part))
        assert truth.containment == 1.0
        assert abs(guess.jaccard - truth.jaccard) < 0.2


def test_hamza_seats_do_not_change_the_shingles() -> None:
    assert np.array_equal(
        fpr.shingle_hashes("قال مسؤول في الهيئة"), fpr.shingle_hashes("قال مسئول في الهيئة")
    )


def test_an_excerpt_shares_the_chunks_of_its_middle() -> None:
    words = (TEXT + " " + TEXT.replace("المدينة", "العاصمة")).split()
    whole = fpr.fingerprint(" ".join(words))
    excerpt = fpr.fingerprint(" ".join(words[17:70]))
    shared = set(whole.chunks) & set(excerpt.chunks)
    # Every chunk but those cut at the excerpt's two edges.
    assert len(shared) >= len(excerpt.chunks) - 2
    assert len(shared) >= 1


def test_keys_are_signed_64_bit() -> None:
    fp = fpr.fingerprint(TEXT)
    for key in [*fpr.band_keys(fp), *fp.chunks]:
        assert -(2**63) <= key < 2**63
