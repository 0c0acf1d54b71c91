"""Cross-lingual linking end to end (#17): articles/s linked through the daemon's pass on N stored.

    python bench/bench_crosslingual_link.py                 # the labelled set + 1,000 background
    python bench/bench_crosslingual_link.py --background 3000

A fresh store receives the committed labelled set (tests/data/crosslingual: English originals,
Arabic translations and reports, written for the project) and, as background, Arabic articles of
the dev stream (../shared/data/dedup-dev/stream.jsonl.gz, read at run time, evaluation only; left
out with a note when absent), all through the ingest path (not timed). Then the linking pass runs
as the daemon runs it (:class:`marsad.scheduler.crosslingual.Linker` on an event loop, its
worker process spawned, batches awaited) until every article is checked. Printed:

- articles/s checked end to end (wall, worker start and model load included, and without them);
- the worker's CPU per article (profile + screen + verify, time.process_time in the worker) and
  its resident memory (VmRSS) after the pass;
- the event loop's own time per article (reading the texts, writing profiles, links and merges:
  what the daemon's writer spends), against the baseline measured in the same run: the same
  articles' ingest (normalise, dedup, store) in this process, per article;
- links made, and the precision/recall of those links against the set's labels.
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

DATA = ROOT / "tests" / "data" / "crosslingual"
STREAM = ROOT.parent / "shared" / "data" / "dedup-dev" / "stream.jsonl.gz"


def labelled() -> list[dict[str, Any]]:
    found = []
    for name in ("set-a.jsonl", "set-b.jsonl"):
        for line in (DATA / name).read_text(encoding="utf-8").splitlines():
            record = json.loads(line)
            url = f"https://{record['lang']}.example/{record['id']}"
            found.append(
                {
                    "url": url,
                    "source": record["outlet"],
                    "title": record["title"],
                    "text": record["text"],
                    "published": record["published"],
                    "label": record,
                }
            )
    return found


def background(count: int) -> list[dict[str, Any]]:
    if count <= 0:
        return []
    if not STREAM.exists():
        print(f"note: {STREAM} not found: no background articles")
        return []
    found = []
    with gzip.open(STREAM, "rt", encoding="utf-8") as lines:
        for line in lines:
            found.append(json.loads(line))
            if len(found) == count:
                break
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--background", type=int, default=1000)
    args = parser.parse_args()

    from marsad.alerts.matching import compile_rules
    from marsad.ingest import ingest_article
    from marsad.storage.db import open_store
    from marsad.storage.models import NewArticle

    print(f"load average at start: {os.getloadavg()[0]:.2f}")
    items = (
        background(args.background // 2)
        + labelled()
        + background(args.background)[args.background // 2 :]
    )
    workdir = Path(tempfile.mkdtemp(prefix="bench-xl-"))
    store = workdir / "store.db"
    db = open_store(store)
    rules = compile_rules([])
    ids: dict[str, int] = {}
    started = time.process_time()
    for item in items:
        article = NewArticle(
            url=item["url"],
            canonical_url=item["url"],
            source=item["source"],
            title=item["title"] or "",
            text=item["text"] or "",
            published=item.get("published"),
        )
        ids[item["url"]] = ingest_article(db, article, rules).article_id
    ingest_ms = (time.process_time() - started) / len(items) * 1000
    stored = int(db.execute("SELECT count(*) FROM articles").fetchone()[0])
    print(f"stored: {stored:,} articles ({len(labelled())} of the labelled set)")

    report, loop_ms, wall, first_batch, rss = asyncio.run(_link(db, str(store)))
    per_cpu = report.worker_cpu_seconds / max(report.checked, 1) * 1000
    rate = report.checked / wall
    steady = (report.checked - first_batch[0]) / max(wall - first_batch[1], 1e-9)
    print(
        f"linked through the pass: {report.checked:,} articles checked in {wall:.1f}s: "
        f"{rate:,.1f} articles/s end to end, {steady:,.1f}/s after the worker's start and the "
        f"first batch ({first_batch[1]:.1f}s)"
    )
    print(
        f"worker: {per_cpu:.1f} ms CPU per article (profile + screen + verify); "
        f"RSS {rss / 1024:.0f} MB after the pass"
    )
    print(
        f"event loop (the daemon's writer): {loop_ms:.2f} ms per article against "
        f"{ingest_ms:.2f} ms to ingest it (x{loop_ms / ingest_ms:.2f})"
    )
    _quality(db, ids, report.linked)
    db.close()


async def _link(db: Any, store: str) -> tuple[Any, float, float, tuple[int, float], int]:
    from marsad.config import CrossLingualConfig
    from marsad.crosslingual.worker import LinkWorker
    from marsad.scheduler.crosslingual import Linker

    worker = LinkWorker()
    linker = Linker(db, store, worker)
    config = CrossLingualConfig(enabled=True)
    # The event loop's own CPU: the process's CPU while the pass runs (the worker's is its own
    # process's); the process is otherwise idle.
    cpu0, wall0 = time.process_time(), time.monotonic()
    first = await linker.run(config, limit=16)
    first_batch = (first.checked, time.monotonic() - wall0)
    rest = await linker.run(config)
    wall = time.monotonic() - wall0
    cpu = time.process_time() - cpu0
    rss = await worker.rss_kb() or 0
    worker.close()
    checked = first.checked + rest.checked
    rest.checked = checked
    rest.linked += first.linked
    rest.worker_cpu_seconds += first.worker_cpu_seconds
    return rest, cpu / max(checked, 1) * 1000, wall, first_batch, rss


def _quality(db: Any, ids: dict[str, int], linked: int) -> None:
    """The links against the set's labels, and what the stories say: a translation in its
    original's story (by its own link, or as a same-language copy of a linked translation),
    a report in a story of its own."""
    by_id = {v: k for k, v in ids.items()}
    story = dict(db.execute("SELECT id, story_id FROM articles").fetchall())
    records = [item["label"] for item in labelled()]
    url = {r["id"]: f"https://{r['lang']}.example/{r['id']}" for r in records}
    truth = {(url[r["id"]], url[r["of"]]) for r in records if r["role"] == "translation"}
    made = {
        (by_id[t], by_id[o])
        for t, o in db.execute(
            "SELECT translation_id, original_id FROM crosslingual_links"
        ).fetchall()
    }
    right = len(made & truth)
    precision = right / len(made) if made else 1.0

    def together(a: str, b: str) -> bool:
        return bool(story[ids[a]] == story[ids[b]])

    joined = sum(together(t, o) for t, o in truth)
    reports = [
        (url[r["id"]], url[f"{r['event']}-en"])
        for r in records
        if r["role"] == "report" and f"{r['event']}-en" in url
    ]
    apart = sum(not together(rep, original) for rep, original in reports)
    print(
        f"links: {linked} made, precision {precision:.3f} ({right} labelled pairs); "
        f"translations in their original's story: {joined} of {len(truth)} "
        f"(recall {joined / len(truth):.3f}); reports kept apart: {apart} of {len(reports)}"
    )


if __name__ == "__main__":
    main()
