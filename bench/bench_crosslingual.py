"""Cross-lingual matching (#17): what one article costs the worker, and how well it links.

    .venv/bin/python bench/bench_crosslingual.py              # speed and memory
    .venv/bin/python bench/bench_crosslingual.py --quality    # AUC, precision, recall

Speed: Arabic articles (our labelled set and the seed, then the real articles of
``../shared/data/dedup-dev/stream.jsonl.gz`` when present) go through what the worker does for
each: ``profile_article``, ``screen_many`` against a window of stored profiles of the other
language (the labelled English originals and the English items of
``../shared/data/feeds/realworld/``, repeated up to ``--window`` rows), ``verify`` against every
candidate at ``SCREEN_MIN`` or above. The baseline is the same-language preparation of the same
articles (``marsad.ingest.prepare.prepare_article``: normalisation, credits, fingerprint). Each
side runs in a fresh subprocess, so the peak RSS (VmHWM) of each is its own; CPU is
``time.process_time`` in that process, with the model loaded (and its load reported) first.

Quality: every pair of an Arabic and a non-Arabic document of ``tests/data/crosslingual/
set-*.jsonl`` (positives: a translation and the document it translates; hard negatives: the
same event's other documents; the rest: other events, some on the same ongoing topic), plus the
seed and its English rendering, plus unrelated real text (the realworld English items against
our Arabic documents and against the stream's Arabic articles, the stream's Arabic articles
against our English originals; screened as the worker screens, so a pair under SCREEN_MIN is a
negative scored 0). Printed: AUC, precision and recall at the engine's threshold, the weakest
positive and the strongest negatives; then the threshold calibrated on one set and checked on
the other, both ways.
"""

from __future__ import annotations

import argparse
import glob
import gzip
import json
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from marsad.crosslingual.profile import Profile, profile_article  # noqa: E402
from marsad.crosslingual.verify import SCREEN_MIN, THRESHOLD, screen_many, verify  # noqa: E402

DATA = ROOT / "tests" / "data" / "crosslingual"
SHARED = ROOT.parent / "shared"
SEED_AR = SHARED / "seed" / "article-ar.txt"
SEED_EN = DATA / "seed-original-en.txt"
STREAM = SHARED / "data" / "dedup-dev" / "stream.jsonl.gz"
REALWORLD = SHARED / "data" / "feeds" / "realworld"


@dataclass(frozen=True)
class Doc:
    id: str
    set: str
    event: str
    lang: str  # "ar" or another language code
    role: str  # original | translation | report | unrelated
    of: str | None
    variant: str
    title: str
    text: str


def labelled_docs() -> list[Doc]:
    docs: list[Doc] = []
    for path in sorted(DATA.glob("set-*.jsonl")):
        name = path.stem.removeprefix("set-")
        for line in path.read_text(encoding="utf-8").splitlines():
            if not line.strip():
                continue
            r = json.loads(line)
            docs.append(
                Doc(
                    r["id"], name, r["event"], r["lang"], r["role"], r.get("of"),
                    r.get("variant", ""), r.get("title", ""), r["text"],
                )
            )  # fmt: skip
    if SEED_AR.exists():
        ar_title, ar_text = SEED_AR.read_text(encoding="utf-8").split("\n", 1)
        en_title, en_text = SEED_EN.read_text(encoding="utf-8").split("\n", 1)
        docs.append(Doc("seed-en", "seed", "seed", "en", "original", None, "", en_title, en_text))
        docs.append(
            Doc("seed-ar", "seed", "seed", "ar", "translation", "seed-en", "whole+credit",
                ar_title, ar_text)
        )  # fmt: skip
    return docs


def stream_docs(limit: int) -> list[Doc]:
    if not STREAM.exists() or limit <= 0:
        return []
    docs: list[Doc] = []
    with gzip.open(STREAM, "rt", encoding="utf-8") as handle:
        for number, line in enumerate(handle):
            if len(docs) >= limit:
                break
            r = json.loads(line)
            docs.append(
                Doc(f"stream{number}", "stream", f"stream{number}", "ar", "unrelated", None, "",
                    r["title"], r["text"])
            )  # fmt: skip
    return docs


def realworld_docs(limit: int) -> list[Doc]:
    if not REALWORLD.exists() or limit <= 0:
        return []
    from marsad.crawler.feeds import parse_feed
    from marsad.crosslingual.language import detect_language

    docs: list[Doc] = []
    for path in sorted(glob.glob(str(REALWORLD / "*"))):
        for number, entry in enumerate(parse_feed(Path(path).read_bytes(), "http://x/").entries):
            if len(docs) >= limit:
                return docs
            if detect_language(entry.text or "") == "other":
                key = f"rw-{Path(path).name}-{number}"
                docs.append(
                    Doc(key, "realworld", key, "en", "unrelated", None, "", entry.title or "",
                        entry.text)
                )  # fmt: skip
    return docs


# ---------------------------------------------------------------- quality


@dataclass(frozen=True)
class Pair:
    arabic: str
    other: str
    label: bool
    kind: str  # positive | same-event | other-event | unrelated
    score: float
    sets: str  # the labelled set both documents come from, or "mixed"


def score_pairs(docs: list[Doc], profiles: dict[str, Profile | None]) -> list[Pair]:
    arabic = [d for d in docs if d.lang == "ar" and profiles[d.id] is not None]
    other = [d for d in docs if d.lang != "ar" and profiles[d.id] is not None]
    matrix = np.stack([profiles[d.id].doc_array() for d in other])  # type: ignore[union-attr]
    pairs: list[Pair] = []
    for a in arabic:
        pa = profiles[a.id]
        assert pa is not None
        cosines = screen_many(pa, matrix)
        for o, cosine in zip(other, cosines, strict=True):
            if (
                (a.role == "unrelated" and o.role == "unrelated")
                or a.role == "unrelated"
                or o.role == "unrelated"
            ):
                kind = "unrelated"
            elif a.of == o.id:
                kind = "positive"
            elif a.event == o.event:
                kind = "same-event"
            else:
                kind = "other-event"
            po = profiles[o.id]
            assert po is not None
            score = verify(pa, po).evidence.score if cosine >= SCREEN_MIN else 0.0
            sets = a.set if a.set == o.set else "mixed"
            pairs.append(Pair(a.id, o.id, kind == "positive", kind, score, sets))
    return pairs


def auc(pairs: list[Pair]) -> float:
    """Probability that a positive outscores a negative (ties count half)."""
    pos = np.array([p.score for p in pairs if p.label])
    neg = np.array([p.score for p in pairs if not p.label])
    if not len(pos) or not len(neg):
        return float("nan")
    order = np.concatenate([pos, neg]).argsort(kind="mergesort")
    ranks = np.empty(len(order))
    values = np.concatenate([pos, neg])[order]
    ranks[order] = _tied_ranks(values)
    return float((ranks[: len(pos)].sum() - len(pos) * (len(pos) + 1) / 2) / (len(pos) * len(neg)))


def _tied_ranks(sorted_values: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    ranks = np.arange(1, len(sorted_values) + 1, dtype=float)
    start = 0
    for end in range(1, len(sorted_values) + 1):
        if end == len(sorted_values) or sorted_values[end] != sorted_values[start]:
            ranks[start:end] = ranks[start:end].mean()
            start = end
    return ranks


def precision_recall(pairs: list[Pair], threshold: float) -> tuple[float, float, int, int, int]:
    tp = sum(1 for p in pairs if p.label and p.score >= threshold)
    fp = sum(1 for p in pairs if not p.label and p.score >= threshold)
    fn = sum(1 for p in pairs if p.label and p.score < threshold)
    precision = tp / (tp + fp) if tp + fp else 1.0
    recall = tp / (tp + fn) if tp + fn else 1.0
    return precision, recall, tp, fp, fn


def calibrate(pairs: list[Pair]) -> float:
    """The midpoint between the weakest positive and the strongest negative above it."""
    weakest = min(p.score for p in pairs if p.label)
    strongest = max(p.score for p in pairs if not p.label)
    return (weakest + strongest) / 2


def report_quality(pairs: list[Pair], title: str, threshold: float) -> None:
    positives = [p for p in pairs if p.label]
    if not positives:
        print(f"{title}: no positive pairs")
        return
    precision, recall, tp, fp, fn = precision_recall(pairs, threshold)
    hard = [p for p in pairs if p.label or p.kind == "same-event"]
    weakest = min(positives, key=lambda p: p.score)
    negatives = sorted((p for p in pairs if not p.label), key=lambda p: -p.score)
    print(
        f"{title}: {len(positives)} positives, {len(pairs) - len(positives)} negatives "
        f"({sum(p.kind == 'same-event' for p in pairs)} same-event)"
    )
    print(
        f"  AUC {auc(pairs):.4f} (against same-event only {auc(hard):.4f}); at threshold "
        f"{threshold:.3f}: precision {precision:.3f} recall {recall:.3f} (tp {tp} fp {fp} fn {fn})"
    )
    print(f"  weakest positive {weakest.score:.3f} {weakest.arabic} -> {weakest.other}")
    for p in negatives[:3]:
        print(f"  strong negative  {p.score:.3f} {p.arabic} -> {p.other} ({p.kind})")


def quality(args: argparse.Namespace) -> None:
    docs = labelled_docs()
    unrelated = stream_docs(args.stream) + realworld_docs(args.realworld)
    started = time.process_time()
    profiles = {d.id: profile_article(d.title, d.text, d.lang) for d in docs + unrelated}
    print(
        f"profiled {len(profiles)} documents in {time.process_time() - started:.1f} s CPU "
        f"({sum(p is None for p in profiles.values())} too short); SCREEN_MIN {SCREEN_MIN}, "
        f"THRESHOLD {THRESHOLD}"
    )
    missing = [d.id for d in docs if profiles[d.id] is None]
    if missing:
        print(f"labelled documents with no profile: {missing}")
    labelled = score_pairs(docs, profiles)
    every = score_pairs(docs + unrelated, profiles)
    report_quality(labelled, "labelled pairs", THRESHOLD)
    report_quality(every, "labelled + unrelated real text", THRESHOLD)
    unrelated_pairs = [p for p in every if p.kind == "unrelated"]
    if unrelated_pairs:
        screened = sum(p.score > 0 for p in unrelated_pairs)
        top = max(unrelated_pairs, key=lambda p: p.score)
        print(
            f"unrelated: {len(unrelated_pairs)} pairs, {screened} screened in "
            f"(doc cosine >= {SCREEN_MIN}), highest score {top.score:.3f} "
            f"({top.arabic} -> {top.other})"
        )
    sets = sorted({d.set for d in docs} - {"seed"})
    for fit in sets:
        for check in sets:
            if fit == check:
                continue
            fitted = [p for p in labelled if p.sets == fit]
            checked = [p for p in labelled if p.sets == check]
            if not any(p.label for p in fitted) or not any(p.label for p in checked):
                continue
            threshold = calibrate(fitted)
            precision, recall, *_ = precision_recall(checked, threshold)
            print(
                f"calibrated on set {fit}: threshold {threshold:.3f}; on set {check}: "
                f"precision {precision:.3f} recall {recall:.3f}"
            )
    if args.cuts:
        cut_short(docs, profiles, [int(n) for n in args.cuts.split(",")])
    reshaped(docs, profiles)
    if args.dump:
        for p in sorted(labelled, key=lambda p: p.score):
            if p.label or p.score > 0:
                print(f"{p.score:.3f} {p.kind:12} {p.arabic:12} {p.other}")


def cut_short(docs: list[Doc], profiles: dict[str, Profile | None], cuts: list[int]) -> None:
    """Every translation (but those with an outlet's lead line) and every report cut to its
    first N paragraphs, against its original (a report: every original of its event): a
    translation cut short must still be linked, an outlet's brief that follows the wire's
    lead must not."""
    originals = {d.id: d for d in docs if d.lang != "ar"}
    for n in cuts:
        linked = {True: 0, False: 0}
        total = {True: 0, False: 0}
        strongest = {True: 0.0, False: 0.0}
        for d in docs:
            if d.lang != "ar" or d.role not in ("translation", "report") or "lead" in d.variant:
                continue
            cut = profile_article(d.title, "\n".join(d.text.splitlines()[:n]), d.lang)
            if cut is None:
                continue
            translation = d.role == "translation"
            targets = (
                [d.of] if translation else [o for o, e in originals.items() if e.event == d.event]
            )
            for target in targets:
                original = profiles.get(target or "")
                if original is None:
                    continue
                verdict = verify(cut, original)
                total[translation] += 1
                linked[translation] += verdict.is_translation
                strongest[translation] = max(strongest[translation], verdict.evidence.score)
        print(
            f"cut to {n} paragraphs: translations linked {linked[True]} of {total[True]}, "
            f"reports linked {linked[False]} of {total[False]} "
            f"(strongest report {strongest[False]:.3f})"
        )


def reshaped(docs: list[Doc], profiles: dict[str, Profile | None]) -> None:
    """The labelled pairs with one side's texts, the other's, then both reshaped as sites and
    extractors give them: run on (the paragraph breaks removed), and with the headline kept as
    the text's first line."""
    by_id = {d.id: d for d in docs}
    shapes = {
        "run on": lambda d: " ".join(d.text.splitlines()),
        "headline in the text": lambda d: f"{d.title}\n{d.text}",
    }
    for shape, reshape in shapes.items():
        changed = {d.id: profile_article(d.title, reshape(d), d.lang) for d in docs}
        for name, arabic_changed, other_changed in (
            ("the Arabic side", True, False),
            ("the other side", False, True),
            ("both sides", True, True),
        ):
            linked = {True: 0, False: 0}
            total = {True: 0, False: 0}
            strongest = 0.0
            for d in docs:
                if d.lang != "ar" or d.role not in ("translation", "report"):
                    continue
                mine = (changed if arabic_changed else profiles)[d.id]
                translation = d.role == "translation"
                targets = (
                    [d.of]
                    if translation
                    else [o.id for o in docs if o.lang != "ar" and o.event == d.event]
                )
                for target in targets:
                    theirs = (changed if other_changed else profiles).get(target or "")
                    if mine is None or theirs is None or target not in by_id:
                        continue
                    verdict = verify(mine, theirs)
                    total[translation] += 1
                    linked[translation] += verdict.is_translation
                    if not translation:
                        strongest = max(strongest, verdict.evidence.score)
            print(
                f"{shape} ({name}): translations linked {linked[True]} of {total[True]}, "
                f"reports linked {linked[False]} of {total[False]} "
                f"(strongest report {strongest:.3f})"
            )


# ---------------------------------------------------------------- speed


def vmhwm_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def speed_role(role: str, args: argparse.Namespace) -> dict[str, float]:
    arabic = [d for d in labelled_docs() if d.lang == "ar"] + stream_docs(args.articles)
    arabic = arabic[: args.articles]
    result: dict[str, float] = {"articles": len(arabic)}
    if role == "baseline":
        from marsad.ingest.prepare import prepare_article
        from marsad.storage.models import NewArticle

        items = [NewArticle(d.id, d.id, "bench", d.title, d.text) for d in arabic]
        started = time.process_time()
        for item in items:
            prepare_article(item)
        result["ms"] = 1000 * (time.process_time() - started) / len(items)
    else:
        from marsad.crosslingual.embed import encode

        started = time.process_time()
        encode(["load"])
        result["load_s"] = time.process_time() - started
        others = [d for d in labelled_docs() if d.lang != "ar"] + realworld_docs(args.realworld)
        stored = [p for d in others if (p := profile_article(d.title, d.text, d.lang)) is not None]
        window = np.stack([p.doc_array() for p in stored])
        window = np.resize(window, (max(args.window, len(stored)), window.shape[1]))
        rows = list(range(len(stored))) * (len(window) // len(stored) + 1)
        verified = profiled = 0
        started = time.process_time()
        for d in arabic:
            profile = profile_article(d.title, d.text, "ar")
            if profile is None:
                continue
            profiled += 1
            cosines = screen_many(profile, window)
            for index in np.flatnonzero(cosines >= SCREEN_MIN):
                verify(profile, stored[rows[index]])
                verified += 1
        elapsed = time.process_time() - started
        result["ms"] = 1000 * elapsed / len(arabic)
        result["profiled"] = profiled
        result["window"] = len(window)
        result["verified_per_article"] = verified / len(arabic)
        # The same articles again, profiled only: the rest of the worker's cost is the difference.
        started = time.process_time()
        for d in arabic:
            profile_article(d.title, d.text, "ar")
        result["profile_ms"] = 1000 * (time.process_time() - started) / len(arabic)
    result["rss_mb"] = vmhwm_mb()
    return result


def speed(args: argparse.Namespace) -> None:
    figures: dict[str, dict[str, float]] = {}
    for role in ("baseline", "engine"):
        command = [sys.executable, __file__, "--role", role, "--articles", str(args.articles)]
        command += ["--window", str(args.window), "--realworld", str(args.realworld)]
        out = subprocess.run(command, check=True, capture_output=True, text=True).stdout
        figures[role] = json.loads(out.strip().splitlines()[-1])
    base, engine = figures["baseline"], figures["engine"]
    print(
        f"{int(engine['articles'])} Arabic articles; window of {int(engine['window'])} stored "
        f"profiles; {engine['verified_per_article']:.1f} verified per article (cosine >= "
        f"{SCREEN_MIN}); model load {engine['load_s']:.2f} s CPU"
    )
    print(
        f"  baseline prepare_article: {base['ms']:.2f} ms CPU/article, "
        f"peak RSS {base['rss_mb']:.0f} MB"
    )
    print(
        f"  cross-lingual worker:     {engine['ms']:.2f} ms CPU/article (profile alone "
        f"{engine['profile_ms']:.2f}), peak RSS {engine['rss_mb']:.0f} MB"
    )
    print(
        f"  ratio: CPU x{engine['ms'] / base['ms']:.1f}, "
        f"RSS x{engine['rss_mb'] / base['rss_mb']:.2f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quality", action="store_true", help="AUC, precision, recall")
    parser.add_argument("--dump", action="store_true", help="with --quality: every scored pair")
    parser.add_argument(
        "--cuts",
        default="2,3,4",
        help="with --quality: translations and reports cut to these paragraph counts ('' none)",
    )
    parser.add_argument("--articles", type=int, default=300, help="Arabic articles timed")
    parser.add_argument("--window", type=int, default=5000, help="stored profiles screened")
    parser.add_argument("--stream", type=int, default=500, help="stream articles (quality)")
    parser.add_argument("--realworld", type=int, default=2000, help="realworld English items")
    parser.add_argument("--role", choices=("baseline", "engine"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.role:
        print(json.dumps(speed_role(args.role, args)))
    elif args.quality:
        quality(args)
    else:
        speed(args)


if __name__ == "__main__":
    main()
