"""Adaptive against fixed polling at the same request budget, on a loopback farm of feeds that
publish at different rates on a virtual clock.

    .venv/bin/python bench/bench_adaptive.py                 # 12 feeds, 3 virtual days
    .venv/bin/python bench/bench_adaptive.py --feeds 24 --days 7 --json figures.json

The farm is a real HTTP server on 127.0.0.1: ``/feed/N.xml?at=T`` is feed N's RSS as it stood at
virtual time T (its latest :data:`WINDOW` entries; a few feeds give a ``<ttl>``). Feeds publish
as Poisson processes whose rate follows the day (a night lull), from hundreds of entries a day to
one a week. Each poll is what the daemon's poll does, minus the crawler (whose clock is the wall
clock; a week of polls would take a week): fetch over HTTP, parse the feed with marsad's reader
(``parse_feed``, its hints with it), the entries the store does not hold stored by
``ingest_article`` at the poll's virtual time, the fetch recorded, then the next interval from
marsad's own code (``marsad.scheduler.intervals.adapt``: the store's arrivals, the stretch, the
hints, ``[polling]`` bounds) — or a fixed interval. The adaptive run goes first; the fixed run
polls every feed at the one interval that spends the same number of requests.

Printed: requests, articles stored, entries missed (they left the feed's window between two
polls), requests per new article, and the time from publication to store (mean, median, p90),
for both runs, with the ratios adaptive / fixed.
"""

from __future__ import annotations

import argparse
import heapq
import json
import math
import random
import statistics
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from marsad.alerts.matching import compile_rules  # noqa: E402
from marsad.config import Config  # noqa: E402
from marsad.crawler.config import FeedConfig, PollingConfig  # noqa: E402
from marsad.crawler.feeds import parse_feed  # noqa: E402
from marsad.crawler.fetch_policy import body_hash  # noqa: E402
from marsad.crawler.polling import HINT_HEADERS, ReadingNote, header_hint  # noqa: E402
from marsad.ingest import ingest_article  # noqa: E402
from marsad.scheduler.intervals import adapt  # noqa: E402
from marsad.storage.articles import known_guids  # noqa: E402
from marsad.storage.db import open_store  # noqa: E402
from marsad.storage.feeds import record_feed_fetched, upsert_feed  # noqa: E402
from marsad.storage.models import NewArticle  # noqa: E402
from marsad.storage.transactions import write_transaction  # noqa: E402
from marsad.times import to_iso  # noqa: E402

START = datetime(2026, 1, 5, tzinfo=UTC)  # a Monday, 00:00 UTC
WINDOW = 20  # entries a feed lists
EVERY = 15 * 60.0  # every feed's configured starting point
WORDS = [
    "المدينة",
    "البلدية",
    "الميناء",
    "السوق",
    "الطريق",
    "المدرسة",
    "المستشفى",
    "الحديقة",
    "المكتبة",
    "الجسر",
    "النهر",
    "الجبل",
    "الساحل",
    "القرية",
    "المجلس",
    "الوزارة",
    "المزارعون",
    "الصيادون",
    "التجار",
    "الطلاب",
    "افتتحت",
    "أعلنت",
    "قررت",
    "ناقشت",
    "الجديد",
    "القديم",
    "الكبير",
    "الصغير",
    "الشمالي",
    "الجنوبي",
    "الشرقي",
    "الغربي",
    "اليوم",
    "أمس",
    "غدا",
    "الأسبوع",
]


@dataclass(frozen=True)
class Entry:
    feed: int
    number: int
    published: float  # virtual epoch seconds
    title: str
    text: str


@dataclass
class Farm:
    """Every feed's entries, published before the run (their backlog) and during it."""

    entries: list[list[Entry]]
    ttl: dict[int, int]  # feed -> <ttl> minutes
    rates: list[float]  # mean entries a day

    def listing(self, feed: int, at: float) -> list[Entry]:
        published = self.entries[feed]
        # Entries are in time order: the last WINDOW published by `at`.
        low, high = 0, len(published)
        while low < high:
            middle = (low + high) // 2
            if published[middle].published <= at:
                low = middle + 1
            else:
                high = middle
        return published[max(0, low - WINDOW) : low]


def make_farm(feeds: int, days: float, seed: int) -> Farm:
    """Rates spread evenly on a log scale from 300 a day to one a week; a night lull (a quarter
    of the day's rate from 22:00 to 06:00 UTC)."""
    rng = random.Random(seed)
    high, low = math.log(300.0), math.log(1 / 7)
    rates = [math.exp(high - (high - low) * i / max(1, feeds - 1)) for i in range(feeds)]
    start = START.timestamp()
    entries: list[list[Entry]] = []
    for feed, rate in enumerate(rates):
        mean_gap = 86400.0 / rate
        moment = start - WINDOW * mean_gap  # a backlog: the first reading finds a full feed
        listed: list[Entry] = []
        while moment < start + days * 86400.0:
            hour = (moment % 86400.0) / 3600.0
            night = hour >= 22 or hour < 6
            # Thinning: the day rate is 1.5 x the mean, the night's a quarter of that.
            moment += rng.expovariate(1.0 / mean_gap) / 1.5
            if night and rng.random() > 0.25:
                continue
            words = " ".join(rng.choice(WORDS) for _ in range(24))
            title = " ".join(rng.choice(WORDS) for _ in range(6))
            listed.append(Entry(feed, len(listed), moment, f"{title} {feed}-{len(listed)}", words))
        entries.append(listed)
    # A few of the slower half ask for an hour (<ttl>60</ttl>), as a feed publishing a few
    # entries a day may: honoured by the adaptive run, unknown to the fixed one.
    ttl = {feed: 60 for feed in range(feeds // 2, feeds, 3)}
    return Farm(entries, ttl, rates)


def render(farm: Farm, feed: int, at: float) -> bytes:
    items = "".join(
        f'<item><title>{e.title}</title><guid isPermaLink="false">f{feed}-{e.number}</guid>'
        f"<pubDate>{datetime.fromtimestamp(e.published, UTC):%a, %d %b %Y %H:%M:%S +0000}"
        f"</pubDate><description>{e.text}</description></item>"
        for e in reversed(farm.listing(feed, at))
    )
    ttl = f"<ttl>{farm.ttl[feed]}</ttl>" if feed in farm.ttl else ""
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
        f"<title>feed {feed}</title><link>http://farm.invalid/</link>{ttl}{items}"
        "</channel></rss>"
    ).encode()


def serve(farm: Farm) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            feed = int(parts.path.removeprefix("/feed/").removesuffix(".xml"))
            at = float(parse_qs(parts.query)["at"][0])
            body = render(farm, feed, at)
            self.send_response(200)
            self.send_header("Content-Type", "application/rss+xml; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@dataclass
class Run:
    name: str
    requests: int = 0
    stored: int = 0
    missed: int = 0
    latencies: list[float] = field(default_factory=list)
    intervals: dict[int, float] = field(default_factory=dict)  # feed -> last interval
    seconds: float = 0.0

    def figures(self) -> dict[str, Any]:
        lat = sorted(self.latencies) or [math.nan]
        return {
            "requests": self.requests,
            "stored": self.stored,
            "missed": self.missed,
            "requests_per_article": self.requests / self.stored if self.stored else math.inf,
            "latency_mean_s": statistics.fmean(lat),
            "latency_median_s": statistics.median(lat),
            "latency_p90_s": lat[min(len(lat) - 1, int(0.9 * len(lat)))],
            "wall_seconds": self.seconds,
        }


def poll_all(
    farm: Farm, base: str, days: float, store: Path, *, fixed: float | None, polling: PollingConfig
) -> Run:
    """Poll every feed from the start to the end of the run, adaptively (``fixed`` None) or
    every ``fixed`` seconds."""
    run = Run("fixed" if fixed is not None else "adaptive")
    began = time.monotonic()
    db = open_store(store)
    rules = compile_rules(())
    feeds = [
        FeedConfig(name=f"f{i}", url=f"{base}/feed/{i}.xml", every=EVERY, source=f"s{i}")
        for i in range(len(farm.entries))
    ]
    config = Config(store_path=store, feeds=tuple(feeds), polling=polling)
    with write_transaction(db):
        ids = [upsert_feed(db, f.name, f.url, to_iso(START)) for f in feeds]
    start, end = START.timestamp(), START.timestamp() + days * 86400.0
    published = {(e.feed, e.number): e.published for entries in farm.entries for e in entries}
    seen: set[tuple[int, int]] = set()
    rng = random.Random(7)
    # First polls spread over the starting interval, as the daemon does.
    queue = [(start + rng.uniform(0, fixed or EVERY), i) for i in range(len(feeds))]
    heapq.heapify(queue)
    with httpx.Client() as client:
        while queue:
            at, i = heapq.heappop(queue)
            if at > end:
                continue
            now = datetime.fromtimestamp(at, UTC)
            response = client.get(feeds[i].url, params={"at": repr(at)})
            run.requests += 1
            result = parse_feed(response.content, feeds[i].url)
            guids = [e.guid for e in result.entries if e.guid]
            known = known_guids(db, guids)
            new = [e for e in result.entries if e.guid and e.guid not in known]
            stamp = to_iso(now)
            for entry in new:
                ingest_article(
                    db,
                    NewArticle(
                        url=f"http://farm.invalid/{entry.guid}",
                        canonical_url=f"http://farm.invalid/{entry.guid}",
                        source=feeds[i].source,
                        title=entry.title,
                        text=entry.text,
                        published=entry.published,
                        guid=entry.guid,
                        feed_id=ids[i],
                        extraction="feed",
                    ),
                    rules,
                    now=stamp,
                )
                assert entry.guid is not None
                key = (i, int(entry.guid.rpartition("-")[2]))
                seen.add(key)
                if published[key] >= start:  # the backlog was there before the run
                    run.latencies.append(at - published[key])
            run.stored += sum(1 for e in new if published[_key(i, e.guid)] >= start)
            with write_transaction(db):
                record_feed_fetched(
                    db,
                    ids[i],
                    now=stamp,
                    status=response.status_code,
                    etag=None,
                    last_modified=None,
                    body_hash=body_hash(response.content),
                    new_items=len(new),
                )
            if fixed is not None:
                heapq.heappush(queue, (at + fixed, i))
                continue
            headers = {name: response.headers.get(name) for name in HINT_HEADERS}
            note = ReadingNote(
                header_hint=header_hint(headers, now),
                feed_hint=result.hint,
                read=True,
                listed=len(result.entries),
                new=len(new),
            )
            interval = adapt(db, config, feeds[i], note, now)
            seconds = interval.seconds if interval is not None else EVERY
            run.intervals[i] = seconds
            heapq.heappush(queue, (at + seconds, i))
    db.close()
    run.missed = sum(
        1
        for key, moment in published.items()
        if start <= moment <= end - 86400.0 and key not in seen  # a day's grace at the end
    )
    run.seconds = time.monotonic() - began
    return run


def _key(feed: int, guid: str | None) -> tuple[int, int]:
    assert guid is not None
    return feed, int(guid.rpartition("-")[2])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--feeds", type=int, default=12)
    parser.add_argument("--days", type=float, default=3.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", type=Path, help="write the figures here too")
    parser.add_argument(
        "--same-latency",
        action="store_true",
        help="a third run: fixed polling at twice the adaptive median latency (a fixed poll's "
        "median wait is half its interval), to compare requests per new article at equal latency",
    )
    args = parser.parse_args(argv)
    polling = PollingConfig()
    farm = make_farm(args.feeds, args.days, args.seed)
    server = serve(farm)
    base = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        with tempfile.TemporaryDirectory() as scratch:
            adaptive = poll_all(
                farm, base, args.days, Path(scratch, "adaptive.db"), fixed=None, polling=polling
            )
            # The one interval that spends the adaptive run's requests over the same time.
            fixed_every = args.feeds * args.days * 86400.0 / max(1, adaptive.requests)
            fixed = poll_all(
                farm, base, args.days, Path(scratch, "fixed.db"), fixed=fixed_every, polling=polling
            )
            matched = None
            if args.same_latency:
                matched_every = 2 * adaptive.figures()["latency_median_s"]
                matched = poll_all(
                    farm,
                    base,
                    args.days,
                    Path(scratch, "matched.db"),
                    fixed=matched_every,
                    polling=polling,
                )
    finally:
        server.shutdown()
        server.server_close()
    a, f = adaptive.figures(), fixed.figures()
    ratios = {
        key: (a[key] / f[key] if f[key] else math.inf)
        for key in (
            "requests",
            "requests_per_article",
            "latency_mean_s",
            "latency_median_s",
            "latency_p90_s",
        )
    }
    published = sum(len(entries) for entries in farm.entries)
    print(
        f"{args.feeds} feeds publishing {min(farm.rates):.2g} to {max(farm.rates):.0f} entries a "
        f"day ({published:,} entries in all, backlog included), {args.days:g} virtual days, "
        f"[polling] min {polling.min_interval:g}s max {polling.max_interval:g}s factor "
        f"{polling.factor:g}; fixed run every {fixed_every:.0f}s"
    )
    print(f"{'':26}{'adaptive':>12}{'fixed':>12}{'ratio':>9}")
    for key, label in (
        ("requests", "requests"),
        ("stored", "articles stored"),
        ("missed", "entries missed"),
        ("requests_per_article", "requests / new article"),
        ("latency_mean_s", "publish→store mean (s)"),
        ("latency_median_s", "publish→store median (s)"),
        ("latency_p90_s", "publish→store p90 (s)"),
    ):
        ratio = f"{ratios[key]:9.2f}" if key in ratios else ""
        shown = "{:12,.2f}" if key == "requests_per_article" else "{:12,.0f}"
        print(f"{label:26}{shown.format(a[key])}{shown.format(f[key])}{ratio}")
    if matched is not None:
        m = matched.figures()
        print(
            f"fixed at the same median latency (every {2 * a['latency_median_s']:.0f}s): "
            f"{m['requests']:,} requests, {m['requests_per_article']:.2f} per new article, "
            f"median {m['latency_median_s']:.0f}s; adaptive / fixed requests per new article "
            f"{a['requests_per_article'] / m['requests_per_article']:.2f}"
        )
    print(f"(wall time: adaptive {adaptive.seconds:.1f}s, fixed {fixed.seconds:.1f}s)")
    if args.json is not None:
        figures = {
            "feeds": args.feeds,
            "days": args.days,
            "fixed_every_s": fixed_every,
            "adaptive": a,
            "fixed": f,
            "ratios": ratios,
            "intervals_s": {str(k): v for k, v in sorted(adaptive.intervals.items())},
            "rates_per_day": farm.rates,
            "polling": asdict(polling),
            "same_latency": matched.figures() if matched is not None else None,
        }
        args.json.write_text(json.dumps(figures, indent=2, default=str), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
