"""Copy detection at scale: does dedup cost the same with 10k, 100k and 1M articles stored?

    python bench/bench_dedup.py                    # 10k, 100k, 1M (about 15 minutes)
    python bench/bench_dedup.py --sizes 10000,100000 --workdir /tmp/marsad-bench

One store grows through the sizes. Background articles are synthetic Arabic-like text (words of
Arabic letters drawn from a Zipf law, so common words and phrases exist as in news), written in
bulk with their fingerprints, shingle sets and index rows exactly as the ingest path would write
them. At each size a fresh batch (new articles, re-titled and credited copies, truncated copies
of stored articles) goes through

- ``marsad import`` in a subprocess: articles/s end to end, the peak RSS of the process and of
  its preparing worker, and the bytes it had written to disk per article;
- ``ingest_article`` in-process, one article at a time: time per article (mean, p95, and the
  slowest, which carries a fold of the index stage) and for the dedup decision alone.

The import batch is ``lsh.MIDDLE_LIMIT`` articles long, so it pays for one whole cycle of the
index's levels (ten folds of lsh_recent, one of lsh_middle into lsh_bands); the in-process
sample is ``lsh.RECENT_LIMIT`` long (one fold of lsh_recent). The figures are the amortised
cost, not the cheap part of the cycle. Each size is measured at the count the store holds when
it starts (the batches of a smaller size stay in the store). Before each size is measured the
bulk-written background is flushed to disk (sync), so the batch does not pay for the kernel
writing back the loader's gigabytes.

Every figure is also printed as a ratio to the first (smallest) size of the same run.
"""

from __future__ import annotations

import argparse
import gzip
import json
import multiprocessing
import os
import resource
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from marsad.alerts.matching import compile_rules
from marsad.arabic import normalize
from marsad.ingest import ingest_article
from marsad.storage import lsh
from marsad.storage.db import open_store
from marsad.storage.dedup import find_duplicate, prepare_body
from marsad.storage.models import NewArticle

LETTERS = "ابتثجحخدذرزسشصضطظعغفقكلمنهوي"
VOCABULARY = 30_000
OUTLETS = 40
BATCH = lsh.MIDDLE_LIMIT  # articles through `marsad import` per size
SAMPLE = lsh.RECENT_LIMIT  # articles timed one by one per size
ROOT = Path(__file__).resolve().parents[1]


def vocabulary(seed: int = 7) -> list[str]:
    rng = np.random.default_rng(seed)
    lengths = rng.integers(3, 8, size=VOCABULARY)
    letters = rng.integers(0, len(LETTERS), size=int(lengths.sum()))
    words, at = [], 0
    for n in lengths:
        words.append("".join(LETTERS[i] for i in letters[at : at + n]))
        at += n
    return words


def texts(rng: np.random.Generator, words: list[str], count: int) -> list[str]:
    """``count`` article bodies of 60–250 words, paragraphs of about 40 words."""
    out = []
    for n in rng.integers(60, 250, size=count):
        picks = np.minimum(rng.zipf(1.15, size=n), VOCABULARY) - 1
        tokens = [words[i] for i in picks]
        paragraphs = [" ".join(tokens[i : i + 40]) + "." for i in range(0, n, 40)]
        out.append("\n".join(paragraphs))
    return out


def _rows(task: tuple[int, int, int]) -> list[tuple[Any, ...]]:
    """Article rows with fingerprint and index keys, for ids start..start+count-1."""
    start, count, seed = task
    rng = np.random.default_rng(seed)
    words = vocabulary()
    rows = []
    for offset, text in enumerate(texts(rng, words, count)):
        article_id = start + offset
        title = " ".join(text.split()[:8])
        title_norm = normalize(title)
        body = prepare_body(text, title_norm)
        published = time_of(article_id)
        rows.append(
            (
                article_id,
                f"https://outlet{article_id % OUTLETS}.example/a/{article_id}",
                f"outlet{article_id % OUTLETS}",
                title,
                text,
                title_norm,
                normalize(text),
                published,
                body.body_hash,
                body.fingerprint.shingles,
                body.fingerprint.signature,
                lsh.index_keys(body.fingerprint),
                body.shingles.version,
                body.shingles.hashes,
            )
        )
    return rows


def time_of(article_id: int) -> str:
    # One article every three seconds, from 2020 on: a million span about a month.
    moment = 1_577_836_800 + 3 * article_id
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(moment))


def grow(db_path: Path, target: int) -> int:
    """Bulk-write background articles until the store holds ``target``; return how many it
    holds."""
    db = open_store(db_path)
    have = db.execute("SELECT coalesce(max(id), 0) FROM articles").fetchone()[0]
    conn = db.conn
    # A loader's cache (this connection only): the import being measured runs in its own
    # process with the store's ordinary settings.
    conn.execute("PRAGMA cache_size = -1000000")
    step = 5_000
    tasks = [(i, min(step, target - i + 1), i) for i in range(have + 1, target + 1, step)]
    started = time.perf_counter()
    with multiprocessing.Pool(os.cpu_count() or 1) as pool:
        for done, rows in enumerate(pool.imap(_rows, tasks), start=1):
            conn.execute("BEGIN")
            conn.executemany(
                "INSERT INTO stories (id, original_id, title, first_seen, last_seen, "
                "article_count, outlet_count, sources) VALUES (?, ?, ?, ?, ?, 1, 1, ?)",
                [(r[0], r[0], r[3], r[7], r[7], json.dumps([r[2]])) for r in rows],
            )
            conn.executemany(
                "INSERT INTO articles (id, canonical_url, url, source, title, text, title_norm,"
                " text_norm, published, extraction, body_hash, story_id, fetched_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'import', ?, ?, ?)",
                [
                    (r[0], r[1], r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8], r[0], r[7])
                    for r in rows
                ],
            )
            conn.executemany(
                "INSERT INTO fingerprints (article_id, shingles, signature) VALUES (?, ?, ?)",
                [(r[0], r[9], r[10]) for r in rows],
            )
            conn.executemany(
                "INSERT INTO article_shingles (article_id, version, hashes) VALUES (?, ?, ?)",
                [(r[0], r[12], r[13]) for r in rows],
            )
            conn.executemany(
                "INSERT OR IGNORE INTO lsh_bands (band_key, article_id) VALUES (?, ?)",
                sorted((key, r[0]) for r in rows for key in r[11]),
            )
            conn.execute("COMMIT")
            if done % 20 == 0:
                rate = done * step / (time.perf_counter() - started)
                print(f"  … {have + done * step:,} stored ({rate:,.0f}/s)", file=sys.stderr)
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()
    return max(have, target)


def batch(db_path: Path, size: int, count: int, seed: int) -> list[dict[str, Any]]:
    """Half new articles, a quarter re-titled credited copies, a quarter truncated copies."""
    rng = np.random.default_rng(seed)
    words = vocabulary()
    db = open_store(db_path)
    fresh = texts(rng, words, count)
    out: list[dict[str, Any]] = []
    for i, text in enumerate(fresh):
        kind = i % 4
        if kind >= 2:
            target = int(rng.integers(1, size + 1))
            row = db.execute("SELECT text FROM articles WHERE id = ?", [target]).fetchone()
            base = row[0]
            if kind == 2:
                text = base + "\n\nالمصدر : وكالات"
            else:
                tokens = base.split()
                text = " ".join(tokens[: max(30, len(tokens) * 2 // 5)])
        out.append(
            {
                "url": f"https://bench{seed}.example/{size}/{i}",
                "source": f"bench{i % 7}",
                "title": f"عنوان {i} " + " ".join(text.split()[:5]),
                "text": text,
                "published": "2021-01-01T00:00:00Z",
            }
        )
    db.close()
    return out


def run_import(db_path: Path, items: list[dict[str, Any]], work: Path) -> dict[str, float]:
    feed = work / "batch.jsonl.gz"
    with gzip.open(feed, "wt", encoding="utf-8") as handle:
        for item in items:
            handle.write(json.dumps(item, ensure_ascii=False) + "\n")
    # The child reports its own peak RSS from /proc: getrusage() would carry over the peak of
    # the process that forked it (this one, with the bulk loader's cache). Its preparing
    # worker is spawned (a fresh interpreter), so getrusage() of its children is the worker's.
    wrapper = (
        "import atexit, re, resource, sys\n"
        "atexit.register(lambda: print('MAXRSS', re.search(r'VmHWM:\\s+(\\d+)', "
        "open('/proc/self/status').read()).group(1), "
        "resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr))\n"
        "from marsad.cli import main\n"
        "sys.argv = ['marsad'] + sys.argv[1:]\n"
        "main()\n"
    )
    blocks_before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_oublock
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", wrapper, "import", str(feed), "--db", str(db_path), "--json"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=True,
    )
    elapsed = time.perf_counter() - started
    # 512-byte blocks the child sent towards the disk (Linux counts a page when it is dirtied).
    blocks = resource.getrusage(resource.RUSAGE_CHILDREN).ru_oublock - blocks_before
    counts = json.loads(done.stdout.strip().splitlines()[-1])
    rss, worker_rss = next(
        map(int, line.split()[1:3])
        for line in done.stderr.splitlines()
        if line.startswith("MAXRSS")
    )
    return {
        "import_per_s": len(items) / elapsed,
        "import_rss_mb": rss / 1024,
        "worker_rss_mb": worker_rss / 1024,
        "import_written_kb": blocks * 512 / 1024 / len(items),
        "copies": counts["copy"],
    }


def run_sample(db_path: Path, items: list[dict[str, Any]]) -> dict[str, float]:
    db = open_store(db_path)
    ingest_ms, dedup_ms = [], []
    for item in items:
        article = NewArticle(
            url=item["url"],
            canonical_url=item["url"],
            source=item["source"],
            title=item["title"],
            text=item["text"],
            published=item["published"],
            extraction="import",
        )
        started = time.perf_counter()
        body = prepare_body(article.text, normalize(article.title))
        find_duplicate(db, body)
        dedup_ms.append((time.perf_counter() - started) * 1e3)
        started = time.perf_counter()
        ingest_article(db, article, compile_rules(()))
        ingest_ms.append((time.perf_counter() - started) * 1e3)
    db.close()
    return {
        "ingest_ms": float(np.mean(ingest_ms)),
        "ingest_p95_ms": float(np.percentile(ingest_ms, 95)),
        "ingest_max_ms": float(np.max(ingest_ms)),
        "dedup_ms": float(np.mean(dedup_ms)),
        "dedup_p95_ms": float(np.percentile(dedup_ms, 95)),
    }


def store_size(db_path: Path) -> dict[str, float]:
    db = open_store(db_path)
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    articles = db.execute("SELECT count(*) FROM articles").fetchone()[0]
    index_rows = sum(
        db.execute(f"SELECT count(*) FROM {table}").fetchone()[0] for table in lsh.LEVELS
    )
    db.close()
    size = db_path.stat().st_size
    return {
        "articles": articles,
        "bytes_per_article": size / articles,
        "index_rows_per_article": index_rows / articles,
    }


def levels(sizes: list[int]) -> Iterator[int]:
    yield from sorted(sizes)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--workdir", default="/tmp/marsad-bench-dedup")
    parser.add_argument("--keep", action="store_true", help="reuse a store left by a former run")
    args = parser.parse_args()
    work = Path(args.workdir)
    work.mkdir(parents=True, exist_ok=True)
    db_path = work / "bench.db"
    if not args.keep:
        for stale in work.glob("bench.db*"):
            stale.unlink()
    results: list[dict[str, float]] = []
    for size in levels([int(s) for s in args.sizes.split(",")]):
        started = time.perf_counter()
        stored = grow(db_path, size)
        os.sync()
        print(f"stored {stored:,} in {time.perf_counter() - started:,.0f} s", file=sys.stderr)
        row: dict[str, float] = {"size": stored}
        row.update(run_import(db_path, batch(db_path, size, BATCH, seed=size), work))
        row.update(run_sample(db_path, batch(db_path, size, SAMPLE, seed=size + 1)))
        row.update(store_size(db_path))
        results.append(row)
        print(json.dumps(row), file=sys.stderr)
    report(results)


def report(results: list[dict[str, float]]) -> None:
    base = results[0]
    print(f"baseline: {int(base['size']):,} articles stored (ratios are against it)")
    header = (
        f"{'stored':>10} {'ingest ms':>10} {'×':>5} {'p95':>6} {'max':>7} {'dedup ms':>9} "
        f"{'×':>5} {'import/s':>9} {'×':>5} {'RSS MB':>7} {'×':>5} {'worker':>7} "
        f"{'KB written':>10} {'B/article':>10} {'keys/art':>8}"
    )
    print(header)
    for r in results:
        print(
            f"{int(r['size']):>10,} {r['ingest_ms']:>10.2f}"
            f" {r['ingest_ms'] / base['ingest_ms']:>5.2f}"
            f" {r['ingest_p95_ms']:>6.2f} {r['ingest_max_ms']:>7.0f} {r['dedup_ms']:>9.2f}"
            f" {r['dedup_ms'] / base['dedup_ms']:>5.2f} {r['import_per_s']:>9.0f}"
            f" {r['import_per_s'] / base['import_per_s']:>5.2f} {r['import_rss_mb']:>7.0f}"
            f" {r['import_rss_mb'] / base['import_rss_mb']:>5.2f} {r['worker_rss_mb']:>7.0f}"
            f" {r['import_written_kb']:>10.0f}"
            f" {r['bytes_per_article']:>10,.0f} {r['index_rows_per_article']:>8.1f}"
        )


if __name__ == "__main__":
    main()
