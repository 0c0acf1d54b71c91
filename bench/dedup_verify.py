"""CPU of the copy-detection decision per article, and a digest of every verdict it gave.

    python bench/dedup_verify.py                      # the synthetic streams, about a minute
    python bench/dedup_verify.py --devset             # and the dev stream from ../shared
    python bench/dedup_verify.py --articles 1000 --repeat 3

Each stream goes one article at a time through ``prepare_body`` and ``find_duplicate`` (both
timed, CPU time of this process) and is then stored by ``ingest_article`` (timed apart: what
storing costs, which includes a second, untimed-apart copy decision), into a fresh store file:

- ``mixed``: synthetic Arabic-like text (bench_dedup's Zipf vocabulary): half new articles, a
  quarter re-titled credited copies, a quarter truncated copies of earlier ones;
- ``shared``: many articles share text: each holds one of a few common passages (a template
  every outlet prints) and a text of its own, so each new article has a full list of LSH
  candidates that pass the screen and are different stories, all verified, none accepted;
- ``devset`` (with ``--devset``): the 3,474 real articles of ``../shared/data/dedup-dev``,
  read at run time.

Printed per stream: ms of CPU per article for each phase, LSH candidates per article, how many
articles became copies, and a digest of every verdict (story, original, similarity, evidence,
the stories it also is a copy of): two versions of the code that decide alike print the same
digest. With ``--repeat`` the median of the runs.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from bench_dedup import texts, vocabulary

from marsad.alerts.matching import compile_rules
from marsad.arabic import normalize
from marsad.ingest import ingest_article
from marsad.storage import lsh
from marsad.storage.db import open_store
from marsad.storage.dedup import CANDIDATE_LIMIT, find_duplicate, prepare_body
from marsad.storage.models import DuplicateVerdict, NewArticle

DEVSET = Path(__file__).resolve().parents[2] / "shared" / "data" / "dedup-dev" / "stream.jsonl.gz"
PASSAGES = 4  # common passages of the "shared" stream
PASSAGE_WORDS = 90


@dataclass(frozen=True)
class Run:
    prepare_ms: float
    find_ms: float
    ingest_ms: float
    candidates: float
    copies: int
    digest: str


def mixed(count: int, seed: int) -> Iterator[NewArticle]:
    rng = np.random.default_rng(seed)
    words = vocabulary()
    fresh = texts(rng, words, count)
    kept: list[str] = []
    for i, text in enumerate(fresh):
        kind = i % 4
        if kind >= 2 and kept:
            base = kept[int(rng.integers(0, len(kept)))]
            if kind == 2:
                text = base + "\n\nالمصدر : وكالات"
            else:
                tokens = base.split()
                text = " ".join(tokens[: max(30, len(tokens) * 2 // 5)])
        else:
            kept.append(text)
        yield _article(f"mixed/{i}", i, text)


def shared(count: int, seed: int) -> Iterator[NewArticle]:
    rng = np.random.default_rng(seed)
    words = vocabulary()
    passages = [" ".join(t.split()[:PASSAGE_WORDS]) for t in texts(rng, words, PASSAGES * 4)]
    passages = [p for p in passages if len(p.split()) >= PASSAGE_WORDS][:PASSAGES]
    for i, own in enumerate(texts(rng, words, count)):
        # The article's own text around the common passage: too little in common with any
        # other article to be a copy of it (containment about 0.4), enough to be verified.
        tokens = own.split()
        half = len(tokens) // 2
        text = " ".join([*tokens[:half], passages[i % len(passages)], *tokens[half:]])
        yield _article(f"shared/{i}", i, text)


def devset(count: int) -> Iterator[NewArticle]:
    with gzip.open(DEVSET, "rt", encoding="utf-8") as handle:
        for i, line in enumerate(handle):
            if i >= count:
                return
            item = json.loads(line)
            yield NewArticle(
                url=item["url"],
                canonical_url=item["url"],
                source=item["source"],
                title=item["title"],
                text=item["text"],
                published=item["published"],
                extraction="import",
            )


def _article(key: str, i: int, text: str) -> NewArticle:
    url = f"https://outlet{i % 9}.example/{key}"
    return NewArticle(
        url=url,
        canonical_url=url,
        source=f"outlet{i % 9}",
        title=f"عنوان {i} " + " ".join(text.split()[:6]),
        text=text,
        # One article a minute, in stream order.
        published=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(1_600_000_000 + 60 * i)),
        extraction="import",
    )


def run(articles: list[NewArticle]) -> Run:
    rules = compile_rules(())
    prepare = find = ingest = 0.0
    candidates = copies = 0
    digest = hashlib.sha256()
    with tempfile.TemporaryDirectory() as work:
        db = open_store(Path(work) / "verify.db")
        for article in articles:
            title_norm = normalize(article.title)
            started = time.process_time()
            body = prepare_body(article.text, title_norm)
            prepared = time.process_time()
            verdict = find_duplicate(db, body)
            found = time.process_time()
            ingest_article(db, article, rules)
            stored = time.process_time()
            prepare += prepared - started
            find += found - prepared
            ingest += stored - found
            candidates += len(lsh.candidates(db, body.fingerprint, CANDIDATE_LIMIT))
            copies += verdict is not None
            digest.update(_verdict_key(verdict).encode())
        db.close()
    n = len(articles)
    return Run(
        prepare * 1e3 / n,
        find * 1e3 / n,
        ingest * 1e3 / n,
        candidates / n,
        copies,
        digest.hexdigest()[:16],
    )


def _verdict_key(verdict: DuplicateVerdict | None) -> str:
    if verdict is None:
        return "new\n"
    also = [(v.story_id, v.original_id, v.similarity, v.evidence, v.missed) for v in verdict.also]
    fields = [verdict.story_id, verdict.original_id, verdict.similarity, verdict.evidence]
    return json.dumps([*fields, verdict.covers, also], sort_keys=True) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--articles", type=int, default=1000, help="per synthetic stream")
    parser.add_argument("--devset", action="store_true", help=f"also the stream at {DEVSET}")
    parser.add_argument("--repeat", type=int, default=1, help="runs per stream; medians shown")
    args = parser.parse_args()
    streams = {
        "mixed": list(mixed(args.articles, seed=11)),
        "shared": list(shared(args.articles, seed=12)),
    }
    if args.devset:
        if not DEVSET.exists():
            sys.exit(f"{DEVSET} not found: ../shared is not beside this checkout")
        streams["devset"] = list(devset(10**9))
    print(
        f"{'stream':<8} {'articles':>8} {'prepare ms':>10} {'find ms':>8} {'ingest ms':>9} "
        f"{'cands':>6} {'copies':>6}  digest"
    )
    for name, articles in streams.items():
        runs = [run(articles) for _ in range(args.repeat)]
        digests = {r.digest for r in runs}
        assert len(digests) == 1, f"{name}: runs disagree: {digests}"
        print(
            f"{name:<8} {len(articles):>8} "
            f"{statistics.median(r.prepare_ms for r in runs):>10.3f} "
            f"{statistics.median(r.find_ms for r in runs):>8.3f} "
            f"{statistics.median(r.ingest_ms for r in runs):>9.3f} "
            f"{runs[0].candidates:>6.1f} {runs[0].copies:>6}  {runs[0].digest}"
        )
        if args.repeat > 1:
            print("         find ms of each run: " + " ".join(f"{r.find_ms:.3f}" for r in runs))


if __name__ == "__main__":
    main()
