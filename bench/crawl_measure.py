"""How the crawl benchmark measures: processes (CPU, RSS, the machine's load) and the figures it
reads from the web farm's request log. The figures are pure functions of the log."""

from __future__ import annotations

import ctypes
import itertools
import math
import os
import resource
import subprocess
import threading
import time
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from webfarm import Request

_TICKS = os.sysconf("SC_CLK_TCK")
_PAGE_KB = os.sysconf("SC_PAGE_SIZE") // 1024


# -- pure figures ------------------------------------------------------------------------------


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0–100), linear between ranks; NaN for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100.0
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


@dataclass(frozen=True)
class Gaps:
    count: int  # consecutive same-site request pairs
    under_half: int  # of those closer than half the delay
    min_gap: float
    mean_gap: float
    # The short ones by what was asked, first → second ("robots → feed": 3), to tell why.
    short_pairs: dict[str, int] = field(default_factory=dict)

    @property
    def share_under_half(self) -> float:
        return self.under_half / self.count if self.count else math.nan


def same_site_gaps(requests: Iterable[Request], delay: float) -> Gaps:
    """The gaps between consecutive requests to each site (whatever was asked: robots.txt, a
    feed, a page), all sites together."""
    by_site: dict[int, list[Request]] = defaultdict(list)
    for request in requests:
        by_site[request.site].append(request)
    gaps: list[float] = []
    short: dict[str, int] = defaultdict(int)
    for asked in by_site.values():
        asked.sort(key=lambda r: r.t)
        for a, b in itertools.pairwise(asked):
            gaps.append(b.t - a.t)
            if b.t - a.t < delay / 2:
                short[f"{a.kind} → {b.kind}"] += 1
    if not gaps:
        return Gaps(0, 0, math.nan, math.nan)
    return Gaps(
        count=len(gaps),
        under_half=sum(gap < delay / 2 for gap in gaps),
        min_gap=min(gaps),
        mean_gap=sum(gaps) / len(gaps),
        short_pairs=dict(sorted(short.items(), key=lambda kv: -kv[1])),
    )


@dataclass(frozen=True)
class Robots:
    fetches: int
    sites: int  # sites that were asked anything
    max_per_site: int

    @property
    def per_site(self) -> float:
        return self.fetches / self.sites if self.sites else math.nan


def robots_fetches(requests: Iterable[Request]) -> Robots:
    per_site: dict[int, int] = defaultdict(int)
    sites: set[int] = set()
    for request in requests:
        sites.add(request.site)
        if request.kind == "robots":
            per_site[request.site] += 1
    return Robots(sum(per_site.values()), len(sites), max(per_site.values(), default=0))


def count_kind(requests: Iterable[Request], kind: str) -> int:
    return sum(request.kind == kind for request in requests)


def first_fetches(requests: Iterable[Request], kind: str) -> dict[int, float]:
    """The time of the first request for each feed (or page) of ``kind``, by its ref."""
    first: dict[int, float] = {}
    for request in requests:
        if request.kind == kind and request.ref not in first:
            first[request.ref] = request.t
    return first


# -- processes ---------------------------------------------------------------------------------


@dataclass
class ProcessRun:
    returncode: int
    wall: float
    cpu_user: float
    cpu_sys: float
    max_rss_mb: float  # the peak of the largest process of the tree (getrusage's ru_maxrss)
    started: float  # monotonic
    ended: float
    stdout: str
    stderr: str
    machine_busy: float  # CPU seconds the whole machine spent in the run, every process
    timed_out: bool = False
    orphans: int = 0  # descendants it left running, re-parented here and reaped (CPU counted)

    @property
    def cpu(self) -> float:
        return self.cpu_user + self.cpu_sys


def run_measured(
    command: Sequence[str],
    *,
    env: dict[str, str],
    cwd: Path,
    timeout: float,
    log_dir: Path,
    name: str,
    keep: frozenset[int] = frozenset(),
) -> ProcessRun:
    """Run ``command`` to its end (killed after ``timeout``) and measure it: wall time, and the
    CPU of the process and of every child it waited for (``wait4``), so worker processes count;
    workers it did not wait for are reaped here (:func:`become_subreaper`). ``keep``: children
    of this process that are not the run's (the web farm)."""
    out_path, err_path = log_dir / f"{name}.stdout", log_dir / f"{name}.stderr"
    with out_path.open("w") as out, err_path.open("w") as err:
        busy_before = machine_busy_seconds()
        started = time.monotonic()
        process = subprocess.Popen(command, env=env, cwd=cwd, stdout=out, stderr=err)
        timed_out = False
        deadline = started + timeout
        while True:
            pid, status, usage = os.wait4(process.pid, os.WNOHANG)
            if pid:
                break
            if time.monotonic() > deadline:
                timed_out = True
                process.kill()
                pid, status, usage = os.wait4(process.pid, 0)
                break
            time.sleep(0.05)
        ended = time.monotonic()
        orphan_user, orphan_sys, orphans, _ = reap_orphans(keep | {process.pid}, timeout=10.0)
        busy_after = machine_busy_seconds()
    process.returncode = os.waitstatus_to_exitcode(status)
    return ProcessRun(
        returncode=process.returncode,
        wall=ended - started,
        cpu_user=usage.ru_utime + orphan_user,
        cpu_sys=usage.ru_stime + orphan_sys,
        max_rss_mb=usage.ru_maxrss / 1024,
        started=started,
        ended=ended,
        stdout=out_path.read_text(encoding="utf-8", errors="replace"),
        stderr=err_path.read_text(encoding="utf-8", errors="replace"),
        machine_busy=busy_after - busy_before,
        timed_out=timed_out,
        orphans=orphans,
    )


def become_subreaper() -> bool:
    """Make the descendants a run leaves behind (a worker its parent did not wait for) children
    of this process rather than of init when their parent ends, so that their CPU can still be
    counted when :func:`reap_orphans` waits for them. Linux only; False where it is not."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return int(libc.prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)) == 0
    except (OSError, AttributeError):
        return False


_PR_SET_CHILD_SUBREAPER = 36


def reap_orphans(keep: frozenset[int], timeout: float) -> tuple[float, float, int, int]:
    """Wait (up to ``timeout``) for this process's children other than ``keep``: orphans of a
    run, re-parented here. Their user and system CPU seconds, how many there were and how many
    of them were still running at the deadline."""
    me = os.getpid()
    orphans = [pid for pid, parent in _parents().items() if parent == me and pid not in keep]
    user = system = 0.0
    running = 0
    deadline = time.monotonic() + timeout
    for pid in orphans:
        while True:
            try:
                done, _, usage = os.wait4(pid, os.WNOHANG)
            except ChildProcessError:
                break
            if done:
                user, system = user + usage.ru_utime, system + usage.ru_stime
                break
            if time.monotonic() > deadline:
                running += 1
                break
            time.sleep(0.05)
    return user, system, len(orphans), running


def _parents() -> dict[int, int]:
    parents = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat", encoding="ascii", errors="replace") as stat:
                    parents[int(entry)] = int(stat.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
    return parents


def machine_busy_seconds() -> float:
    """CPU seconds every core of the machine has spent not idle since boot."""
    with open("/proc/stat", encoding="ascii") as stat:
        fields = [int(x) for x in stat.readline().split()[1:]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields[:8]
    return (user + nice + system + irq + softirq + steal) / _TICKS


def self_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


@dataclass(frozen=True)
class TreeSample:
    t: float  # monotonic
    cpu: float  # CPU seconds of the process tree so far (live members and the children reaped)
    rss_mb: float  # resident memory of every live member (pages they share counted in each)
    root_rss_mb: float
    processes: int
    pss_mb: float = math.nan  # proportional set size: shared pages split between the sharers


def tree_sample(root: int) -> TreeSample | None:
    """The CPU and memory of ``root`` and its descendants now; None once ``root`` is gone."""
    parents: dict[int, int] = {}
    stats: dict[int, list[str]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="ascii", errors="replace") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        pid = int(entry)
        parents[pid] = int(fields[1])
        stats[pid] = fields
    if root not in stats or stats[root][0] == "Z":  # gone, or exited and not yet reaped
        return None
    members = {root}
    grew = True
    while grew:  # bounded: each round adds at least one member or stops
        grew = False
        for pid, parent in parents.items():
            if parent in members and pid not in members:
                members.add(pid)
                grew = True
    cpu = 0.0
    rss_pages = 0
    for pid in members:
        fields = stats[pid]
        # utime, stime, and the times of the children this member reaped
        cpu += sum(int(fields[i]) for i in (11, 12, 13, 14)) / _TICKS
        rss_pages += int(fields[21])
    root_rss = int(stats[root][21])
    return TreeSample(
        time.monotonic(),
        cpu,
        rss_pages * _PAGE_KB / 1024,
        root_rss * _PAGE_KB / 1024,
        len(members),
        sum(_pss_kb(pid) for pid in members) / 1024,
    )


def _pss_kb(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/smaps_rollup", encoding="ascii", errors="replace") as rollup:
            for line in rollup:
                if line.startswith("Pss:"):
                    return float(line.split()[1])
    except OSError:
        pass
    return 0.0


@dataclass
class TreeSampler:
    """Samples a process tree every ``every`` seconds in a thread until stopped."""

    root: int
    every: float = 1.0
    samples: list[TreeSample] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> TreeSampler:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.is_set():
            sample = tree_sample(self.root)
            if sample is None:
                return
            self.samples.append(sample)
            self._stop.wait(self.every)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def now(self) -> TreeSample | None:
        """A fresh sample (also kept), for the edges of a phase."""
        sample = tree_sample(self.root)
        if sample is not None:
            self.samples.append(sample)
        return sample

    def between(self, start: float, end: float) -> list[TreeSample]:
        return sorted((s for s in self.samples if start <= s.t <= end), key=lambda s: s.t)
