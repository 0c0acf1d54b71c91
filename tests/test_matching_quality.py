"""The quality bar of issue #3 on the shared watch-rule cases (../shared/data/keywords-dev.tsv):
every `core` case matches, at least 90% of `extended` cases match, no `none` case matches."""

from __future__ import annotations

from marsad.alerts.matching import keyword_variants
from marsad.alerts.rules import Keyword, Rule
from marsad.arabic.morphology import Lexicon
from marsad.arabic.tokens import match_key, token_spans
from tests.conftest import match_rules, shared_path

EXTENDED_BAR = 0.90


def _cases() -> list[tuple[str, str, str]]:
    path = shared_path("data", "keywords-dev.tsv")
    cases = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        keyword, text, expect = line.split("\t")
        cases.append((keyword, text, expect))
    return cases


def test_shared_keyword_cases_meet_the_bar() -> None:
    cases = _cases()
    misses: dict[str, list[str]] = {"core": [], "extended": [], "none": []}
    totals = dict.fromkeys(misses, 0)
    for keyword, text, expect in cases:
        found = match_rules((Rule("r", (keyword,)),), "", text)
        totals[expect] += 1
        if bool(found) != (expect != "none"):
            misses[expect].append(f"{keyword} | {text} | {[m.surface for m in found]}")
    assert not misses["core"], misses["core"]
    assert not misses["none"], misses["none"]
    extended_rate = 1 - len(misses["extended"]) / max(totals["extended"], 1)
    assert extended_rate >= EXTENDED_BAR, misses["extended"]


def test_every_word_of_the_cases_is_analysed_by_the_definition() -> None:
    # The pre-filters must not cost a match: on the shared cases, a written word is a form of
    # a keyword exactly when it is prefix + core + suffix for a pair the core's kind accepts.
    for keyword, text, _ in _cases():
        lexicon: Lexicon[tuple[int, int]] = Lexicon()
        forms: dict[str, set[tuple[int, int]]] = {}
        for number, variant in enumerate(keyword_variants(Keyword(keyword))):
            for position, cores in enumerate(variant.words):
                for core in cores:
                    lexicon.add(core, (number, position))
                    for prefix, suffix in core.pairs:
                        forms.setdefault(prefix + core.text + suffix, set()).add((number, position))
        keys = [match_key(word) for word, _, _ in token_spans(text)]
        for key, kept in zip(keys, lexicon.possible(keys), strict=True):
            assert set(lexicon.analyse(key)) == forms.get(key, set()), (keyword, key)
            assert kept or key not in forms, (keyword, key)
