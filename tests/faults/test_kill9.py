"""kill -9 trials: ``marsad import``, ``marsad crawl`` and ``marsad run`` as real subprocesses,
SIGKILLed at a seeded moment of the span they are busy in, then run again to completion.

Whatever the moment, the store must end up as if nothing had happened: every article once, each
match once, one alert per story, rule and channel, an intact file, every feed entry stored in
the end, every alert delivered at least once (repeats only under the same Idempotency-Key), and
no worker process outliving the command it served.

Each trial's seed picks the phase the kill aims at (start-up, the middle of the work, a commit,
a delivery, idle) and the moment within it; every failed check of a trial is listed together.
"""

from __future__ import annotations

import json
import os
import random
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest

from marsad.urls import canonical_url
from tests.faults._kill import (
    CREDIT,
    ArabicText,
    Entry,
    Kill,
    KillFeedServer,
    Marsad,
    RuleSpec,
    SlowSink,
    config_toml,
    count,
    differences,
    feed_entries,
    query,
    store_problems,
    wait_until,
)

pytestmark = pytest.mark.slow

# Four trials a family in the suite (the suite must stay well under 10 minutes on two cores);
# MARSAD_KILL_TRIALS=200 for a longer soak (the same seeds first).
SEEDS = range(int(os.environ.get("MARSAD_KILL_TRIALS", "4")))
RULES = (RuleSpec("withdrawal", "انسحاب"), RuleSpec("floods", "فيضان"))


def describe(kill: Kill, what: str) -> str:
    if not kill.landed:
        return f"{what}: had exited (code {kill.returncode}) before the kill at {kill.after:.2f}s"
    return f"{what}: killed at {kill.after:.2f}s"


def leftover_problems(kill: Kill, what: str) -> list[str]:
    if not kill.leftovers:
        return []
    return [f"{what}: {len(kill.leftovers)} processes outlived the kill -9: {list(kill.leftovers)}"]


# == marsad import ==============================================================================

ARCHIVE_ARTICLES = 700  # several import commits of IMPORT_COMMIT articles
IMPORT_COMMIT = 200


@dataclass(frozen=True)
class Archive:
    path: Path
    lines: int
    urls: frozenset[str]


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory) -> Archive:
    """A JSONL archive: every fifth article a credited copy of an earlier one, every seventh
    mentions a withdrawal and every eleventh floods, and some lines repeat an earlier one."""
    rng = random.Random(2024)
    text = ArabicText(rng)
    records: list[dict[str, str]] = []
    lines: list[str] = []
    for n in range(ARCHIVE_ARTICLES):
        if n % 5 == 4:
            body = records[rng.randrange(len(records))]["text"] + "\n\n" + CREDIT
        else:
            hits = ["الانسحاب"] * (n % 7 == 0) + ["الفيضانات"] * (n % 11 == 0)
            body = "\n\n".join((text.paragraph(15, 30, hits), text.paragraph(10, 20)))
        record = {
            "url": f"https://outlet{n % 4}.example/news/{n}?utm_source=rss",
            "source": f"outlet{n % 4}",
            "title": text.title(n),
            "text": body,
            "published": f"2024-05-{1 + n % 28:02d}T{n % 24:02d}:{n % 60:02d}:00Z",
        }
        records.append(record)
        lines.append(json.dumps(record, ensure_ascii=False))
        if n % 150 == 149:  # the same article listed again further on
            lines.append(json.dumps(records[rng.randrange(len(records))], ensure_ascii=False))
    path = tmp_path_factory.mktemp("archive") / "archive.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return Archive(path, len(lines), frozenset(canonical_url(r["url"]) for r in records))


def snapshot(db: Path) -> dict[str, list[tuple[object, ...]]]:
    """What an import decided, by URL (ids and times differ from store to store)."""
    return {
        "articles (url, story original, copy of)": query(
            db,
            """SELECT a.canonical_url, o.canonical_url, d.canonical_url FROM articles a
               JOIN stories s ON s.id = a.story_id JOIN articles o ON o.id = s.original_id
               LEFT JOIN articles d ON d.id = a.duplicate_of""",
        ),
        "matches": query(
            db,
            """SELECT a.canonical_url, m.rule, m.keyword, m.field, m.start, m."end"
               FROM matches m JOIN articles a ON a.id = m.article_id""",
        ),
        "alerts (story original, rule, channel, raised by)": query(
            db,
            """SELECT o.canonical_url, al.rule, al.channel, a.canonical_url, al.status
               FROM alerts al JOIN stories s ON s.id = al.story_id
               JOIN articles o ON o.id = s.original_id JOIN articles a ON a.id = al.article_id""",
        ),
        "suppressions": query(
            db,
            """SELECT a.canonical_url, x.rule, x.channel, x.reason FROM alert_suppressions x
               JOIN articles a ON a.id = x.article_id""",
        ),
        "stories (original, articles, outlets)": query(
            db,
            """SELECT o.canonical_url, s.article_count, s.outlet_count FROM stories s
               JOIN articles o ON o.id = s.original_id WHERE s.merged_into IS NULL""",
        ),
    }


@dataclass(frozen=True)
class Reference:
    snapshot: dict[str, list[tuple[object, ...]]]
    seconds: float  # the uninterrupted import, start to exit
    first_commit: float  # when its first commit became visible to a reader


def import_args(archive: Archive, config: Path) -> list[str]:
    # One worker, always: the trials also check that a killed import leaves no worker behind.
    return [
        "import",
        str(archive.path),
        "--config",
        str(config),
        "--json",
        "--workers",
        "1",
        "--batch",
        str(IMPORT_COMMIT),
    ]


def write_import_config(directory: Path) -> Path:
    config = directory / "marsad.toml"
    config.write_text(config_toml(rules=RULES, sink_url="http://127.0.0.1:9"), encoding="utf-8")
    return config


def last_json(output: str) -> dict[str, int]:
    lines = [line for line in output.splitlines() if line.startswith("{")]
    assert lines, f"no JSON counts in the output:\n{output[-2000:]}"
    return json.loads(lines[-1])


@pytest.fixture(scope="module")
def reference(archive: Archive, tmp_path_factory: pytest.TempPathFactory) -> Reference:
    """The same import, never killed: what every trial's store must equal in the end."""
    directory = tmp_path_factory.mktemp("reference")
    config = write_import_config(directory)
    db = directory / "store.db"
    run = Marsad(import_args(archive, config), directory, directory / "marsad.log")
    first_commit = None
    try:
        if wait_until(lambda: count(db, "articles") > 0 or not run.running(), 120, poll=0.05):
            first_commit = run.elapsed
        assert run.finish(120) == 0, run.output()
    finally:
        run.ensure_dead()
    seconds = run.elapsed
    counts = last_json(run.output())
    assert counts["new"] + counts["copy"] == ARCHIVE_ARTICLES, counts
    assert counts["known"] == archive.lines - ARCHIVE_ARTICLES
    assert counts["copy"] >= ARCHIVE_ARTICLES // 5 - 20, counts
    assert counts["alerts"] > ARCHIVE_ARTICLES // 20, counts
    assert store_problems(db) == []
    return Reference(snapshot(db), seconds, first_commit or seconds)


IMPORT_PHASES = ("after the first commit", "start-up", "before the first commit")


def wait_for_import_phase(run: Marsad, db: Path, seed: int, reference: Reference) -> str:
    """Wait for the seeded moment of the import's work the seed aims at; say what it was."""
    rng = random.Random(f"import-{seed}")
    phase = IMPORT_PHASES[seed % len(IMPORT_PHASES)]
    if phase == "start-up":  # the interpreter, the store's creation and migrations, the spawn
        moment = rng.uniform(0.05, 1.2)
    elif phase == "before the first commit":  # reading, preparing, writing the first batch
        moment = rng.uniform(1.2, max(1.3, 0.9 * reference.first_commit))
    else:
        if not wait_until(lambda: count(db, "articles") or not run.running(), 120, poll=0.05):
            return f"{phase}: NOT reached in 120s"
        extra = rng.uniform(0.0, 0.8 * (reference.seconds - reference.first_commit))
        wait_until(lambda: not run.running(), extra)
        return f"{phase} (+{extra:.2f}s)"
    wait_until(lambda: not run.running(), moment)
    return f"{phase} ({moment:.2f}s after start)"


@pytest.mark.parametrize("seed", SEEDS)
def test_an_import_killed_and_run_again_stores_everything_once(
    seed: int, archive: Archive, reference: Reference, tmp_path: Path
) -> None:
    config = write_import_config(tmp_path)
    db = tmp_path / "store.db"
    log = tmp_path / "marsad.log"
    first = Marsad(import_args(archive, config), tmp_path, log)
    try:
        moment = wait_for_import_phase(first, db, seed, reference)
        kill = first.kill9()
    finally:
        first.ensure_dead()
    committed = count(db, "articles")
    again = Marsad(import_args(archive, config), tmp_path, log)
    try:
        code = again.finish(180)
    finally:
        again.ensure_dead()
    trial = (
        f"seed {seed}, aimed at {moment} (uninterrupted: {reference.seconds:.1f}s, first commit "
        f"at {reference.first_commit:.1f}s): {describe(kill, 'import')} with {committed} "
        "articles committed"
    )
    print(trial)
    assert code == 0, f"{trial}; the import run again failed:\n{again.output()[-3000:]}"
    counts = last_json(again.output())
    problems = leftover_problems(kill, "import")
    if counts["new"] + counts["copy"] + counts["known"] != archive.lines:
        problems.append(f"the import run again counted {counts} for {archive.lines} lines")
    stored = {str(row[0]) for row in query(db, "SELECT canonical_url FROM articles")}
    if stored != archive.urls:
        problems.append(
            f"{len(archive.urls - stored)} articles lost, {len(stored - archive.urls)} unknown"
        )
    problems += store_problems(db)
    got = snapshot(db)
    for name, want in reference.snapshot.items():
        problems += differences(name, got[name], want)
    assert not problems, trial + "\n" + "\n".join(problems)


# == marsad crawl and marsad run: one feed on loopback ==========================================

FEED_ENTRIES = 24
PAGE_DELAY = 0.06  # each page: long enough that a seeded kill lands between two of them
SINK_DELAY = 0.05  # each webhook answer: a kill can land after the receiver has the alert


@pytest.fixture(scope="module")
def entries() -> tuple[Entry, ...]:
    """Every fourth entry mentions a withdrawal; every sixth is a credited copy of an earlier."""
    return feed_entries(11, FEED_ENTRIES, ["الانسحاب"], every_match=4, every_copy=6)


@pytest.fixture
def site(entries: tuple[Entry, ...]) -> Iterator[KillFeedServer]:
    with KillFeedServer(entries, PAGE_DELAY) as server:
        yield server


@pytest.fixture
def sink() -> Iterator[SlowSink]:
    with SlowSink(SINK_DELAY) as server:
        yield server


def write_feed_config(directory: Path, site: KillFeedServer, sink: SlowSink) -> Path:
    config = directory / "marsad.toml"
    config.write_text(
        config_toml(rules=RULES, sink_url=sink.url, feed_url=site.url(site.FEED)),
        encoding="utf-8",
    )
    return config


def entry_urls(site: KillFeedServer) -> set[str]:
    return {canonical_url(site.page_url(entry)) for entry in site.entries}


def stored_urls(db: Path) -> Counter[str]:
    return Counter(str(row[0]) for row in query(db, "SELECT canonical_url FROM articles"))


def feed_problems(db: Path, site: KillFeedServer) -> list[str]:
    """Every entry of the feed stored exactly once, nothing else, and the store's own checks."""
    stored = stored_urls(db)
    want = entry_urls(site)
    problems = []
    if lost := sorted(want - set(stored)):
        problems.append(f"{len(lost)} of {len(want)} feed entries never stored, e.g. {lost[:3]}")
    if other := sorted(set(stored) - want):
        problems.append(f"{len(other)} articles that are no entry of the feed: {other[:3]}")
    return problems + store_problems(db)


PHASE_WAIT = 20.0  # the longest a trial waits for the moment it aims at


def wait_for_phase(
    run: Marsad, site: KillFeedServer, sink: SlowSink, db: Path, phase: str, rng: random.Random
) -> str:
    """Wait (bounded) for the seeded moment of ``phase`` in ``run``'s work; say what it was.

    Pages and webhook requests are counted from now, so a run that resumes another's work
    aims at a page among those still to fetch; one whose store holds every entry already (and
    has sent every alert) has no such moment, and is killed during its start-up instead."""
    pages, received = site.pages_requested(), len(sink.received())
    missing = len(entry_urls(site) - set(stored_urls(db)))
    unsent = query(db, "SELECT 1 FROM alerts WHERE status != 'sent' LIMIT 1")
    work_left = {"page": missing, "all pages": missing, "delivery": missing or unsent}
    remaining = max(1, missing)

    def at(condition: Callable[[], object]) -> bool:
        return wait_until(lambda: condition() or not run.running(), PHASE_WAIT)

    if phase == "start-up" or not work_left.get(phase, True):
        # Interpreter, store creation and migrations, the first fetch.
        moment = rng.uniform(0.1, 1.5)
        wait_until(lambda: not run.running(), moment)
        instead = "" if phase == "start-up" else f" (no {phase} left to aim at)"
        return f"{moment:.2f}s after start{instead}"
    if phase == "feed fetched":
        reached = at(site.feed_requested)
        extra = rng.uniform(0.0, 0.2)
    elif phase == "page":
        k = rng.randrange(remaining)
        phase = f"page {k + 1} of {remaining}"
        reached = at(lambda: site.pages_requested() > pages + k)
        extra = rng.uniform(0.0, PAGE_DELAY * 1.5)
    elif phase == "all pages":
        reached = at(lambda: site.pages_requested() >= pages + remaining)
        extra = rng.uniform(0.0, 0.4)
    else:  # "delivery": the j-th webhook request of this run
        j = rng.randrange(4)
        phase = f"webhook request {j + 1}"
        reached = at(lambda: len(sink.received()) > received + j)
        extra = rng.uniform(0.0, SINK_DELAY * 1.5)
    wait_until(lambda: not run.running(), extra)
    return f"{phase} {'reached' if reached else f'NOT reached in {PHASE_WAIT:.0f}s'}, +{extra:.2f}s"


CRAWL_PHASES = ("start-up", "feed fetched", "page", "page", "all pages")
CRAWLS_AFTER = 3  # crawls after the killed one, at most


@pytest.mark.parametrize("seed", SEEDS)
def test_a_crawl_killed_then_crawled_again_stores_every_entry_once(
    seed: int, site: KillFeedServer, sink: SlowSink, tmp_path: Path
) -> None:
    rng = random.Random(f"crawl-{seed}")
    phase = CRAWL_PHASES[seed % len(CRAWL_PHASES)]
    config = write_feed_config(tmp_path, site, sink)
    db = tmp_path / "store.db"
    log = tmp_path / "marsad.log"
    args = ["crawl", "--config", str(config)]
    killed = Marsad(args, tmp_path, log)
    try:
        moment = wait_for_phase(killed, site, sink, db, phase, rng)
        kill = killed.kill9()
    finally:
        killed.ensure_dead()
    at_kill = sum(stored_urls(db).values())
    codes: list[int] = []
    while len(codes) < CRAWLS_AFTER and set(stored_urls(db)) < entry_urls(site):
        crawl = Marsad(args, tmp_path, log)
        try:
            codes.append(crawl.finish(120))
        finally:
            crawl.ensure_dead()
    trial = (
        f"seed {seed}, aimed at {moment}: {describe(kill, 'crawl')} with {at_kill} of "
        f"{FEED_ENTRIES} entries stored; {len(codes)} crawls after it (exit codes {codes}); "
        f"feed fetched {site.feed_requested()} times"
    )
    print(trial)
    problems = leftover_problems(kill, "crawl") + feed_problems(db, site)
    if any(codes):
        problems.append(
            f"crawls after the kill exited {codes} (0: complete):\n{log.read_text()[-3000:]}"
        )
    assert not problems, trial + "\n" + "\n".join(problems)


# == marsad run =================================================================================

DAEMON_PHASES = ("start-up", "page", "delivery", "idle")
DAEMON_DEADLINE = 40.0  # the last start's bound to store every entry and drain the outbox


def expected_alerts(entries: tuple[Entry, ...]) -> int:
    """One per story that mentions a withdrawal: the matching originals (copies join them)."""
    return sum(1 for e in entries if e.copy_of is None and "الانسحاب" in " ".join(e.paragraphs))


def sink_keys(sink: SlowSink) -> Counter[str]:
    return Counter(r.headers.get("idempotency-key", "") for r in sink.received())


def store_alerts(db: Path) -> dict[str, tuple[int, str]]:
    """Each stored alert's idempotency key: its id and status."""
    rows = query(db, "SELECT idempotency_key, id, status FROM alerts")
    return {str(key): (int(i), str(status)) for key, i, status in rows}


def daemon_done(db: Path, site: KillFeedServer, sink: SlowSink, alerts: int) -> bool:
    """Every entry stored, the outbox drained and each of its alerts at the sink."""
    stored = store_alerts(db)
    return (
        set(stored_urls(db)) >= entry_urls(site)
        and len(stored) >= alerts
        and all(status == "sent" for _, status in stored.values())
        and set(stored) <= set(sink_keys(sink))
    )


def delivery_problems(db: Path, sink: SlowSink) -> tuple[list[str], int]:
    """Every stored alert delivered at least once, repeats only under one key, no delivery of
    an alert the store does not hold; and how many requests were repeats."""
    problems = []
    stored = store_alerts(db)
    keys = sink_keys(sink)
    unsent = query(
        db,
        "SELECT id, status, attempts, claimed_by, lease_until FROM alerts WHERE status != 'sent'",
    )
    if unsent:
        now = datetime.now(UTC).strftime("%H:%M:%SZ")
        problems.append(
            f"{len(unsent)} alerts not sent at {now} (id, status, attempts, claimed by, lease "
            f"until): {unsent[:6]}"
        )
    if never := sorted(set(stored) - set(keys)):
        problems.append(f"{len(never)} alerts never reached the webhook: {never[:3]}")
    if strangers := sorted(set(keys) - set(stored)):
        problems.append(f"{len(strangers)} deliveries of alerts the store lacks: {strangers[:3]}")
    by_alert: dict[int, set[str]] = {}
    for request in sink.received():
        body = json.loads(request.body)
        by_alert.setdefault(int(body["alert_id"]), set()).add(request.headers["idempotency-key"])
        if stored.get(request.headers["idempotency-key"], (None,))[0] != body["alert_id"]:
            problems.append(f"a request's key and alert_id disagree: {body['alert_id']}")
    if mixed := {a: k for a, k in by_alert.items() if len(k) > 1}:
        problems.append(f"one alert sent under several keys: {mixed}")
    return problems, sum(keys.values()) - len(keys)


def wait_for_daemon_phase(
    daemon: Marsad,
    site: KillFeedServer,
    sink: SlowSink,
    db: Path,
    phase: str,
    rng: random.Random,
    alerts: int,
) -> str:
    if phase != "idle":
        return wait_for_phase(daemon, site, sink, db, phase, rng)
    reached = wait_until(lambda: daemon_done(db, site, sink, alerts), DAEMON_DEADLINE)
    extra = rng.uniform(0.0, 1.0)
    wait_until(lambda: not daemon.running(), extra)
    return f"idle {'reached' if reached else 'NOT reached'}, +{extra:.2f}s"


@pytest.mark.parametrize("seed", SEEDS)
def test_the_daemon_killed_and_restarted_loses_and_doubles_nothing(
    seed: int, site: KillFeedServer, sink: SlowSink, entries: tuple[Entry, ...], tmp_path: Path
) -> None:
    rng = random.Random(f"daemon-{seed}")
    alerts = expected_alerts(entries)
    assert alerts >= 4
    phases = [DAEMON_PHASES[seed % len(DAEMON_PHASES)]]
    if seed >= 6:  # killed again after the first restart
        phases.append(rng.choice(("start-up", "page", "delivery")))
    config = write_feed_config(tmp_path, site, sink)
    db = tmp_path / "store.db"
    log = tmp_path / "marsad.log"
    args = ["run", "--config", str(config)]
    kills: list[str] = []
    problems: list[str] = []
    for phase in phases:
        daemon = Marsad(args, tmp_path, log)
        try:
            moment = wait_for_daemon_phase(daemon, site, sink, db, phase, rng, alerts)
            kill = daemon.kill9()
        finally:
            daemon.ensure_dead()
        kills.append(
            f"{describe(kill, f'daemon (pid {daemon.proc.pid})')} aimed at {moment}, with "
            f"{sum(stored_urls(db).values())} entries stored and {len(sink.received())} "
            "webhook requests"
        )
        problems += leftover_problems(kill, "daemon")
    daemon = Marsad(args, tmp_path, log)
    try:
        # Running first (signal handlers installed): the store may be complete already.
        done = wait_until(
            lambda: daemon.said("marsad running") or not daemon.running(), DAEMON_DEADLINE
        ) and wait_until(lambda: daemon_done(db, site, sink, alerts), DAEMON_DEADLINE, poll=0.1)
        took = daemon.elapsed
        code = daemon.stop()
    finally:
        daemon.ensure_dead()
    delivered, repeats = delivery_problems(db, sink)
    trial = (
        f"seed {seed}: " + "; ".join(kills) + f"; restarted: "
        f"{'done' if done else 'NOT done'} after {took:.1f}s; {len(store_alerts(db))} alerts, "
        f"{len(sink.received())} webhook requests of which {repeats} repeats (same key)"
    )
    print(trial)
    if code != 0:
        problems.append(f"the last daemon exited {code} on SIGTERM")
    if count(db, "alerts") != alerts:
        problems.append(f"{count(db, 'alerts')} alerts stored, {alerts} expected")
    problems += feed_problems(db, site) + delivered
    assert not problems, trial + "\n" + "\n".join(problems)
