"""The cluster's benchmark (#16): 1, 2 and 3 fetcher processes against the one-process daemon.

    .venv/bin/python bench/bench_cluster.py                      # defaults: about 5 minutes
    .venv/bin/python bench/bench_cluster.py --fetchers 1,2,3,4 --articles 3000
    .venv/bin/python bench/bench_cluster.py --runs daemon,2,drain --json figures.json

The loopback web farm (:mod:`webfarm`, its own process: its CPU is not counted) at zero delay,
every feed polled once (``every`` an hour, first polls spread as the daemon spreads them); each
run starts from a fresh store and ends when every article the farm lists is stored (or when
nothing more is stored for ``--stall`` seconds, and then it says what is missing):

- ``daemon``: ``marsad run`` (role all, no Redis) — the baseline, in the same run;
- ``N`` (a number): a real ``redis-server`` on a free loopback port (started and stopped here),
  ``marsad run --role writer``, N × ``--role fetcher``, and ``--role scheduler`` once the
  fetchers have joined;
- ``drain``: the writer alone: the cluster of ``--drain-fetchers`` fetches everything into
  Redis while the writer is stopped (SIGSTOP), then the writer is let go (SIGCONT) and empties
  the stream with a core of its own: the store's ceiling in articles per second, measured.

CPU is that of every process of a run and its workers (``/proc``: their own and their reaped
children's), redis-server's included, sampled at marks: the first article stored, 10% and 90% of
them (the steady window) and all of them. Only the CLI and the config file of marsad are used.
Every wait is bounded; only loopback addresses are used.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_crawl import (
    Politeness,
    _interrupted,
    child_env,
    finite,
    fmt,
    git_revision,
    marsad,
    ratio,
    store_summary,
    table,
    write_config,
)
from crawl_measure import (
    become_subreaper,
    machine_busy_seconds,
    reap_orphans,
    self_cpu_seconds,
    tree_sample,
)
from crawl_sink import Sink
from webfarm import FarmSpec, Request, WebFarm, process_cpu

PREFIX = "marsad"  # [cluster] prefix (the default): the benchmark reads the stream's length
EVERY = 3600.0  # each feed polled once in a run
FETCHER_TTL = 10.0  # [cluster] fetcher_ttl: the default (heartbeats every 2 s), as deployed
STOP_TIMEOUT = 60.0
FORCE_TIMEOUT = 15.0
JOIN_TIMEOUT = 120.0  # for the fetchers to join, the store to be made
# The most a run waits for its first article (processes starting on a busy machine, the
# first polls spread over 0.2 s × feeds as the daemon spreads them).
FIRST_TIMEOUT = 180.0
WATCH_EVERY = 0.2  # seconds between two looks at the store
MARKS = (("first", 0.0), ("p10", 0.1), ("p90", 0.9), ("all", 1.0))


# -- processes ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Usage:
    tree: float  # CPU seconds of the process and its workers (live, and reaped by it)
    root: float  # of the process alone: its event loop and threads, at most one core each


@dataclass
class Member:
    """One process of a run."""

    role: str  # daemon, writer, scheduler, fetcher, redis
    name: str
    process: subprocess.Popen[bytes]
    log: Path
    returncode: int | None = None
    final_cpu: float = math.nan  # at its exit: wait4, with every child it waited for
    stop_note: str = ""

    @property
    def pid(self) -> int:
        return self.process.pid

    def alive(self) -> bool:
        """Running; an exited process is left unreaped (WNOWAIT), for wait4 to count its CPU."""
        if self.returncode is not None:
            return False
        try:
            exited = os.waitid(os.P_PID, self.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
        except ChildProcessError:
            return False
        return exited is None

    @property
    def exit_code(self) -> int | None:
        if self.returncode is not None:
            return self.returncode
        try:
            exited = os.waitid(os.P_PID, self.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
        except ChildProcessError:
            return None
        return None if exited is None else exited.si_status

    def usage(self) -> Usage | None:
        sample = tree_sample(self.pid)
        if sample is None:
            return None
        try:
            root = process_cpu(self.pid)
        except OSError:
            return None
        return Usage(sample.cpu, root)


def start(role: str, name: str, command: list[str], *, work: Path, env: dict[str, str]) -> Member:
    log = work / f"{name}.log"
    with log.open("wb") as out:
        process = subprocess.Popen(command, cwd=work, env=env, stdout=out, stderr=subprocess.STDOUT)
    return Member(role, name, process, log)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start_redis(work: Path) -> tuple[Member, int]:
    """redis-server on a free loopback port, no persistence (the store is SQLite; Redis holds
    queues in flight); returned once it answers PING."""
    import redis

    binary = shutil.which("redis-server")
    if binary is None:
        raise SystemExit("redis-server is not installed (Debian: apt-get install redis-server)")
    for _ in range(5):  # bounded: the free port can be taken between the probe and the bind
        port = free_port()
        member = start(
            "redis",
            "redis",
            [
                binary,
                "--port",
                str(port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(work),
                "--logfile",
                "",
            ],
            work=work,
            env=dict(os.environ),
        )
        client = redis.Redis(host="127.0.0.1", port=port, socket_timeout=5)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and member.alive():
            with contextlib.suppress(redis.exceptions.ConnectionError):
                if client.ping():
                    client.close()
                    return member, port
            time.sleep(0.05)
        client.close()
        stop_members([member])
    raise SystemExit("redis-server did not start on a loopback port (see its log)")


def stop_members(members: Sequence[Member], timeout: float = STOP_TIMEOUT) -> None:
    """SIGTERM to all at once; then a second SIGTERM (marsad's forced exit); then SIGKILL. Each
    one's exit code and CPU (wait4: its own and its reaped children's) are kept."""
    running = [m for m in members if m.returncode is None]
    for member in running:
        with contextlib.suppress(ProcessLookupError):
            member.process.send_signal(signal.SIGCONT)  # a stopped writer hears nothing else
            member.process.send_signal(signal.SIGTERM)
    steps: list[tuple[float, Callable[[Member], None], str]] = [
        (timeout, lambda m: m.process.send_signal(signal.SIGTERM), "forced by a second SIGTERM"),
        (FORCE_TIMEOUT, lambda m: m.process.kill(), "killed"),
        (FORCE_TIMEOUT, lambda m: None, "still running"),
    ]
    for wait, then, note in steps:
        deadline = time.monotonic() + wait
        while running and time.monotonic() < deadline:
            for member in list(running):
                try:
                    pid, status, usage = os.wait4(member.pid, os.WNOHANG)
                except ChildProcessError:  # reaped already: no CPU figure at exit
                    member.returncode = member.process.returncode
                    running.remove(member)
                    continue
                if pid:
                    member.returncode = os.waitstatus_to_exitcode(status)
                    member.process.returncode = member.returncode
                    member.final_cpu = usage.ru_utime + usage.ru_stime
                    running.remove(member)
            time.sleep(0.05)
        for member in running:
            with contextlib.suppress(ProcessLookupError):
                then(member)
            member.stop_note = note


# -- the run -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Snapshot:
    t: float  # monotonic
    stored: int
    usage: dict[str, Usage]  # by member name
    backlog: int  # messages waiting in the writer's stream (−1: no Redis)

    def cpu(self, names: Sequence[str] | None = None, *, root: bool = False) -> float:
        chosen = self.usage if names is None else {n: self.usage[n] for n in names}
        return sum(u.root if root else u.tree for u in chosen.values())


@dataclass
class Watched:
    outcome: str
    snapshots: dict[str, Snapshot]
    backlog_max: int = 0


def snapshot(members: Sequence[Member], db: Path, backlog: Callable[[], int]) -> Snapshot:
    usage = {}
    for member in members:
        used = member.usage()
        if used is not None:
            usage[member.name] = used
    return Snapshot(time.monotonic(), stored_count(db), usage, backlog())


def stored_count(db: Path) -> int:
    rows = _query(db, "SELECT count(*) FROM articles")
    return int(rows[0][0]) if rows else 0


def _query(db: Path, sql: str) -> list[tuple[Any, ...]]:
    import sqlite3

    if not db.exists():
        return []
    try:
        with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)) as c:
            return c.execute(sql).fetchall()
    except sqlite3.OperationalError:  # not made yet, or being migrated
        return []


def watch(
    members: Sequence[Member],
    db: Path,
    expected: int,
    *,
    backlog: Callable[[], int],
    deadline: float,
    stall: float,
) -> Watched:
    """Look at the store until every article is stored, a process died, nothing has been
    stored for ``stall`` seconds, or the deadline; a snapshot at each mark."""
    watched = Watched("", {})
    best, progress = 0, time.monotonic()
    while True:
        now = time.monotonic()
        stored = stored_count(db)
        if stored > best:
            best, progress = stored, now
        for mark, share in MARKS:
            if mark not in watched.snapshots and stored >= max(1, math.ceil(share * expected)):
                watched.snapshots[mark] = snapshot(members, db, backlog)
        if watched.snapshots:
            watched.backlog_max = max(watched.backlog_max, backlog())
        if stored >= expected:
            watched.outcome = "ok"
            return watched
        dead = [m for m in members if not m.alive()]
        if dead:
            watched.outcome = ", ".join(f"{m.name} exited ({m.process.returncode})" for m in dead)
        elif now > deadline:
            watched.outcome = f"not all stored by the deadline ({stored:,} of {expected:,})"
        elif stored and now - progress > stall:
            watched.outcome = f"nothing stored for {stall:g} s ({stored:,} of {expected:,})"
        elif not stored and now - progress > FIRST_TIMEOUT:
            watched.outcome = f"nothing stored in {FIRST_TIMEOUT:g} s"
        if watched.outcome:
            watched.snapshots["end"] = snapshot(members, db, backlog)
            return watched
        time.sleep(WATCH_EVERY)


def cluster_config(path: Path, port: int | None) -> None:
    """What every run adds to the farm's config: no probe port (runs must not collide with
    other software on this machine), no cross-lingual worker, and the cluster's Redis."""
    lines = ["", "[http]", 'listen = "off"', "", "[crosslingual]", "enabled = false", ""]
    if port is not None:
        lines += [
            "[cluster]",
            f'redis_url = "redis://127.0.0.1:{port}/0"',
            f'prefix = "{PREFIX}"',
            "",
        ]
    with path.open("a", encoding="utf-8") as config:
        config.write("\n".join(lines))


@dataclass
class Run:
    name: str
    fetchers: int  # 0: the daemon
    members: list[Member]
    watched: Watched
    started: float  # monotonic, the first process started
    expected: int
    db: Path
    farm_cpu: float
    machine_busy: float
    bench_cpu: float
    requests: list[Request]
    webhooks: int
    webhook_repeats: int
    redis_memory: dict[str, int] = field(default_factory=dict)
    drain: dict[str, Any] = field(default_factory=dict)


class Cluster:
    """The processes of one run, and the Redis client the benchmark reads the stream with."""

    def __init__(self, work: Path, env: dict[str, str]) -> None:
        self.work = work
        self.env = env
        self.members: list[Member] = []
        self.client: Any = None
        self._last: str | None = None
        self._polled: set[str] = set()

    def add(self, member: Member) -> Member:
        self.members.append(member)
        return member

    def backlog(self) -> int:
        if self.client is None:
            return -1
        try:
            return int(self.client.xlen(f"{PREFIX}:items"))
        except Exception:
            return -1

    def live_fetchers(self) -> list[dict[str, Any]]:
        cutoff = time.time() - FETCHER_TTL
        names = self.client.zrangebyscore(f"{PREFIX}:fetchers", cutoff, "+inf")
        beats = []
        for name in names:
            raw = self.client.get(f"{PREFIX}:role:fetcher:{name.decode()}")
            beats.append(json.loads(raw) if raw else {})
        return beats

    def polls_in_stream(self) -> int:
        """The feeds whose poll has ended in the writer's stream (read once each, from where the
        last look ended: the stream is not emptied while the writer is stopped)."""
        while True:  # bounded: each round reads entries not read before, or stops
            start = "-" if self._last is None else f"({self._last}"
            entries = self.client.xrange(f"{PREFIX}:items", start, "+", count=500)
            if not entries:
                return len(self._polled)
            for _, fields in entries:
                if fields.get(b"t") == b"poll_done":
                    self._polled.add(json.loads(fields[b"m"]).get("feed_name"))
            self._last = entries[-1][0].decode()

    def memory(self) -> dict[str, int]:
        info = self.client.info("memory")
        return {"used": int(info["used_memory"]), "peak": int(info["used_memory_peak"])}

    def close(self) -> None:
        # The members other than Redis first: they leave (deregister) through it.
        try:
            stop_members([m for m in self.members if m.role != "redis"])
        finally:
            stop_members([m for m in self.members if m.role == "redis"])
            if self.client is not None:
                self.client.close()


def wait_for(
    condition: Callable[[], bool], timeout: float, what: str, members: Sequence[Member]
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        dead = [f"{m.name} exited ({m.exit_code})" for m in members if not m.alive()]
        if dead:
            raise RunFailed(f"{what}: {', '.join(dead)}")
        time.sleep(0.1)
    raise RunFailed(f"{what}: not within {timeout:g} s")


class RunFailed(RuntimeError):
    pass


def measure(
    name: str,
    fetchers: int,
    *,
    farm: WebFarm,
    sink: Sink,
    work: Path,
    args: argparse.Namespace,
    drain: bool = False,
) -> Run:
    """One run on a fresh store: the daemon (``fetchers`` 0) or the cluster."""
    import redis

    work.mkdir(parents=True, exist_ok=True)
    feeds = farm.info["feeds"]
    expected = len(farm.info["entries"])
    per_feed = math.ceil(expected / len(feeds))
    config = write_config(
        work / "marsad.toml",
        feeds=feeds,
        politeness=Politeness(delay=0.0, concurrency=args.concurrency),
        sink_url=sink.url,
        every=EVERY,
        max_articles=min(10_000, max(200, per_feed + 10)),
        deliver_every=1,
        fixed_polling=True,
    )
    db = work / "marsad.db"
    env = child_env()
    cluster = Cluster(work, env)
    farm.new_requests()  # what came before is not this run's
    farm_before, busy_before, bench_before = (
        farm.cpu_seconds(),
        machine_busy_seconds(),
        self_cpu_seconds(),
    )
    started = time.monotonic()
    drained: dict[str, Any] = {}
    redis_memory: dict[str, int] = {}
    print(f"  {name:<24}", end=" ", flush=True)
    try:
        try:
            if fetchers == 0:
                cluster_config(config, None)
                cluster.add(
                    start(
                        "daemon",
                        "daemon",
                        marsad("run", "--config", str(config)),
                        work=work,
                        env=env,
                    )
                )
            else:
                member, port = start_redis(work)
                cluster.add(member)
                cluster.client = redis.Redis(host="127.0.0.1", port=port, socket_timeout=10)
                cluster_config(config, port)

                def role(kind: str, label: str, *extra: str) -> Member:
                    command = marsad("run", "--role", kind, "--config", str(config), *extra)
                    return cluster.add(start(kind, label, command, work=work, env=env))

                writer = role("writer", "writer")
                for number in range(1, fetchers + 1):
                    role("fetcher", f"fetcher-{number}", "--id", f"f{number}")
                # Jobs go to the fetchers alive when they are due: the scheduler starts once all
                # have joined, or the first would own every site.
                wait_for(
                    lambda: len(cluster.live_fetchers()) >= fetchers,
                    JOIN_TIMEOUT,
                    f"{fetchers} fetchers joining",
                    cluster.members,
                )
                if drain:
                    wait_for(
                        lambda: _feeds_registered(db) >= len(feeds),
                        JOIN_TIMEOUT,
                        "the writer making the store",
                        cluster.members,
                    )
                    writer.process.send_signal(signal.SIGSTOP)
                role("scheduler", "scheduler")
                if drain:
                    drained = fill_then_drain(cluster, writer, db, expected, len(feeds), args)
            members = cluster.members
            watched = watch(
                members,
                db,
                expected,
                backlog=cluster.backlog,
                deadline=started + args.run_timeout,
                stall=args.stall,
            )
        except RunFailed as exc:
            watched = Watched(str(exc), {"end": snapshot(cluster.members, db, cluster.backlog)})
        if cluster.client is not None:
            redis_memory = cluster.memory()
    finally:
        cluster.close()
        reap_orphans(frozenset({farm.pid}), timeout=10.0)
    farm_cpu = farm.cpu_seconds() - farm_before
    busy = machine_busy_seconds() - busy_before
    bench_cpu = self_cpu_seconds() - bench_before
    requests = farm.new_requests()
    hooks = sink.since(started)
    run = Run(
        name=name,
        fetchers=fetchers,
        members=cluster.members,
        watched=watched,
        started=started,
        expected=expected,
        db=db,
        farm_cpu=farm_cpu,
        machine_busy=busy,
        bench_cpu=bench_cpu,
        requests=requests,
        webhooks=len(hooks),
        webhook_repeats=len(hooks) - len({h.key for h in hooks}),
        redis_memory=redis_memory,
        drain=drained,
    )
    all_stored = watched.snapshots.get("all")
    took = (all_stored.t - started) if all_stored else math.nan
    print(f"{fmt(took)} s to all stored; {watched.outcome}", flush=True)
    return run


def _feeds_registered(db: Path) -> int:
    rows = _query(db, "SELECT count(*) FROM feeds")
    return int(rows[0][0]) if rows else 0


def fill_then_drain(
    cluster: Cluster,
    writer: Member,
    db: Path,
    expected: int,
    feeds: int,
    args: argparse.Namespace,
) -> dict[str, Any]:
    """With the writer stopped, wait until every poll's messages are in Redis; then let the
    writer go and time it emptying the stream (the snapshots of the watch that follows)."""
    filling = time.monotonic()
    wait_for(
        lambda: cluster.polls_in_stream() >= feeds,
        args.run_timeout,
        "the fetchers polling every feed with the writer stopped",
        cluster.members,
    )
    filled = time.monotonic()
    queued = cluster.backlog()
    memory = cluster.memory()
    before = writer.usage()
    writer.process.send_signal(signal.SIGCONT)
    return {
        "fill_s": filled - filling,
        "queued_messages": queued,
        "redis_used_bytes_full": memory["used"],
        "writer_cpu_before": before.tree if before is not None else math.nan,
        "released": time.monotonic(),
        "stored_before": stored_count(db),
        "expected": expected,
    }


# -- figures -----------------------------------------------------------------------------------


def _key(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    return parts.netloc, parts.path


def _per(a: float, b: float) -> float:
    return a / b if math.isfinite(a) and math.isfinite(b) and b else math.nan


def log_problems(path: Path) -> dict[str, int]:
    lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    return {
        "error_lines": sum(" ERROR " in line for line in lines),
        "tracebacks": sum(line.startswith("Traceback") for line in lines),
    }


def figures_of(run: Run, farm: WebFarm) -> dict[str, Any]:
    marks = run.watched.snapshots
    names = {m.name: m for m in run.members}
    by_role: dict[str, list[str]] = {}
    for member in run.members:
        by_role.setdefault(member.role, []).append(member.name)

    def cpu_at(mark: str, members: Sequence[str] | None = None, *, root: bool = False) -> float:
        snap = marks.get(mark)
        if snap is None:
            return math.nan
        chosen = [n for n in (members or names) if n in snap.usage]
        return snap.cpu(chosen, root=root)

    def window(a: str, b: str) -> dict[str, Any]:
        sa, sb = marks.get(a), marks.get(b)
        if sa is None or sb is None or sb.stored <= sa.stored:
            return {
                "articles": 0,
                "s": math.nan,
                "articles_per_s": math.nan,
                "cpu_s": math.nan,
                "cpu_ms_per_article": math.nan,
                "roles": {},
            }
        span, articles = sb.t - sa.t, sb.stored - sa.stored
        cpu = cpu_at(b) - cpu_at(a)
        roles = {}
        for role, members in by_role.items():
            tree = cpu_at(b, members) - cpu_at(a, members)
            root = cpu_at(b, members, root=True) - cpu_at(a, members, root=True)
            busiest = max(
                (
                    (sb.usage[n].root - sa.usage[n].root)
                    for n in members
                    if n in sa.usage and n in sb.usage
                ),
                default=math.nan,
            )
            roles[role] = {
                "cpu_s": tree,
                "share": _per(tree, cpu),
                "cores": _per(tree, span),
                "main_process_cores": _per(root, span),
                "busiest_main_process_cores": _per(busiest, span),
                "cpu_ms_per_article": 1000 * _per(tree, articles),
                "processes": len(members),
            }
        return {
            "articles": articles,
            "s": span,
            "articles_per_s": articles / span,
            "cpu_s": cpu,
            "cpu_ms_per_article": 1000 * cpu / articles,
            "cores": cpu / span,
            "roles": roles,
        }

    all_mark = marks.get("all")
    to_all = (all_mark.t - run.started) if all_mark else math.nan
    whole_cpu = cpu_at("all")
    whole_roles = {}
    for role, members in by_role.items():
        tree = cpu_at("all", members)
        whole_roles[role] = {"cpu_s": tree, "share": _per(tree, whole_cpu)}

    # Every article stored once: the farm's entries against the store's URLs.
    published = {_key(e["url"]) for e in farm.info["entries"]}
    urls = [row[0] for row in _query(run.db, "SELECT url FROM articles")]
    keys = Counter(_key(url) for url in urls)
    missing = sorted(published - set(keys))
    doubled = {k: n for k, n in keys.items() if n > 1}
    pages = Counter(r.ref for r in run.requests if r.kind == "article")
    summary = store_summary(run.db)
    span_end = all_mark.t if all_mark else marks["end"].t if "end" in marks else math.nan
    ours = whole_cpu + run.bench_cpu + run.farm_cpu
    figures: dict[str, Any] = {
        "name": run.name,
        "fetchers": run.fetchers,
        "outcome": run.watched.outcome,
        "expected": run.expected,
        "stored": summary["articles"],
        "missing": len(missing),
        "missing_examples": [f"http://{k[0]}{k[1]}" for k in missing[:5]],
        "stored_more_than_once": len(doubled),
        "not_from_the_farm": len(set(keys) - published),
        "copies": summary["copies"],
        "alerts": summary["alerts"],
        "webhooks": run.webhooks,
        "webhook_repeats": run.webhook_repeats,
        "page_requests": sum(pages.values()),
        "pages_fetched_more_than_once": sum(n > 1 for n in pages.values()),
        "feed_requests": sum(r.kind == "feed" for r in run.requests),
        "wall_to_all_stored_s": to_all,
        "articles_per_s": _per(run.expected, to_all) if all_mark else math.nan,
        "cpu_to_all_stored_s": whole_cpu,
        "cpu_ms_per_article": 1000 * _per(whole_cpu, run.expected) if all_mark else math.nan,
        "roles": whole_roles,
        "first_stored_s": (marks["first"].t - run.started) if "first" in marks else math.nan,
        "steady": window("p10", "p90"),
        "backlog_max": run.watched.backlog_max,
        "redis_memory": run.redis_memory,
        "farm_cpu_s": run.farm_cpu,
        "other_processes_cores": _per(
            max(0.0, run.machine_busy - ours) if math.isfinite(ours) else math.nan,
            span_end - run.started,
        ),
        "processes": {
            m.name: {
                "role": m.role,
                "returncode": m.returncode,
                "stop": m.stop_note,
                "cpu_at_exit_s": m.final_cpu,
                "log": log_problems(m.log) if m.role != "redis" else {},
            }
            for m in run.members
        },
    }
    if run.drain:
        figures["drain"] = drain_figures(run)
    return figures


def drain_figures(run: Run) -> dict[str, Any]:
    """The writer emptying a full stream: articles per second, its CPU per article, and what the
    stream held per article (Redis sizing)."""
    d = run.drain
    end = run.watched.snapshots.get("all") or run.watched.snapshots.get("end")
    writer = next(m for m in run.members if m.role == "writer")
    if end is None or writer.name not in end.usage:
        return {"fill_s": d["fill_s"], "outcome": run.watched.outcome}
    articles = end.stored - d["stored_before"]
    span = end.t - d["released"]
    cpu = end.usage[writer.name].tree - d["writer_cpu_before"]
    empty = run.redis_memory.get("used", 0)
    return {
        "fill_s": d["fill_s"],
        "queued_messages": d["queued_messages"],
        "articles": articles,
        "s": span,
        "articles_per_s": _per(articles, span),
        "writer_cpu_s": cpu,
        "writer_cores": _per(cpu, span),
        "writer_cpu_ms_per_article": 1000 * _per(cpu, articles),
        "ceiling_articles_per_core_s": _per(articles, cpu),
        "redis_bytes_per_queued_article": _per(
            d["redis_used_bytes_full"] - empty, d["queued_messages"]
        ),
        "redis_used_mb_full": d["redis_used_bytes_full"] / 2**20,
    }


# -- output ------------------------------------------------------------------------------------


def _num(value: Any) -> float:
    """A figure, NaN for none (JSON has no NaN: a saved run has None)."""
    return float(value) if isinstance(value, int | float) else math.nan


def report(runs: dict[str, dict[str, Any]]) -> str:
    base = runs.get("daemon")
    shown = [r for key, r in runs.items() if key != "drain"]
    header = ["", *(r["name"] for r in shown)]
    rows: list[list[str]] = []

    def row(
        label: str, get: Callable[[dict[str, Any]], float], digits: int = 1, against: bool = False
    ) -> None:
        cells = [label]
        for r in shown:
            value = _num(get(r))
            cell = fmt(value, digits)
            if against and base is not None and r is not base:
                cell += f" ({ratio(value, _num(get(base)))})"
            cells.append(cell)
        rows.append(cells)

    def role_value(r: dict[str, Any], role: str, key: str) -> float:
        return _num(r["steady"]["roles"].get(role, {}).get(key))

    row("articles/s, start → all stored (× daemon)", lambda r: r["articles_per_s"], 1, True)
    row("articles/s, steady 10% → 90% (× daemon)", lambda r: r["steady"]["articles_per_s"], 1, True)
    row("CPU per article, ms, whole run (× daemon)", lambda r: r["cpu_ms_per_article"], 2, True)
    row(
        "CPU per article, ms, steady (× daemon)",
        lambda r: r["steady"]["cpu_ms_per_article"],
        2,
        True,
    )
    row("cores busy, steady (of the machine's)", lambda r: r["steady"].get("cores", math.nan), 2)
    row("seconds to the first article stored", lambda r: r["first_stored_s"], 1)
    row("seconds to all stored", lambda r: r["wall_to_all_stored_s"], 1)

    def of_role(role: str, key: str, scale: float = 1.0) -> Callable[[dict[str, Any]], float]:
        return lambda r: scale * role_value(r, role, key)

    for role in ("daemon", "fetcher", "writer", "scheduler", "redis"):
        if not any(role in r["steady"]["roles"] for r in shown):
            continue
        row(f"{role}: share of the CPU, steady, %", of_role(role, "share", 100), 0)
        row(f"{role}: cores busy, steady (busiest main process)", of_role(role, "cores"), 2)
        busiest = [fmt(role_value(r, role, "busiest_main_process_cores"), 2) for r in shown]
        rows[-1] = [
            rows[-1][0],
            *(c if c == "—" else f"{c} ({b})" for c, b in zip(rows[-1][1:], busiest, strict=True)),
        ]
        if role in ("writer", "daemon"):
            row(f"{role}: CPU per article, ms, steady", of_role(role, "cpu_ms_per_article"), 2)
    row("messages waiting for the writer, max", lambda r: r["backlog_max"], 0)
    row("stored / expected", lambda r: r["stored"], 0)
    rows[-1] = [
        rows[-1][0],
        *(f"{c} / {r['expected']:,}" for c, r in zip(rows[-1][1:], shown, strict=True)),
    ]
    row("missing; stored more than once", lambda r: r["missing"], 0)
    rows[-1] = [
        rows[-1][0],
        *(f"{c}; {r['stored_more_than_once']}" for c, r in zip(rows[-1][1:], shown, strict=True)),
    ]
    row("pages fetched more than once", lambda r: r["pages_fetched_more_than_once"], 0)
    row("alerts queued; webhooks (repeats)", lambda r: sum(r["alerts"].values()), 0)
    rows[-1] = [
        rows[-1][0],
        *(
            f"{c}; {r['webhooks']} ({r['webhook_repeats']})"
            for c, r in zip(rows[-1][1:], shown, strict=True)
        ),
    ]
    row("other processes, cores busy", lambda r: r["other_processes_cores"], 2)
    lines = [table(header, rows)] if shown else []
    for r in runs.values():
        problems = {
            name: p
            for name, p in r["processes"].items()
            if p["stop"]
            or (p["returncode"] not in (0, None) and p["role"] != "redis")
            or any(p["log"].values())
        }
        if r["outcome"] != "ok" or r["missing"] or r["stored_more_than_once"]:
            lines.append(
                f"NOTE {r['name']}: {r['outcome']}; {r['missing']} missing "
                f"(e.g. {', '.join(r['missing_examples'][:3]) or '—'}), "
                f"{r['stored_more_than_once']} stored more than once"
            )
        if problems:
            lines.append(f"NOTE {r['name']}: processes {problems}")
    drain = runs.get("drain", {}).get("drain")
    if drain:
        if "articles_per_s" in drain:
            lines.append(
                f"\nwriter alone, emptying a full stream ({drain['queued_messages']:,} messages, "
                f"{drain['articles']:,} articles, filled in {fmt(drain['fill_s'])} s by "
                f"{runs['drain']['fetchers']} fetchers with the writer stopped): "
                f"{fmt(drain['articles_per_s'])} articles/s at "
                f"{fmt(drain['writer_cores'], 2)} cores, "
                f"{fmt(drain['writer_cpu_ms_per_article'], 2)} ms CPU per article → ceiling "
                f"{fmt(drain['ceiling_articles_per_core_s'], 0)} articles/s per core of the "
                f"writer; Redis held {fmt(drain['redis_used_mb_full'])} MB full, "
                f"{fmt(drain['redis_bytes_per_queued_article'] / 1024, 1)} KB per message"
            )
        else:
            lines.append(f"\nwriter alone: {runs['drain']['outcome']}")
    for r in shown:
        writer_ms = role_value(r, "writer", "cpu_ms_per_article")
        if math.isfinite(writer_ms):
            lines.append(
                f"{r['name']}: the writer's CPU per article {writer_ms:.2f} ms → one writer "
                f"stores at most {1000 / writer_ms:,.0f} articles/s on one core"
            )
    return "\n".join(lines)


# -- the command -------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--sites", type=int, default=60)
    parser.add_argument("--feeds", type=int, default=60)
    parser.add_argument("--articles", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=2, help="requests in flight per site")
    parser.add_argument(
        "--fetchers", default="1,2,3", help="the cluster runs: fetcher processes (comma-separated)"
    )
    parser.add_argument(
        "--runs",
        default="daemon,cluster,drain",
        help="which of daemon, cluster (each of --fetchers), drain (comma-separated)",
    )
    parser.add_argument("--drain-fetchers", type=int, default=2)
    parser.add_argument(
        "--stall", type=float, default=30.0, help="a run ends when nothing is stored for so long"
    )
    parser.add_argument("--run-timeout", type=float, default=300.0, help="seconds per run")
    parser.add_argument(
        "--generated", action="store_true", help="made-up text even with the stream"
    )
    parser.add_argument("--seed", type=int, default=16)
    parser.add_argument("--json", type=Path, default=None, help="write the figures here too")
    parser.add_argument("--keep", type=Path, default=None, help="keep the stores and logs here")
    parser.add_argument(
        "--report", type=Path, default=None, help="print the table of a saved --json and stop"
    )
    args = parser.parse_args(argv)
    args.fetchers = [int(n) for n in args.fetchers.split(",") if n.strip()]
    args.runs = [r.strip() for r in args.runs.split(",") if r.strip()]
    unknown = set(args.runs) - {"daemon", "cluster", "drain"}
    if unknown:
        parser.error(f"--runs: unknown {', '.join(sorted(unknown))}")
    if min([args.sites, args.articles, args.drain_fetchers, *args.fetchers]) <= 0:
        parser.error("--sites, --articles and fetcher counts must be positive")
    if args.feeds < args.sites:
        parser.error("--feeds must be at least --sites (every site has a feed)")
    return args


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    if args.report:
        saved: dict[str, Any] = json.loads(args.report.read_text(encoding="utf-8"))
        print(report(saved["runs"]))
        return saved
    if argv is None:
        signal.signal(signal.SIGTERM, _interrupted)
        signal.signal(signal.SIGINT, _interrupted)
    become_subreaper()  # workers a role leaves behind are reaped (and counted) here
    load = os.getloadavg()
    began = time.monotonic()
    figures: dict[str, Any] = {
        "command": " ".join([Path(sys.executable).name, *sys.argv]) if argv is None else argv,
        "revision": git_revision(),
        "cpus": os.cpu_count(),
        "load_at_start": load,
        "args": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "runs": {},
    }
    print(
        f"marsad cluster benchmark at {figures['revision']}: {os.cpu_count()} CPUs, "
        f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}",
        flush=True,
    )
    plan: list[tuple[str, str, int, bool]] = []
    if "daemon" in args.runs:
        plan.append(("daemon", "daemon", 0, False))
    if "cluster" in args.runs:
        for n in args.fetchers:
            plan.append((f"cluster-{n}", f"{n} fetcher{'s' if n > 1 else ''}", n, False))
    if "drain" in args.runs:
        plan.append(
            ("drain", f"writer alone ({args.drain_fetchers} f.)", args.drain_fetchers, True)
        )
    work = Path(tempfile.mkdtemp(prefix="marsad-bench-cluster-"))
    try:
        spec = FarmSpec(
            sites=args.sites,
            feeds=args.feeds,
            initial=args.articles,
            window=math.ceil(args.articles / args.feeds) + 5,
            seed=args.seed,
            generate=args.generated,
        )
        with Sink() as sink, WebFarm(spec, work / "farm") as farm:
            figures["text"] = farm.info["text"]
            print(
                f"web farm: {args.sites:,} sites, {args.feeds:,} feeds, "
                f"{len(farm.info['entries']):,} articles, zero delay, {args.concurrency} per "
                f"site; text: {farm.info['text']}",
                flush=True,
            )
            for key, name, fetchers, drain in plan:
                run = measure(
                    name, fetchers, farm=farm, sink=sink, work=work / key, args=args, drain=drain
                )
                figures["runs"][key] = figures_of(run, farm)
                if args.json:  # each run's figures as soon as it ends
                    write_json(args.json, figures)
    finally:
        if args.keep:
            shutil.copytree(work, args.keep, dirs_exist_ok=True)
        shutil.rmtree(work, ignore_errors=True)
    figures["load_at_end"] = os.getloadavg()
    figures["elapsed_s"] = time.monotonic() - began
    print()
    print(report(figures["runs"]))
    end = figures["load_at_end"]
    print(
        f"\n{figures['elapsed_s']:.0f} s in all; load average at the end {end[0]:.2f} "
        f"{end[1]:.2f} {end[2]:.2f}. CPU: every process of a run with its workers and "
        "redis-server; the web farm's and this process's are not counted."
    )
    if args.json:
        write_json(args.json, figures)
    return figures


def write_json(path: Path, figures: dict[str, Any]) -> None:
    path.write_text(json.dumps(finite(figures), indent=1, ensure_ascii=False), encoding="utf-8")


if __name__ == "__main__":
    main()
