"""The bar of issue #13 on real news text: sentences of ../shared/data/dedup-dev/stream.jsonl.gz
labelled for keywords of every class (tests/fixtures/forms/*.tsv hold the labels and where each
sentence is; the text is licensed for evaluation only and is read here at run time).

Three sets, each of keywords the others do not use; on each, every `core` sentence matches, at
least 90% of `extended` ones do, and at most 1% of `none` (look-alike) sentences raise a false
alarm (FALSE_ALARM_BARS):

- real-text.tsv is the set the derivation was tuned on.
- held-out.tsv was labelled afterwards and scored once; what it found was then fixed (countries
  spelt like a nisba + ا, a preposition before a nominative ending, a madda where the keyword
  writes a hamza: مآربهم "their aims" for the town مأرب), so it has been tuned on too. What is
  left there are words spelt like the keyword itself (المصنعين "manufacturers" for مصنع, مأرباً
  "an aim"), which an analyst vetoes with the keyword's `none`.
- fresh.tsv was labelled, from other articles, before the matcher was run on it and scored once
  (core 0.99, extended 0.88, false alarms 1.1%). Then fixed, as general causes: a person prefix
  takes only its person's endings (ليفتشين is no verb), the future س makes a form V noun a verb
  (ستقبل), a participle's plural in construct takes a pronoun (مشغليها), a weak participle -ا
  (مكتفيا). Left: the feminine of a noun (شريكة: for nouns of that shape the ة makes another
  word as often, طريقة، عقيدة، قبيلة), forms not derived by design (a form I singular active
  participle الهارب, a passive one المقبولون, a jussive يختف), and form I / form II homographs
  (يشغلون "they occupy" for تشغيل).

Per class:

    .venv/bin/python tests/test_forms_realtext.py [-v]
"""

from __future__ import annotations

import gzip
import hashlib
import json
import sys
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import pytest

if __name__ == "__main__":  # run as a script: the project's root on the path, like pytest
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from marsad.alerts.matching import compile_rules
from marsad.alerts.rules import Keyword, Rule
from tests.conftest import SHARED, shared_path

FIXTURES = Path(__file__).parent / "fixtures" / "forms"
STREAM = ("data", "dedup-dev", "stream.jsonl.gz")
CORE_BAR, EXTENDED_BAR = 1.0, 0.90
FALSE_ALARM_BARS = {"real-text.tsv": 0.01, "held-out.tsv": 0.01, "fresh.tsv": 0.01}


@dataclass(frozen=True)
class Case:
    keyword: str
    options: frozenset[str]
    cls: str
    expect: str
    form: str
    sentence: str
    word: str

    def rule(self) -> Rule:
        kw = Keyword(
            self.keyword,
            verbs=True if "verbs" in self.options else None,
            plurals=True if "plurals" in self.options else None,
        )
        return Rule("r", any_of=(kw,))


def load_articles(stream: Path) -> dict[str, dict[str, str]]:
    with gzip.open(stream, "rt", encoding="utf-8") as f:
        return {record["url"]: record for record in map(json.loads, f)}


def load_cases(articles: dict[str, dict[str, str]], fixture: str) -> list[Case]:
    cases = []
    lines = (FIXTURES / fixture).read_text(encoding="utf-8").splitlines()
    rows = [line.split("\t") for line in lines if line and not line.startswith("#")]
    header, rows = rows[0], rows[1:]
    for values in rows:
        row = dict(zip(header, values, strict=True))
        text = articles[row["url"]][row["field"]]
        sentence = text[int(row["start"]) : int(row["end"])]
        digest = hashlib.sha1(sentence.encode()).hexdigest()[:10]
        assert digest == row["sha1"], f"{row['url']}: the data set changed under the labels"
        cases.append(
            Case(
                keyword=row["keyword"],
                options=frozenset(row["options"].split()),
                cls=row["class"],
                expect=row["expect"],
                form=row["form"],
                sentence=sentence,
                word=text[int(row["word_start"]) : int(row["word_end"])],
            )
        )
    return cases


@dataclass
class Tally:
    total: int = 0
    matched: int = 0

    @property
    def rate(self) -> float:
        return self.matched / self.total if self.total else 1.0


def score(cases: list[Case]) -> tuple[dict[tuple[str, str], Tally], list[str]]:
    """Per (class, expect): how many sentences matched; and what went wrong, for messages."""
    tallies: dict[tuple[str, str], Tally] = defaultdict(Tally)
    wrong = []
    indexes = {}
    for case in cases:
        key = (case.keyword, case.options)
        if key not in indexes:
            indexes[key] = compile_rules((case.rule(),))
        found = indexes[key].match("", case.sentence)
        for cls in (case.cls, "all"):
            tally = tallies[(cls, case.expect)]
            tally.total += 1
            tally.matched += bool(found)
        if bool(found) != (case.expect != "none"):
            surfaces = [f"{m.surface} ({m.form})" for m in found]
            wrong.append(f"{case.expect} {case.keyword} [{case.word}] {surfaces or ''}")
    return tallies, wrong


def report(tallies: dict[tuple[str, str], Tally]) -> str:
    classes = [*sorted({cls for cls, _ in tallies} - {"all"}), "all"]
    lines = [f"{'class':17} {'core':>12} {'extended':>12} {'false alarms':>14}"]
    for cls in classes:
        core, ext, none = (tallies.get((cls, e), Tally()) for e in ("core", "extended", "none"))
        lines.append(
            f"{cls:17} {core.rate:6.2f} ({core.total:3}) {ext.rate:6.2f} ({ext.total:3})"
            f" {none.rate:7.1%} ({none.matched}/{none.total})"
        )
    return "\n".join(lines)


@pytest.fixture(scope="module")
def articles() -> dict[str, dict[str, str]]:
    return load_articles(shared_path(*STREAM))


@pytest.mark.parametrize("fixture", sorted(FALSE_ALARM_BARS))
def test_real_text_meets_the_bar(articles: dict[str, dict[str, str]], fixture: str) -> None:
    cases = load_cases(articles, fixture)
    for case in cases:
        assert case.word and case.word in case.sentence, case
    tallies, wrong = score(cases)
    print("\n" + report(tallies))
    core, ext, none = (tallies[("all", e)] for e in ("core", "extended", "none"))
    misses = [w for w in wrong if w.startswith("core")]
    assert core.rate >= CORE_BAR, misses
    assert ext.rate >= EXTENDED_BAR, [w for w in wrong if w.startswith("extended")]
    assert none.rate <= FALSE_ALARM_BARS[fixture], [w for w in wrong if w.startswith("none")]


if __name__ == "__main__":
    path = SHARED.joinpath(*STREAM)
    if not path.exists():
        sys.exit(f"{path} not found: ../shared/ (project data) is not beside this checkout")
    stream = load_articles(path)
    for name in sorted(FALSE_ALARM_BARS, reverse=True):
        tallies, wrong = score(load_cases(stream, name))
        print(f"{name}\n{report(tallies)}\n")
        if "-v" in sys.argv:
            print("\n".join(wrong) + "\n")
