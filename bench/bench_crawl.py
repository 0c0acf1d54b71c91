"""The crawl engine's benchmark (#12): marsad against a bare Scrapy spider, same web, same run.

    .venv/bin/python bench/bench_crawl.py                        # defaults: a few minutes
    .venv/bin/python bench/bench_crawl.py --sites 50 --feeds 200 --articles 2000 --delay 1
    .venv/bin/python bench/bench_crawl.py --runs daemon --feeds 750 --every 30
    .venv/bin/python bench/bench_crawl.py --moonshot             # ~2,500 sources, time-compressed
    .venv/bin/python bench/bench_crawl.py --json figures.json --before bench/crawl_before.json

A loopback web (:mod:`webfarm`, its own process: its CPU is not counted) serves many news sites,
each on its own 127.88.x.y address with its own robots.txt, RSS/Atom/windows-1256 feeds and
article pages in a news template; the text is the dev stream beside the project, read at run
time (or generated when it is absent). Then, every run a subprocess measured with ``wait4``
(its CPU includes every child it waited for):

- ``crawl``: one pass over every feed at the configured politeness (``--delay``, 2 per domain):
  bare Scrapy + feedparser (pages fetched and dropped), Scrapy + feedparser + trafilatura
  (:mod:`bare_spider`), and ``marsad crawl`` on a fresh store;
- ``zero``: the same three at zero delay (articles per second);
- ``daemon``: ``marsad run`` for a bounded time: every feed polled every ``--every`` seconds,
  entries published at ``--rate`` per second, a webhook sink; then a phase where nothing changes
  (every poll an unchanged feed); then SIGTERM.

Only the CLI and the config file of marsad are used, so the benchmark keeps working while the
engine changes under it. Every wait is bounded; only loopback addresses are used.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent))

from crawl_measure import (
    ProcessRun,
    TreeSample,
    TreeSampler,
    become_subreaper,
    count_kind,
    first_fetches,
    machine_busy_seconds,
    percentile,
    reap_orphans,
    robots_fetches,
    run_measured,
    same_site_gaps,
    self_cpu_seconds,
)
from crawl_sink import Sink
from webfarm import FarmSpec, Published, Request, WebFarm
from webfarm_content import WATCHED_WORD

PROJECT = Path(__file__).resolve().parents[1]
SECRET_ENV = "MARSAD_BENCH_SECRET"
USER_AGENT = "marsad-bench/1.0 (loopback crawl benchmark)"
BARE = "bare Scrapy+feedparser"
FULL = "Scrapy+feedparser+trafilatura"
MARSAD = "marsad crawl"
# The most a daemon is given to stop after SIGTERM before it is killed.
STOP_TIMEOUT = 90.0
# The daemon run's baseline: bare Scrapy polls every feed this many times, all but the first
# conditional (304), after the daemon has stopped (its requests are not the daemon's).
REPOLL_ROUNDS = 4
FORCE_TIMEOUT = 15.0
# First polls this close to the daemon's first request count as "at start".
FIRST_SECONDS = 5.0


@dataclass(frozen=True)
class Politeness:
    delay: float
    concurrency: int
    timeout: float = 30.0
    obey_robots: bool = True
    user_agent: str = USER_AGENT


# -- configuration -----------------------------------------------------------------------------


def _toml(value: object) -> str:
    # JSON strings, numbers and booleans are valid TOML.
    return json.dumps(value, ensure_ascii=False)


def write_config(
    path: Path,
    *,
    feeds: Sequence[dict[str, Any]],
    politeness: Politeness,
    sink_url: str,
    every: float,
    max_articles: int,
    deliver_every: float,
    fixed_polling: bool = False,
) -> Path:
    """A marsad.toml for the farm's feeds, a rule that matches part of the articles and a
    webhook to the sink. ``fixed_polling``: every feed polled every ``every`` (the engine is
    measured at a known poll rate; adaptive polling has a benchmark of its own,
    bench_adaptive.py)."""
    lines = [
        "[store]",
        f"path = {_toml(str(path.parent / 'marsad.db'))}",
        "",
        "[crawl]",
        f"user_agent = {_toml(politeness.user_agent)}",
        f"obey_robots = {_toml(politeness.obey_robots)}",
        f'download_timeout = "{politeness.timeout:g}s"',
        f"concurrency_per_domain = {politeness.concurrency}",
        f'delay = "{politeness.delay:g}s"',
        f"max_articles_per_feed = {max_articles}",
        # The farm is on loopback, which marsad refuses unless told.
        'allow_private = ["127.0.0.0/8"]',
        "",
        "[delivery]",
        f'every = "{deliver_every:g}s"',
        "",
        "[alerts]",
        'window = "3d"',
        "",
    ]
    for feed in feeds:
        lines += [
            "[[feeds]]",
            f"name = {_toml(feed['name'])}",
            f"url = {_toml(feed['url'])}",
            f'every = "{every:g}s"',
            f"source = {_toml(feed['source'])}",
            *(["adaptive = false"] if fixed_polling else []),
            "",
        ]
    lines += [
        "[[rules]]",
        'name = "minister"',
        f"keywords = [{_toml(WATCHED_WORD)}]",
        'channels = ["sink"]',
        "",
        "[channels.sink]",
        'type = "webhook"',
        f"url = {_toml(sink_url)}",
        f"secret_env = {_toml(SECRET_ENV)}",
        'timeout = "10s"',
        "",
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def polls_adaptively(code: Path | None) -> bool:
    """Whether the marsad measured adapts its feeds' intervals (since #14), which a feed's
    ``adaptive = false`` turns off; older trees know no such key."""
    tree = code if code is not None else Path(__file__).resolve().parents[1]
    return (tree / "crawler" / "polling.py").exists()


def child_env(code: Path | None = None) -> dict[str, str]:
    """The environment of a run; ``code``: import marsad from that source tree (a checkout of
    another revision) instead of the installed one."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MARSAD_")}
    env[SECRET_ENV] = "bench-secret"
    env["PYTHONUNBUFFERED"] = "1"
    env.pop("PYTHONPATH", None)
    if code is not None:
        env["PYTHONPATH"] = str(code.resolve())
    return env


def marsad(*args: str) -> list[str]:
    return [sys.executable, "-m", "marsad", *args]


# -- the store, read-only ----------------------------------------------------------------------


def _query(db: Path, sql: str) -> list[tuple[Any, ...]]:
    if not db.exists():
        return []
    try:
        with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)) as c:
            return c.execute(sql).fetchall()
    except sqlite3.OperationalError:  # not created yet, or being migrated
        return []


def stored_count(db: Path) -> int:
    rows = _query(db, "SELECT count(*) FROM articles")
    return int(rows[0][0]) if rows else 0


def pending_alerts(db: Path) -> int:
    rows = _query(db, "SELECT count(*) FROM alerts WHERE status = 'pending'")
    return int(rows[0][0]) if rows else 0


def store_summary(db: Path) -> dict[str, Any]:
    by_extraction = dict(_query(db, "SELECT extraction, count(*) FROM articles GROUP BY 1"))
    copies = _query(db, "SELECT count(*) FROM articles WHERE duplicate_of IS NOT NULL")
    alerts = dict(_query(db, "SELECT status, count(*) FROM alerts GROUP BY 1"))
    return {
        "articles": sum(by_extraction.values()),
        "by_extraction": by_extraction,
        "copies": int(copies[0][0]) if copies else 0,
        "alerts": alerts,
    }


def stored_urls(db: Path) -> dict[tuple[str, str], str]:
    """(host:port, path) of every stored article → when it was stored."""
    return {_key(url): at for url, at in _query(db, "SELECT url, fetched_at FROM articles")}


def _key(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    return parts.netloc, parts.path


# -- one pass ----------------------------------------------------------------------------------


@dataclass
class PassFigures:
    name: str
    run: ProcessRun
    articles: int  # stored (marsad) or pages fetched (the baselines)
    requests: list[Request]
    delay: float
    farm_cpu: float
    bench_cpu: float
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def cpu_per_article_ms(self) -> float:
        return 1000 * self.run.cpu / self.articles if self.articles else math.nan

    @property
    def articles_per_second(self) -> float:
        return self.articles / self.run.wall if self.run.wall else math.nan

    @property
    def others_cores(self) -> float:
        """Cores the rest of the machine kept busy meanwhile (not the run, the farm or us)."""
        others = self.run.machine_busy - self.run.cpu - self.farm_cpu - self.bench_cpu
        return max(0.0, others) / self.run.wall if self.run.wall else math.nan

    def as_dict(self) -> dict[str, Any]:
        gaps = same_site_gaps(self.requests, self.delay)
        robots = robots_fetches(self.requests)
        return {
            "returncode": self.run.returncode,
            "timed_out": self.run.timed_out,
            "wall_s": self.run.wall,
            "cpu_s": self.run.cpu,
            "cpu_user_s": self.run.cpu_user,
            "cpu_sys_s": self.run.cpu_sys,
            "articles": self.articles,
            "cpu_ms_per_article": self.cpu_per_article_ms,
            "articles_per_s": self.articles_per_second,
            "peak_rss_mb": self.run.max_rss_mb,
            "requests": len(self.requests),
            "feed_requests": count_kind(self.requests, "feed"),
            "page_requests": count_kind(self.requests, "article"),
            "gaps": gaps.count,
            "gaps_under_half_delay": gaps.under_half,
            "share_gaps_under_half_delay": gaps.share_under_half,
            "min_gap_s": gaps.min_gap,
            "mean_gap_s": gaps.mean_gap,
            "short_gaps_by_kind": gaps.short_pairs,
            "robots_fetches": robots.fetches,
            "robots_per_site": robots.per_site,
            "farm_cpu_s": self.farm_cpu,
            "other_processes_cores": self.others_cores,
            "orphans_reaped": self.run.orphans,
            **self.extra,
        }


def measure_pass(
    name: str,
    command: list[str],
    *,
    farm: WebFarm,
    work: Path,
    delay: float,
    timeout: float,
    count: Callable[[ProcessRun, list[Request]], tuple[int, dict[str, Any]]],
    env: dict[str, str],
) -> PassFigures:
    farm.new_requests()  # what came before is not this run's
    farm_before, bench_before = farm.cpu_seconds(), self_cpu_seconds()
    run = run_measured(
        command,
        env=env,
        cwd=work,
        timeout=timeout,
        log_dir=work,
        name="run",
        keep=frozenset({farm.pid}),
    )
    farm_cpu, bench_cpu = farm.cpu_seconds() - farm_before, self_cpu_seconds() - bench_before
    requests = farm.new_requests()
    articles, extra = count(run, requests)
    figures = PassFigures(name, run, articles, requests, delay, farm_cpu, bench_cpu, extra)
    status = "timed out" if run.timed_out else f"exit {run.returncode}"
    print(
        f"  {name:<32} {run.wall:7.1f} s wall {run.cpu:7.1f} s CPU  {articles:6,} articles"
        f"  ({status})",
        flush=True,
    )
    if run.returncode != 0 and name != MARSAD:
        print(run.stderr[-2000:], file=sys.stderr)
    return figures


@dataclass(frozen=True)
class Subset:
    """The feeds a run is given, and the entries they list."""

    feeds: list[dict[str, Any]]
    entries: list[dict[str, Any]]

    @classmethod
    def of(cls, farm: WebFarm, count: int | None = None) -> Subset:
        every_feed = farm.info["feeds"]
        feeds = every_feed[:count] if count else every_feed
        chosen = set(range(len(feeds)))  # the farm numbers its feeds from 0, in this order
        return cls(feeds, [e for e in farm.info["entries"] if e["feed"] in chosen])


def baseline_pass(
    extract: bool,
    *,
    farm: WebFarm,
    subset: Subset,
    work: Path,
    politeness: Politeness,
    timeout: float,
) -> PassFigures:
    work.mkdir(parents=True, exist_ok=True)
    spec = {
        "feeds": [feed["url"] for feed in subset.feeds],
        "extract": extract,
        "delay": politeness.delay,
        "concurrency_per_domain": politeness.concurrency,
        "obey_robots": politeness.obey_robots,
        "user_agent": politeness.user_agent,
        "timeout": politeness.timeout,
    }
    (work / "spec.json").write_text(json.dumps(spec), encoding="utf-8")

    def count(run: ProcessRun, requests: list[Request]) -> tuple[int, dict[str, Any]]:
        try:
            result = json.loads(run.stdout.strip().splitlines()[-1])
        except (IndexError, ValueError):
            result = {}
        return int(result.get("pages", 0)), {"spider": result, "published": len(subset.entries)}

    return measure_pass(
        FULL if extract else BARE,
        [sys.executable, str(PROJECT / "bench" / "bare_spider.py"), str(work / "spec.json")],
        farm=farm,
        work=work,
        delay=politeness.delay,
        timeout=timeout,
        count=count,
        env=child_env(),
    )


def marsad_pass(
    *,
    farm: WebFarm,
    subset: Subset,
    work: Path,
    politeness: Politeness,
    sink: Sink,
    timeout: float,
    code: Path | None,
) -> PassFigures:
    per_feed = math.ceil(len(subset.entries) / len(subset.feeds))
    config = write_config(
        work / "marsad.toml",
        feeds=subset.feeds,
        politeness=politeness,
        sink_url=sink.url,
        every=3600,
        max_articles=min(10_000, max(200, per_feed + 10)),
        deliver_every=1,
    )
    db = work / "marsad.db"
    started = time.monotonic()

    def count(run: ProcessRun, requests: list[Request]) -> tuple[int, dict[str, Any]]:
        summary = store_summary(db)
        published = {_key(e["url"]) for e in subset.entries}
        lost = len(published - set(stored_urls(db)))
        webhooks = len(sink.since(started))
        return summary["articles"], {
            "store": summary,
            "published": len(published),
            "lost": lost,
            "webhooks_received": webhooks,
            "log_problems": log_problems(run.stderr),
        }

    return measure_pass(
        MARSAD,
        marsad("crawl", "--config", str(config)),
        farm=farm,
        work=work,
        delay=politeness.delay,
        timeout=timeout,
        count=count,
        env=child_env(code),
    )


def log_problems(log: str) -> dict[str, int]:
    lines = log.splitlines()
    return {
        "error_lines": sum(" ERROR " in line for line in lines),
        "tracebacks": sum(line.startswith("Traceback") for line in lines),
        "already_called": sum("AlreadyCalledError" in line for line in lines),
        "missed_runs": sum("was missed by" in line for line in lines),
    }


def pass_timeout(args: argparse.Namespace, delay: float) -> float:
    if args.run_timeout:
        return float(args.run_timeout)
    articles, feeds, sites = int(args.articles), int(args.feeds), int(args.sites)
    per_site = (articles + feeds) / max(1, sites) + 2
    return 180.0 + per_site * delay * 2.5 + articles * 0.25


def three_runs(
    args: argparse.Namespace,
    farm: WebFarm,
    subset: Subset,
    work: Path,
    sink: Sink,
    politeness: Politeness,
    timeout: float,
) -> dict[str, PassFigures]:
    """The two baselines and marsad over ``subset``; with ``--repeat``, the run of each with the
    least CPU per article (the least disturbed) stands."""
    runs: dict[str, PassFigures] = {}
    for repeat in range(args.repeat):
        suffix = f"-{repeat}" if args.repeat > 1 else ""
        made = {
            BARE: baseline_pass(
                False,
                farm=farm,
                subset=subset,
                work=work / f"bare{suffix}",
                politeness=politeness,
                timeout=timeout,
            ),
            FULL: baseline_pass(
                True,
                farm=farm,
                subset=subset,
                work=work / f"full{suffix}",
                politeness=politeness,
                timeout=timeout,
            ),
            MARSAD: marsad_pass(
                farm=farm,
                subset=subset,
                work=work / f"marsad{suffix}",
                politeness=politeness,
                sink=sink,
                timeout=timeout,
                code=args.code,
            ),
        }
        for name, figures in made.items():
            kept = runs.get(name)
            if kept is None or figures.cpu_per_article_ms < kept.cpu_per_article_ms:
                runs[name] = figures
    return runs


def one_pass_runs(
    args: argparse.Namespace, farm: WebFarm, work: Path, sink: Sink, delay: float
) -> tuple[dict[str, PassFigures], dict[str, PassFigures] | None]:
    """The runs over every feed, and (at zero delay, unless --no-marginal) over a tenth of
    them, so that the CPU of one more article can be told from the CPU of starting up."""
    politeness = Politeness(delay=delay, concurrency=args.concurrency)
    timeout = pass_timeout(args, delay)
    print(f"\none pass over {len(farm.info['feeds']):,} feeds, delay {delay:g} s:", flush=True)
    runs = three_runs(args, farm, Subset.of(farm), work, sink, politeness, timeout)
    small = None
    if delay == 0 and args.marginal:
        tenth = max(1, len(farm.info["feeds"]) // 10)
        print(f"  the same over {tenth:,} feeds (to tell start-up apart):", flush=True)
        subset = Subset.of(farm, tenth)
        small = three_runs(args, farm, subset, work / "small", sink, politeness, timeout)
    return runs, small


def marginal_ms(big: PassFigures, small: PassFigures) -> float:
    """CPU per article beyond start-up: the slope between a small and a big run."""
    extra = big.articles - small.articles
    return 1000 * (big.run.cpu - small.run.cpu) / extra if extra > 0 else math.nan


# -- the daemon --------------------------------------------------------------------------------


@dataclass
class DaemonMarks:
    start: float = math.nan
    first_request: float = math.nan
    warm: float = math.nan
    published: float = math.nan
    settled: float = math.nan
    quiet_end: float = math.nan
    term: float = math.nan
    exited: float = math.nan


def wait_until(
    condition: Callable[[], bool], deadline: float, alive: Callable[[], bool], every: float = 0.5
) -> bool:
    """Poll ``condition`` until it holds (True) or the deadline passes or the daemon died."""
    while time.monotonic() < deadline:
        if condition():
            return True
        if not alive():
            return False
        time.sleep(every)
    return condition()


def daemon_run(args: argparse.Namespace, work: Path, sink: Sink) -> dict[str, Any]:
    publish_count = max(1, round(args.rate * args.publish))
    spec = FarmSpec(
        sites=args.sites,
        feeds=args.feeds,
        initial=args.feeds * args.initial_per_feed,
        extra=publish_count,
        window=30,
        seed=args.seed + 1,
        generate=args.generated,
    )
    work.mkdir(parents=True, exist_ok=True)
    print(
        f"\ndaemon: {args.feeds:,} feeds on {args.sites:,} sites every {args.every:g} s, "
        f"{publish_count:,} entries published at {args.rate:.3g}/s, "
        f"then {args.quiet:g} s unchanged",
        flush=True,
    )
    with WebFarm(spec, work / "farm") as farm:
        print(f"  web farm up: {farm.info['text']}", flush=True)
        config = write_config(
            work / "marsad.toml",
            feeds=farm.info["feeds"],
            politeness=Politeness(delay=args.delay, concurrency=args.concurrency),
            sink_url=sink.url,
            every=args.every,
            max_articles=200,
            deliver_every=args.deliver_every,
            fixed_polling=polls_adaptively(args.code),
        )
        db = work / "marsad.db"
        initial = len(farm.info["entries"])
        marks = DaemonMarks()
        samples: dict[str, TreeSample | None] = {}
        farm.new_requests()
        farm_before, busy_before = farm.cpu_seconds(), machine_busy_seconds()
        bench_before = self_cpu_seconds()
        stderr_path = work / "daemon.stderr"
        with stderr_path.open("w") as err, (work / "daemon.stdout").open("w") as out:
            marks.start = time.monotonic()
            daemon = subprocess.Popen(
                marsad("run", "--config", str(config)),
                env=child_env(args.code),
                cwd=work,
                stdout=out,
                stderr=err,
            )
            sampler = TreeSampler(daemon.pid).start()

            def alive() -> bool:
                return daemon.poll() is None

            outcome = "ok"
            try:
                warm_deadline = marks.start + 2 * args.every + 60 + initial * 0.1
                warmed = wait_until(
                    lambda: (
                        farm.counts()["feeds_polled"] >= args.feeds
                        and stored_count(db) >= initial
                        and pending_alerts(db) == 0
                    ),
                    warm_deadline,
                    alive,
                )
                marks.warm = time.monotonic()
                samples["warm"] = sampler.now()
                if not warmed:
                    outcome = "warm-up not finished in time" if alive() else "daemon died"
                print(f"  warm-up: {marks.warm - marks.start:.1f} s ({outcome})", flush=True)
                if alive():
                    farm.publish(args.rate, publish_count)
                    wait_until(
                        lambda: farm.counts()["published"] >= publish_count,
                        marks.warm + publish_count / args.rate + 30,
                        alive,
                    )
                    marks.published = time.monotonic()
                    samples["published"] = sampler.now()
                    settled = wait_until(
                        lambda: (
                            stored_count(db) >= initial + publish_count and pending_alerts(db) == 0
                        ),
                        marks.published + 2 * args.every + 60,
                        alive,
                    )
                    marks.settled = time.monotonic()
                    samples["settled"] = sampler.now()
                    print(
                        f"  published for {marks.published - marks.warm:.1f} s, all stored "
                        f"{marks.settled - marks.published:.1f} s later"
                        + ("" if settled else " (NOT all stored in time)"),
                        flush=True,
                    )
                    if not settled and outcome == "ok":
                        outcome = "not all stored in time"
                    # A fixed window in which nothing is published: every poll is unchanged.
                    wait_until(lambda: False, marks.settled + args.quiet, alive)
                    marks.quiet_end = time.monotonic()
                    samples["quiet_end"] = sampler.now()
            finally:
                marks.term = time.monotonic()
                returncode, how = stop(daemon)
                if how:
                    outcome = f"{outcome}; {how}"
                marks.exited = time.monotonic()
                sampler.stop()
                # Children that outlive it a moment (multiprocessing's resource tracker) are
                # reaped here; one still running 10 s later is a leak.
                outlived, leaked = reap_orphans(frozenset({farm.pid}), timeout=10.0)[2:]
        farm_cpu = farm.cpu_seconds() - farm_before
        busy = machine_busy_seconds() - busy_before
        bench_cpu = self_cpu_seconds() - bench_before
        requests = farm.new_requests()
        published = farm.new_published()
        print(
            f"  stopped {marks.exited - marks.term:.1f} s after SIGTERM (exit {returncode})",
            flush=True,
        )
        repoll = bare_repoll(
            farm=farm,
            feeds=farm.info["feeds"],
            work=work / "bare-repoll",
            politeness=Politeness(delay=args.delay, concurrency=args.concurrency),
        )
        print(
            f"  bare Scrapy re-polling the same feeds: "
            f"{repoll['cpu_ms_per_conditional_poll']:.2f} ms CPU per 304",
            flush=True,
        )
        figures = daemon_figures(
            args,
            farm=farm,
            db=db,
            sink=sink,
            marks=marks,
            samples=samples,
            sampler=sampler,
            requests=requests,
            published=published,
            initial=initial,
            returncode=returncode,
            outlived=outlived,
            outcome=outcome if not leaked else f"{outcome}; {leaked} processes left running",
            log=stderr_path.read_text(encoding="utf-8", errors="replace"),
            machine={"busy_s": busy, "farm_cpu_s": farm_cpu, "bench_cpu_s": bench_cpu},
        )
        figures["bare_repoll"] = repoll
        return figures


def bare_repoll(
    *, farm: WebFarm, feeds: Sequence[dict[str, Any]], work: Path, politeness: Politeness
) -> dict[str, Any]:
    """Bare Scrapy's CPU per conditional re-poll of ``feeds`` (a 304), same politeness: one
    pass polling each feed once, one polling it REPOLL_ROUNDS times; the difference over the
    extra 304s. What an unchanged feed's poll costs Scrapy alone on this machine, now."""
    per_site = math.ceil(len(feeds) / max(1, len({urlsplit(f["url"]).netloc for f in feeds})))
    timeout = 60 + 3 * REPOLL_ROUNDS * per_site * max(politeness.delay, 0.05)
    figures: dict[int, tuple[float, int]] = {}
    for rounds in (1, REPOLL_ROUNDS):
        where = work / f"rounds-{rounds}"
        where.mkdir(parents=True, exist_ok=True)
        spec = {
            "feeds": [feed["url"] for feed in feeds],
            "extract": False,
            "rounds": rounds,
            "delay": politeness.delay,
            "concurrency_per_domain": politeness.concurrency,
            "obey_robots": politeness.obey_robots,
            "user_agent": politeness.user_agent,
            "timeout": politeness.timeout,
        }
        (where / "spec.json").write_text(json.dumps(spec), encoding="utf-8")
        run = run_measured(
            [sys.executable, str(PROJECT / "bench" / "bare_spider.py"), str(where / "spec.json")],
            env=child_env(),
            cwd=where,
            timeout=timeout,
            log_dir=where,
            name="run",
            keep=frozenset({farm.pid}),
        )
        try:
            counted = json.loads(run.stdout.strip().splitlines()[-1])
        except (IndexError, ValueError):
            counted = {}
        figures[rounds] = (run.cpu, int(counted.get("not_modified", 0)))
    farm.new_requests()  # the baseline's requests are not the daemon's
    (cpu_one, nm_one), (cpu_all, nm_all) = figures[1], figures[REPOLL_ROUNDS]
    extra = nm_all - nm_one
    return {
        "rounds": REPOLL_ROUNDS,
        "not_modified": extra,
        "expected_not_modified": (REPOLL_ROUNDS - 1) * len(feeds),
        "cpu_ms_per_conditional_poll": 1000 * _per(cpu_all - cpu_one, extra),
    }


def stop(daemon: subprocess.Popen[bytes]) -> tuple[int, str]:
    """SIGTERM and wait; then a second SIGTERM (the daemon's forced exit); then SIGKILL. The exit
    code, and what it took when SIGTERM was not enough."""
    if daemon.poll() is not None:
        return daemon.returncode, "" if daemon.returncode == 0 else "it had exited already"
    daemon.send_signal(signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        return daemon.wait(timeout=STOP_TIMEOUT), ""
    daemon.send_signal(signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        code = daemon.wait(timeout=FORCE_TIMEOUT)
        return code, f"not stopped {STOP_TIMEOUT:g} s after SIGTERM: forced by a second one"
    daemon.kill()
    code = daemon.wait(timeout=FORCE_TIMEOUT)
    return code, f"not stopped by two SIGTERMs within {STOP_TIMEOUT + FORCE_TIMEOUT:g} s: killed"


def _cpu_between(a: TreeSample | None, b: TreeSample | None) -> float:
    return b.cpu - a.cpu if a is not None and b is not None else math.nan


def _span(a: float, b: float) -> float:
    return b - a if math.isfinite(a) and math.isfinite(b) else math.nan


def _rss(sample: TreeSample | None) -> float:
    return sample.rss_mb if sample is not None else math.nan


def _per(a: float, b: float) -> float:
    return a / b if math.isfinite(a) and math.isfinite(b) and b else math.nan


def _stats(values: Sequence[float]) -> dict[str, float]:
    return {
        "n": len(values),
        "p50": percentile(values, 50),
        "p95": percentile(values, 95),
        "max": max(values) if values else math.nan,
    }


def daemon_figures(
    args: argparse.Namespace,
    *,
    farm: WebFarm,
    db: Path,
    sink: Sink,
    marks: DaemonMarks,
    samples: dict[str, TreeSample | None],
    sampler: TreeSampler,
    requests: list[Request],
    published: list[Published],
    initial: int,
    returncode: int,
    outlived: int,
    outcome: str,
    log: str,
    machine: dict[str, float],
) -> dict[str, Any]:
    if requests:
        marks.first_request = min(r.t for r in requests)
    feed_polls = [r for r in requests if r.kind == "feed"]

    def polls_between(a: float, b: float) -> int:
        return sum(a <= r.t < b for r in feed_polls)

    # First polls: spread over the interval, or all at start?
    firsts = first_fetches(requests, "feed")
    offsets = [t - marks.first_request for t in firsts.values()]
    at_start = sum(offset <= FIRST_SECONDS for offset in offsets)

    # Latencies of the entries published while the daemon ran.
    fetched = first_fetches(requests, "article")
    by_key = {_key(p.url): p for p in published}
    stored = stored_urls(db)
    lost = [p.url for p in published if _key(p.url) not in stored]
    lost_initial = sum(_key(e["url"]) not in stored for e in farm.info["entries"])
    publish_to_fetch = [fetched[p.number] - p.t for p in published if p.number in fetched]
    publish_to_store = []
    for p in published:
        at = stored.get(_key(p.url))
        if at:
            # fetched_at has whole seconds: the middle of its second is the best guess.
            stored_wall = datetime.fromisoformat(at.replace("Z", "+00:00")).timestamp() + 0.5
            publish_to_store.append(stored_wall - p.wall)
    hooks = sink.since(marks.start)
    fetch_to_hook, publish_to_hook = [], []
    keys = set()
    for hook in hooks:
        keys.add(hook.key)
        entry = by_key.get(_key(hook.url))
        if entry is None:
            continue
        if entry.number in fetched:
            fetch_to_hook.append(hook.t - fetched[entry.number])
        publish_to_hook.append(hook.t - entry.t)

    # CPU and memory, per phase.
    quiet_cpu = _cpu_between(samples.get("settled"), samples.get("quiet_end"))
    quiet_polls = polls_between(marks.settled, marks.quiet_end)
    publish_cpu = _cpu_between(samples.get("warm"), samples.get("published"))
    publish_polls = polls_between(marks.warm, marks.published)
    steady_cpu = _cpu_between(samples.get("warm"), samples.get("quiet_end"))
    steady_span = _span(marks.warm, marks.quiet_end)
    after_warm = sampler.between(marks.warm, marks.exited)
    all_samples = sampler.between(marks.start, marks.exited)
    rss_series = [
        {
            "t": round(s.t - marks.start, 1),
            "rss_mb": round(s.rss_mb, 1),
            "pss_mb": round(s.pss_mb, 1),
            "cpu_s": round(s.cpu, 2),
            "processes": s.processes,
        }
        for s in all_samples
    ]
    daemon_cpu = all_samples[-1].cpu if all_samples else math.nan
    robots = robots_fetches(requests)
    robots_after_warm = sum(r.kind == "robots" and r.t > marks.warm for r in requests)
    gaps = same_site_gaps(requests, args.delay)
    run_span = _span(marks.start, marks.term)
    return {
        "outcome": outcome,
        "returncode": returncode,
        "feeds": args.feeds,
        "sites": args.sites,
        "every_s": args.every,
        "rate_per_s": args.rate,
        "rate_per_day_compressed": args.rate * 86400,
        "compress": args.compress if args.moonshot else None,
        "initial_entries": initial,
        "published": len(published),
        "lost_published": len(lost),
        "lost_initial": lost_initial,
        "lost_examples": lost[:5],
        "store": store_summary(db),
        "warmup_s": _span(marks.start, marks.warm),
        "publish_s": _span(marks.warm, marks.published),
        "settle_s": _span(marks.published, marks.settled),
        "quiet_s": _span(marks.settled, marks.quiet_end),
        "stop_s": _span(marks.term, marks.exited),
        "feed_polls": len(feed_polls),
        "first_polls_within_5s": at_start,
        "first_polls_share_within_5s": at_start / len(offsets) if offsets else math.nan,
        "first_poll_offset_s": _stats(offsets),
        "polls_quiet": quiet_polls,
        "cpu_quiet_s": quiet_cpu,
        "cpu_ms_per_unchanged_poll": 1000 * _per(quiet_cpu, quiet_polls),
        "polls_publishing": publish_polls,
        "cpu_publishing_s": publish_cpu,
        "cpu_ms_per_poll_publishing": 1000 * _per(publish_cpu, publish_polls),
        "core_share_quiet": _per(quiet_cpu, _span(marks.settled, marks.quiet_end)),
        "core_share_publishing": _per(publish_cpu, _span(marks.warm, marks.published)),
        "core_share_steady": _per(steady_cpu, steady_span),
        "cpu_total_s": daemon_cpu,
        "rss_mb_warm": _rss(samples.get("warm")),
        "rss_mb_max_after_warmup": max((s.rss_mb for s in after_warm), default=math.nan),
        "rss_mb_max": max((s.rss_mb for s in all_samples), default=math.nan),
        "rss_mb_end": _rss(samples.get("quiet_end")),
        "pss_mb_max_after_warmup": max((s.pss_mb for s in after_warm), default=math.nan),
        "processes_max": max((s.processes for s in all_samples), default=0),
        "processes_outliving_it": outlived,
        "rss_series": rss_series,
        "publish_to_page_fetch_s": _stats(publish_to_fetch),
        "publish_to_stored_s": _stats(publish_to_store),
        "page_fetch_to_webhook_s": _stats(fetch_to_hook),
        "publish_to_webhook_s": _stats(publish_to_hook),
        "webhooks": len(hooks),
        "webhook_repeats": len(hooks) - len(keys),
        "gaps": gaps.count,
        "gaps_under_half_delay": gaps.under_half,
        "share_gaps_under_half_delay": gaps.share_under_half,
        "min_gap_s": gaps.min_gap,
        "mean_gap_s": gaps.mean_gap,
        "short_gaps_by_kind": gaps.short_pairs,
        "robots_fetches": robots.fetches,
        "robots_per_site": robots.per_site,
        "robots_max_per_site": robots.max_per_site,
        "robots_per_poll": robots.fetches / len(feed_polls) if feed_polls else math.nan,
        "robots_after_warmup": robots_after_warm,
        "log_problems": log_problems(log),
        "farm_cpu_s": machine["farm_cpu_s"],
        "other_processes_cores": _per(
            max(
                0.0, machine["busy_s"] - machine["farm_cpu_s"] - machine["bench_cpu_s"] - daemon_cpu
            ),
            _span(marks.start, marks.exited),
        ),
        "run_s": run_span,
    }


# -- output ------------------------------------------------------------------------------------


def fmt(value: float, digits: int = 1, unit: str = "") -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "—"
    return f"{value:,.{digits}f}{unit}"


def ratio(a: float, b: float) -> str:
    if not (math.isfinite(a) and math.isfinite(b)) or b == 0:
        return "—"
    return f"×{a / b:.2f}"


def verdict(ok: bool | None, value: float = 0.0) -> str:
    """Whether a goal is met; nothing to say when it has no figure (NaN) or no goal (None)."""
    if ok is None or not math.isfinite(value):
        return ""
    return "ok" if ok else "MISSED"


def table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    lines = [
        "  ".join(
            str(c).ljust(w) if i == 0 else str(c).rjust(w)
            for i, (c, w) in enumerate(zip(r, widths, strict=True))
        )
        for r in [header, *rows]
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def before_value(before: dict[str, Any] | None, *path: str) -> float:
    node: Any = before
    for key in path:
        if not isinstance(node, dict) or key not in node:
            return math.nan
        node = node[key]
    return float(node) if isinstance(node, int | float) else math.nan


def report_passes(
    title: str, runs: dict[str, dict[str, Any]], before: dict[str, Any] | None, label: str
) -> str:
    bare, full, ours = runs[BARE], runs[FULL], runs[MARSAD]
    zero = label.startswith("delay-0")
    rows: list[list[str]] = []

    def row(name: str, key: str, digits: int = 1, goal: str = "", ok: bool | None = None) -> None:
        b, f, m = float(bare[key]), float(full[key]), float(ours[key])
        old = before_value(before, "passes", label, MARSAD, key)
        rows.append(
            [
                name,
                fmt(b, digits),
                fmt(f, digits),
                fmt(m, digits),
                ratio(m, b),
                ratio(m, f),
                fmt(old, digits),
                ratio(m, old),
                goal,
                verdict(ok, m),
            ]
        )

    row("wall time, s", "wall_s")
    row("CPU (user+sys), s", "cpu_s")
    cpu_ratio = ours["cpu_ms_per_article"] / full["cpu_ms_per_article"]
    row(
        "CPU per article, ms",
        "cpu_ms_per_article",
        2,
        "≤ ×1.3 Scrapy+fp+traf",
        None if zero else cpu_ratio <= 1.3,
    )
    if "marginal_cpu_ms_per_article" in ours:
        marginal = ours["marginal_cpu_ms_per_article"] / full["marginal_cpu_ms_per_article"]
        row(
            "CPU per article beyond start-up, ms",
            "marginal_cpu_ms_per_article",
            2,
            "≤ ×1.3 Scrapy+fp+traf",
            marginal <= 1.3,
        )
    old_rate = before_value(before, "passes", label, MARSAD, "articles_per_s")
    rate_goal = zero and math.isfinite(old_rate)
    row(
        "articles per second",
        "articles_per_s",
        1,
        "≥ ×2 before" if zero else "",
        (ours["articles_per_s"] >= 2 * old_rate) if rate_goal else None,
    )
    row("articles (stored / pages fetched)", "articles", 0)
    row("peak RSS, MB", "peak_rss_mb", 0)
    row("requests to the farm", "requests", 0)
    if not zero:
        row(
            "same-site gaps < delay/2, share",
            "share_gaps_under_half_delay",
            3,
            "0",
            ours["gaps_under_half_delay"] == 0,
        )
        row("shortest same-site gap, s", "min_gap_s", 3)
        row("mean same-site gap, s", "mean_gap_s", 3)
    row("robots.txt fetches per site", "robots_per_site", 2)
    row("other processes, cores busy", "other_processes_cores", 2)
    lost = ours["lost"]
    store = ours["store"]
    lines = [
        title,
        table(
            ["", "bare", "+traf", "marsad", "× bare", "× +traf", "before", "× before", "goal", ""],
            rows,
        ),
        f"marsad stored {ours['articles']:,} of {ours['published']:,} published "
        f"({lost} lost; {store['copies']:,} as copies; by extraction {store['by_extraction']}); "
        f"alerts {store['alerts']}, {ours['webhooks_received']} webhooks received by the end; "
        f"exit {ours['returncode']}; log {ours['log_problems']}"
        + (f"; short gaps {ours['short_gaps_by_kind']}" if ours["short_gaps_by_kind"] else ""),
        f"baselines: bare {bare['spider']}, +traf {full['spider']}",
    ]
    return "\n".join(lines)


def report_daemon(d: dict[str, Any], before: dict[str, Any] | None, delay: float) -> str:
    rows: list[list[str]] = []

    def row(
        name: str,
        value: float,
        digits: int,
        goal: str = "",
        ok: bool | None = None,
        key: str | None = None,
    ) -> None:
        old = before_value(before, "daemon", *(key.split(".") if key else ()))
        shown = [name, fmt(value, digits), fmt(old, digits) if key else "", goal]
        rows.append([*shown, verdict(ok, value)])

    unchanged = d["cpu_ms_per_unchanged_poll"]
    row(
        "CPU per unchanged-feed poll, ms",
        unchanged,
        2,
        "≤ 5",
        unchanged <= 5,
        "cpu_ms_per_unchanged_poll",
    )
    bare_poll = d.get("bare_repoll", {}).get("cpu_ms_per_conditional_poll", math.nan)
    row(
        "— bare Scrapy re-polling the same feeds (a 304), ms",
        bare_poll,
        2,
        key="bare_repoll.cpu_ms_per_conditional_poll",
    )
    row("— marsad's unchanged poll × bare Scrapy's", _per(unchanged, bare_poll), 2)
    row(
        "CPU per poll while publishing, ms",
        d["cpu_ms_per_poll_publishing"],
        2,
        key="cpu_ms_per_poll_publishing",
    )
    steady = d["core_share_steady"]
    row(
        "share of a core, steady (publishing + unchanged)",
        100 * steady,
        1,
        "< 50% at 750 feeds/30 s",
        steady < 0.5,
        "core_share_steady",
    )
    row("share of a core, unchanged phase", 100 * d["core_share_quiet"], 1, key="core_share_quiet")
    row("RSS after warm-up, MB", d["rss_mb_warm"], 0, key="rss_mb_warm")
    row(
        "RSS max after warm-up, MB",
        d["rss_mb_max_after_warmup"],
        0,
        "< 300",
        d["rss_mb_max_after_warmup"] < 300,
        "rss_mb_max_after_warmup",
    )
    row("RSS at the end, MB", d["rss_mb_end"], 0, key="rss_mb_end")
    row(
        "PSS max after warm-up (shared pages split), MB",
        d["pss_mb_max_after_warmup"],
        0,
        key="pss_mb_max_after_warmup",
    )
    share = d["share_gaps_under_half_delay"]
    row(
        f"same-site gaps < {delay / 2:g} s (half the delay), share",
        share,
        3,
        "0",
        d["gaps_under_half_delay"] == 0,
        "share_gaps_under_half_delay",
    )
    row("shortest same-site gap, s", d["min_gap_s"], 3, key="min_gap_s")
    row("robots.txt fetches per poll", d["robots_per_poll"], 3, key="robots_per_poll")
    row(
        "robots.txt fetches per site (whole run)",
        d["robots_per_site"],
        2,
        "≤ 1 per site per day",
        d["robots_max_per_site"] <= 1,
        "robots_per_site",
    )
    row("robots.txt fetches after warm-up", d["robots_after_warmup"], 0, key="robots_after_warmup")
    fetch_hook = d["page_fetch_to_webhook_s"]
    row("page fetched → webhook p50, s", fetch_hook["p50"], 2, key="page_fetch_to_webhook_s.p50")
    row(
        "page fetched → webhook p95, s",
        fetch_hook["p95"],
        2,
        "≤ 2",
        fetch_hook["p95"] <= 2,
        "page_fetch_to_webhook_s.p95",
    )
    row(
        "publish → page fetched p50 / p95, s",
        d["publish_to_page_fetch_s"]["p50"],
        2,
        key="publish_to_page_fetch_s.p50",
    )
    rows[-1][1] += " / " + fmt(d["publish_to_page_fetch_s"]["p95"], 2)
    row(
        "publish → stored p50 / p95, s (1 s steps)",
        d["publish_to_stored_s"]["p50"],
        1,
        key="publish_to_stored_s.p50",
    )
    rows[-1][1] += " / " + fmt(d["publish_to_stored_s"]["p95"], 1)
    row(
        "publish → webhook p95, s",
        d["publish_to_webhook_s"]["p95"],
        2,
        key="publish_to_webhook_s.p95",
    )
    row(
        f"feeds first polled in the first {FIRST_SECONDS:g} s",
        d["first_polls_within_5s"],
        0,
        f"≈ {FIRST_SECONDS / d['every_s']:.0%} of feeds if spread",
        None,
        "first_polls_within_5s",
    )
    row(
        "published entries not stored by the end",
        d["lost_published"],
        0,
        "0",
        d["lost_published"] == 0,
        "lost_published",
    )
    lines = [
        f"daemon: {d['feeds']:,} feeds on {d['sites']:,} sites every {d['every_s']:g} s, "
        f"{d['published']:,} entries published at {d['rate_per_s']:.3g}/s "
        f"({d['rate_per_day_compressed']:,.0f} a day at that rate"
        + (
            f"; time compressed ×{d['compress']:g}: "
            f"{d['rate_per_day_compressed'] / d['compress']:,.0f} a day polled every "
            f"{d['every_s'] * d['compress'] / 60:g} min"
            if d.get("compress")
            else ""
        )
        + f"), delay {delay:g} s",
        table(["", "value", "before", "goal", ""], rows),
        f"phases: warm-up {fmt(d['warmup_s'])} s, publishing {fmt(d['publish_s'])} s, "
        f"settling {fmt(d['settle_s'])} s, unchanged {fmt(d['quiet_s'])} s, stop "
        f"{fmt(d['stop_s'])} s after SIGTERM (exit {d['returncode']}; {d['outcome']}); "
        f"{d['feed_polls']:,} feed polls ({d['polls_quiet']:,} unchanged-phase); "
        f"{d['webhooks']:,} webhooks ({d['webhook_repeats']} repeats); "
        f"{d['initial_entries']:,} entries at start ({d['lost_initial']} not stored); "
        f"up to {d['processes_max']} processes; "
        f"first polls p50/p95 {fmt(d['first_poll_offset_s']['p50'])}/"
        f"{fmt(d['first_poll_offset_s']['p95'])} s after the first request; "
        f"log {d['log_problems']}; other processes {fmt(d['other_processes_cores'], 2)} cores"
        + (f"; short gaps {d['short_gaps_by_kind']}" if d["short_gaps_by_kind"] else ""),
        "RSS over time (MB): " + rss_line(d["rss_series"]),
    ]
    if d["outcome"] != "ok":
        lines.append(
            f"NOTE: {d['outcome']}: the daemon did not keep up, so the phases overlap its backlog "
            "(the CPU per poll and the unchanged phase include work left from before)."
        )
    return "\n".join(lines)


def rss_line(series: list[dict[str, float]], points: int = 10) -> str:
    if not series:
        return "—"
    step = max(1, len(series) // points)
    chosen = series[::step] + ([series[-1]] if (len(series) - 1) % step else [])
    return ", ".join(f"{p['t']:.0f}s {p['rss_mb']:.0f}" for p in chosen)


def finite(value: Any) -> Any:
    """JSON has no NaN: None instead."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [finite(v) for v in value]
    return value


def git_revision() -> str:
    try:
        rev = subprocess.run(
            ["git", "-C", str(PROJECT), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(PROJECT), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        ).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    return f"{rev}{' (+ uncommitted changes)' if dirty else ''}"


# -- the command -------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sites", type=int, default=50)
    parser.add_argument("--feeds", type=int, default=200)
    parser.add_argument("--articles", type=int, default=2000, help="for the one-pass runs")
    parser.add_argument(
        "--delay", type=float, default=1.0, help="seconds between requests to a site"
    )
    parser.add_argument("--concurrency", type=int, default=2, help="requests in flight per site")
    parser.add_argument(
        "--runs", default="crawl,zero,daemon", help="which of crawl, zero, daemon (comma-separated)"
    )
    parser.add_argument("--repeat", type=int, default=1, help="one-pass runs, best CPU kept")
    parser.add_argument("--every", type=float, default=30.0, help="daemon: seconds between polls")
    parser.add_argument("--rate", type=float, default=2.0, help="daemon: entries published per s")
    parser.add_argument("--publish", type=float, default=60.0, help="daemon: seconds publishing")
    parser.add_argument(
        "--quiet",
        type=float,
        default=None,
        help="daemon: seconds with nothing new (default 1.5 × --every, ≥ 30)",
    )
    parser.add_argument("--initial-per-feed", type=int, default=1, help="daemon: entries at start")
    parser.add_argument("--deliver-every", type=float, default=1.0, help="daemon: [delivery] every")
    parser.add_argument(
        "--moonshot",
        action="store_true",
        help="2,500 sources, 100,000 articles/day, time-compressed by --compress",
    )
    parser.add_argument(
        "--compress",
        type=float,
        default=10.0,
        help="moonshot: time compression (polls every 5 min / this)",
    )
    parser.add_argument(
        "--generated", action="store_true", help="made-up text even with the stream"
    )
    parser.add_argument("--seed", type=int, default=12)
    parser.add_argument("--run-timeout", type=float, default=None, help="seconds per one-pass run")
    parser.add_argument("--json", type=Path, default=None, help="write the figures here too")
    parser.add_argument(
        "--before",
        type=Path,
        default=None,
        help="figures of an earlier run (--json) to compare with",
    )
    parser.add_argument(
        "--no-marginal",
        dest="marginal",
        action="store_false",
        help="skip the runs over a tenth of the feeds (CPU per article beyond start-up)",
    )
    parser.add_argument(
        "--code",
        type=Path,
        default=None,
        help="run marsad from this source tree (e.g. `git archive` of a revision) on PYTHONPATH",
    )
    parser.add_argument("--keep", type=Path, default=None, help="keep the stores and logs here")
    args = parser.parse_args(argv)
    if args.moonshot:
        given = set(argv if argv is not None else sys.argv[1:])
        if "--sites" not in given:
            args.sites = 2500
        if "--feeds" not in given:
            args.feeds = 2500
        if "--runs" not in given:
            args.runs = "daemon"
        if "--every" not in given:
            args.every = max(10.0, 300.0 / args.compress)
        if "--rate" not in given:
            args.rate = 100_000 / 86_400 * args.compress
        if "--publish" not in given:
            args.publish = 120.0
    if args.quiet is None:
        args.quiet = max(30.0, 1.5 * args.every)
    args.runs = [r.strip() for r in args.runs.split(",") if r.strip()]
    unknown = set(args.runs) - {"crawl", "zero", "daemon"}
    if unknown:
        parser.error(f"--runs: unknown {', '.join(sorted(unknown))}")
    if args.feeds < args.sites:
        parser.error("--feeds must be at least --sites (every site has a feed)")
    if min(args.sites, args.articles, args.rate, args.publish, args.every) <= 0:
        parser.error("--sites, --articles, --rate, --publish and --every must be positive")
    if args.sites > 40_000:
        parser.error("--sites: at most 40,000 (one loopback address and socket each)")
    return args


def _interrupted(signum: int, frame: object) -> None:
    # SIGTERM (or SIGINT, even where a shell ignores it for background jobs) unwinds through the
    # finally blocks, which stop the daemon and the web farm and remove the temporary files.
    raise KeyboardInterrupt(f"stopped by {signal.Signals(signum).name}")


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    if argv is None:
        signal.signal(signal.SIGTERM, _interrupted)
        signal.signal(signal.SIGINT, _interrupted)
    subreaper = become_subreaper()
    before = json.loads(args.before.read_text(encoding="utf-8")) if args.before else None
    if before is not None:
        scale = ("sites", "feeds", "articles", "delay", "concurrency", "every", "rate", "publish")
        differ = [
            f"{key} {before['args'].get(key)} there, {getattr(args, key)} here"
            for key in scale
            if before.get("args", {}).get(key) != getattr(args, key)
        ]
        if differ:
            print(f"NOTE: {args.before} was measured at another scale: {'; '.join(differ)}")
    load = os.getloadavg()
    started = time.monotonic()
    figures: dict[str, Any] = {
        "command": " ".join([Path(sys.executable).name, *sys.argv]) if argv is None else argv,
        "revision": f"the source tree {args.code}" if args.code else git_revision(),
        "cpus": os.cpu_count(),
        "load_at_start": load,
        "args": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "passes": {},
        "subreaper": subreaper,
    }
    print(
        f"marsad crawl benchmark at {figures['revision']}: {os.cpu_count()} CPUs, "
        f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}",
        flush=True,
    )
    work = Path(tempfile.mkdtemp(prefix="marsad-bench-crawl-"))
    reports: list[str] = []
    try:
        with Sink() as sink:
            one_pass = [r for r in ("crawl", "zero") if r in args.runs]
            if one_pass:
                spec = FarmSpec(
                    sites=args.sites,
                    feeds=args.feeds,
                    initial=args.articles,
                    window=math.ceil(args.articles / args.feeds) + 5,
                    seed=args.seed,
                    generate=args.generated,
                )
                with WebFarm(spec, work / "farm") as farm:
                    figures["text"] = farm.info["text"]
                    print(
                        f"web farm: {args.sites:,} sites, {args.feeds:,} feeds, "
                        f"{len(farm.info['entries']):,} articles; text: {farm.info['text']}",
                        flush=True,
                    )
                    for run, delay in (("crawl", args.delay), ("zero", 0.0)):
                        if run not in args.runs:
                            continue
                        label = f"delay-{delay:g}"
                        runs, small = one_pass_runs(args, farm, work / label, sink, delay)
                        figures["passes"][label] = {n: f.as_dict() for n, f in runs.items()}
                        if small is not None:
                            for name, figure in small.items():
                                passes = figures["passes"][label][name]
                                passes["small_run"] = figure.as_dict()
                                passes["marginal_cpu_ms_per_article"] = marginal_ms(
                                    runs[name], figure
                                )
                        reports.append(
                            report_passes(
                                f"\nOne pass over every feed ({args.sites} sites, {args.feeds} "
                                f"feeds, {args.articles} articles), delay {delay:g} s, "
                                f"{args.concurrency} per site:",
                                figures["passes"][label],
                                before,
                                label,
                            )
                        )
            if "daemon" in args.runs:
                figures["daemon"] = daemon_run(args, work / "daemon", sink)
                reports.append("\n" + report_daemon(figures["daemon"], before, args.delay))
    finally:
        if args.keep:
            shutil.copytree(work, args.keep, dirs_exist_ok=True)
        shutil.rmtree(work, ignore_errors=True)
    figures["load_at_end"] = os.getloadavg()
    figures["elapsed_s"] = time.monotonic() - started
    print("\n".join(reports))
    end = figures["load_at_end"]
    print(
        f"\n{figures['elapsed_s']:.0f} s in all; load average at the end {end[0]:.2f} "
        f"{end[1]:.2f} {end[2]:.2f}. CPU is of the measured process and the children it "
        "waited for; the web farm's and this process's are not counted."
    )
    if args.json:
        args.json.write_text(
            json.dumps(finite(figures), indent=1, ensure_ascii=False), encoding="utf-8"
        )
    return figures


if __name__ == "__main__":
    main()
