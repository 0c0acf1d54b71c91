"""Speed of the watch-rule matcher: 1,000 rules × 3 keywords over 10,000 news-length articles.

    python bench/bench_matching.py [--articles 10000] [--rules 1000] [--baseline 300] [--new-shapes]

Articles and rules are synthetic Arabic-like text made here from a fixed seed (no third-party
text): a Zipf-distributed vocabulary of made-up words, with inflected forms of the keywords
(clitics, suffixes, verb forms) sprinkled in; --new-shapes also draws keywords of the classes of
issue #13 (form II and فعول masdars, nouns with broken plurals, nisba names) and their
forms. Figures are printed against a naive baseline
measured in the same run: one compiled regular expression per rule (alternation of its keywords
with optional proclitics) searched over the normalised text, the way the peers match.
"""

from __future__ import annotations

import argparse
import os
import random
import re
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from marsad.alerts.matching import _CACHE_LIMIT, RuleIndex, compile_rules
from marsad.alerts.rules import Rule
from marsad.arabic import normalize

SEED = 20240601
LETTERS = "بتثجحخدذرزسشصضطظعغفقكلمنهوي"
# With ZIPF below, these make about one written word in eight new over 3,500 articles, as in real
# Arabic news (12.5% measured on a corpus of that size); the word cache depends on that share.
PROCLITICS = [""] * 9 + ["و", "ال", "ال", "وال", "بال", "لل", "ب", "ف"]
SUFFIXES = [""] * 12 + ["ها", "هم", "ات", "ين", "ون", "ة"]
ZIPF = 1.15


def _root(rng: random.Random) -> tuple[str, str, str]:
    return rng.choice(LETTERS), rng.choice(LETTERS), rng.choice(LETTERS)


def make_keyword(rng: random.Random, *, new_shapes: bool = False) -> tuple[str, list[str]]:
    """A keyword in dictionary form and some ways an article may write it."""
    c1, c2, c3 = _root(rng)
    shape = rng.randrange(11 if new_shapes else 6)
    if shape == 6:  # form II masdar
        return f"ت{c1}{c2}ي{c3}", [f"و{c1}{c2}{c3}ت", f"ي{c1}{c2}{c3}ون", f"الم{c1}{c2}{c3}ة"]
    if shape == 7:  # مفعل noun and its broken plural
        return f"م{c1}{c2}{c3}", [f"الم{c1}ا{c2}{c3}", f"وم{c1}{c2}{c3}ها"]
    if shape == 8:  # فاعل noun and its broken plural
        return f"{c1}ا{c2}{c3}", [f"ال{c1}وا{c2}{c3}", f"{c1}وا{c2}{c3}هم"]
    if shape == 9:  # nisba name
        return f"ال{c1}{c2}{c3}ي", [f"ال{c1}{c2}{c3}يين", f"{c1}{c2}{c3}ية"]
    if shape == 10:  # فعول masdar
        return f"{c1}{c2}و{c3}", [f"{c1}{c2}{c3}وا", f"ال{c1}ا{c2}{c3}ين"]
    if shape == 0:  # form VII masdar
        return f"ان{c1}{c2}ا{c3}", [
            f"ان{c1}{c2}ا{c3}",
            f"الان{c1}{c2}ا{c3}",
            f"وان{c1}{c2}{c3}ت",
            f"ين{c1}{c2}{c3}ون",
            f"المن{c1}{c2}{c3}ة",
        ]
    if shape == 1:  # form VIII masdar
        return f"ا{c1}ت{c2}ا{c3}", [f"الا{c1}ت{c2}ا{c3}", f"ا{c1}ت{c2}{c3}", f"ي{c1}ت{c2}{c3}"]
    if shape == 2:  # form X masdar
        return f"است{c1}{c2}ا{c3}", [f"است{c1}{c2}{c3}وا", f"يست{c1}{c2}{c3}", f"مست{c1}{c2}{c3}"]
    if shape == 3:  # ة-noun
        return f"{c1}{c2}ا{c3}ة", [f"ال{c1}{c2}ا{c3}ة", f"{c1}{c2}ا{c3}تها", f"{c1}{c2}ا{c3}ات"]
    if shape == 4:  # two-word name
        d1, d2, d3 = _root(rng)
        return f"{c1}{c2}{c3} ال{d1}{d2}{d3}", [f"و{c1}{c2}{c3} ال{d1}{d2}{d3}"]
    letter = rng.choice("KSFT")
    number = str(rng.randrange(1, 400))
    return f"{letter}{number}", [f"{letter}-{number}", f"{letter}{number}"]


def make_vocabulary(rng: random.Random, size: int) -> list[str]:
    words: set[str] = set()
    while len(words) < size:
        words.add("".join(rng.choice(LETTERS) for _ in range(rng.choice((3, 3, 4, 4, 5, 6)))))
    return sorted(words)


def make_articles(
    rng: random.Random, count: int, surfaces: list[str], vocabulary: list[str]
) -> list[tuple[str, str]]:
    weights = [1.0 / (rank + 1) ** ZIPF for rank in range(len(vocabulary))]
    cumulative = []
    total = 0.0
    for w in weights:
        total += w
        cumulative.append(total)
    articles = []
    for _ in range(count):
        length = rng.randint(300, 600)
        words = rng.choices(vocabulary, cum_weights=cumulative, k=length)
        words = [rng.choice(PROCLITICS) + w + rng.choice(SUFFIXES) for w in words]
        for _ in range(rng.randint(0, 4)):
            words.insert(rng.randrange(len(words)), rng.choice(surfaces))
        for i in range(12, len(words), rng.randint(9, 16)):
            words[i] += rng.choice((".", "،", ":"))
        articles.append((" ".join(words[:10]), " ".join(words[10:])))
    return articles


def make_rules(
    rng: random.Random, count: int, *, new_shapes: bool = False
) -> tuple[tuple[Rule, ...], list[str]]:
    rules = []
    surfaces: list[str] = []
    for n in range(count):
        keywords: list[str] = []
        while len(keywords) < 3:
            keyword, written = make_keyword(rng, new_shapes=new_shapes)
            if keyword not in keywords:
                keywords.append(keyword)
                surfaces.extend(written)
        rules.append(Rule(f"rule-{n}", tuple(keywords)))
    return tuple(rules), surfaces


def naive_patterns(rules: tuple[Rule, ...]) -> list[re.Pattern[str]]:
    """The baseline: per rule, one regex of its normalised keywords with optional clitics."""
    out = []
    for rule in rules:
        words = "|".join(re.escape(normalize(k.text)) for k in rule.any_of)
        out.append(re.compile(rf"(?<!\w)(?:[وف]?(?:[بكل]|ال|لل)?)?(?:{words})(?!\d)"))
    return out


# CPU time of this process: the figure for one core, whatever else the machine is running.
clock = time.process_time


def run_index(index: RuleIndex, articles: list[tuple[str, str]]) -> tuple[float, int]:
    fired = 0
    started = clock()
    for title, text in articles:
        if index.match(title, text):
            fired += 1
    return clock() - started, fired


def run_naive(patterns: list[re.Pattern[str]], articles: list[tuple[str, str]]) -> float:
    started = clock()
    for title, text in articles:
        norm = normalize(title) + "\n" + normalize(text)
        for pattern in patterns:
            pattern.search(norm)
    return clock() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--articles", type=int, default=10_000)
    parser.add_argument("--rules", type=int, default=1_000)
    parser.add_argument("--baseline", type=int, default=300, help="articles for the baseline")
    parser.add_argument(
        "--new-shapes",
        action="store_true",
        help="also keywords of the classes issue #13 derives (form II, broken plurals, nisbas)",
    )
    args = parser.parse_args()

    rng = random.Random(SEED)
    rules, surfaces = make_rules(rng, args.rules, new_shapes=args.new_shapes)
    vocabulary = make_vocabulary(rng, 40_000)
    articles = make_articles(rng, args.articles, surfaces, vocabulary)
    tokens = sum(len(t.split()) + len(b.split()) for t, b in articles)
    print(
        f"{len(rules)} rules × 3 keywords, {len(articles)} articles, "
        f"{tokens / len(articles):.0f} words each on average"
    )
    # CPU time does not count other processes, but they still share caches and memory
    # bandwidth: say how busy the machine was.
    print(f"load average at start: {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")

    started = clock()
    index = RuleIndex(rules)
    compile_s = clock() - started
    elapsed, fired = run_index(index, articles)
    rate = len(articles) / elapsed
    print(f"compile: {compile_s:.2f} s for {len(rules)} rules")
    print(
        f"indexed matcher (cold word cache): {rate:,.0f} articles/s, "
        f"{tokens / elapsed / 1e6:.2f} M words/s; {fired} articles fired a rule"
    )
    print(f"word cache after it: {index.cached_chunks:,} chunks (bound {_CACHE_LIMIT:,})")
    again = articles[: min(2000, len(articles))]
    elapsed_warm, _ = run_index(index, again)
    print(f"indexed matcher (second pass over {len(again)}): {len(again) / elapsed_warm:,.0f} a/s")

    # Compiled once and matched per article, as the daemon and `marsad import` do.
    sample = articles[: min(2000, len(articles))]
    started = clock()
    compiled = compile_rules(rules)
    for title, text in sample:
        compiled.match(title, text)
    via_api = len(sample) / (clock() - started)
    print(f"compile_rules + match (fresh compile, {len(sample)} articles): {via_api:,.0f} a/s")

    # Cost per article against the number of rules: 10 rules on the same articles.
    few = RuleIndex(rules[:10])
    elapsed_few, _ = run_index(few, sample)
    elapsed_many, _ = run_index(RuleIndex(rules), sample)
    print(
        f"scaling (fresh index, {len(sample)} articles): "
        f"10 rules {len(sample) / elapsed_few:,.0f} a/s, {len(rules)} rules "
        f"{len(sample) / elapsed_many:,.0f} a/s → ×{len(rules) / 10:.0f} rules costs "
        f"×{elapsed_many / elapsed_few:.2f} time, "
        f"+{(elapsed_many - elapsed_few) / len(sample) * 1e6:.0f} µs per article (more hits)"
    )

    patterns = naive_patterns(rules)
    base = articles[: args.baseline]
    base_rate = len(base) / run_naive(patterns, base)
    print(f"naive baseline (one regex per rule, {len(base)} articles): {base_rate:,.0f} articles/s")
    print(f"ratio: indexed matcher is ×{rate / base_rate:,.1f} the baseline (cold cache)")
    verdict = "meets" if rate >= 2000 else "MISSES"
    print(f"speed bar (≥2,000 articles/s on one core): {verdict}")


if __name__ == "__main__":
    main()
