"""What the kill -9 trials share: marsad as a real subprocess killed by SIGKILL, the processes it
left behind, a loopback feed whose pages are slow enough to be killed in the middle of, a webhook
sink that takes a moment to answer, synthetic Arabic text, and the checks run on a store after.

Nothing here sleeps to wait: every wait polls a condition with a deadline.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

from tests.feedserver import FeedServer
from tests.webhook_sink import Received, WebhookSink

if TYPE_CHECKING:
    from tests.feedserver import _Handler
    from tests.webhook_sink import _Answer

MARSAD = [sys.executable, "-c", "from marsad.cli import main; main()"]
SECRET_ENV = "FAULTS_WEBHOOK_SECRET"
SECRET = "kill-trial-secret"
# How long a process killed with -9 may leave its children running before they count as orphans.
# A worker exits the moment its parent dies once it has started (marsad.worker_exit); one still
# starting (a spawned interpreter imports the command's main module first: seconds on a loaded
# machine) exits as soon as it has.
ORPHAN_GRACE = 10.0

# -- waiting ------------------------------------------------------------------------------------


def wait_until(condition: Callable[[], object], timeout: float, poll: float = 0.02) -> bool:
    """Poll ``condition`` until it holds (True) or ``timeout`` seconds pass (False)."""
    deadline = time.monotonic() + timeout
    while True:
        if condition():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(poll)


# -- processes ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Kill:
    """What a SIGKILL hit: ``landed`` False when the process had already exited by itself."""

    landed: bool
    after: float  # seconds since the process started
    returncode: int
    leftovers: tuple[str, ...]  # processes of its session still running ORPHAN_GRACE later


class Marsad:
    """One ``marsad`` command in a session of its own (so its workers can be found after it is
    killed), its output in a file (a pipe nobody reads could fill and block it)."""

    def __init__(self, args: Sequence[str], cwd: Path, log: Path) -> None:
        self.log = log
        env = {**os.environ, SECRET_ENV: SECRET}
        with log.open("ab") as out:
            out.write(f"\n$ marsad {' '.join(args)}\n".encode())
            out.flush()
            self._log_from = out.tell()
            self.proc = subprocess.Popen(
                [*MARSAD, *args],
                cwd=cwd,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.started = time.monotonic()

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def running(self) -> bool:
        return self.proc.poll() is None

    def output(self) -> str:
        """Everything in the log, this run's output at the end."""
        return self.log.read_text(encoding="utf-8", errors="replace")

    def said(self, text: str) -> bool:
        """Whether this run (not an earlier one sharing the log) has logged ``text``."""
        with self.log.open("rb") as log:
            log.seek(self._log_from)
            return text in log.read().decode("utf-8", errors="replace")

    def kill9(self) -> Kill:
        """SIGKILL the command's own process (not its workers: they must notice by themselves),
        then say which processes of its session outlived it."""
        after = self.elapsed
        if self.running():
            os.kill(self.proc.pid, signal.SIGKILL)
        returncode = self.proc.wait(timeout=30)
        sid = self.proc.pid
        wait_until(lambda: not session_processes(sid), ORPHAN_GRACE, poll=0.05)
        leftovers = session_processes(sid)
        end_processes(pid for pid, _ in leftovers)
        return Kill(
            returncode == -signal.SIGKILL,
            after,
            returncode,
            tuple(f"{pid} {cmd}" for pid, cmd in leftovers),
        )

    def finish(self, timeout: float) -> int:
        """Wait for the command to exit by itself; kill it if it does not within ``timeout``."""
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill9()
            message = f"marsad did not finish within {timeout}s:\n{self.output()[-3000:]}"
            raise AssertionError(message) from None

    def stop(self, timeout: float = 30) -> int:
        """SIGTERM, as a service manager stops it; SIGKILL if it outlasts ``timeout``."""
        if self.running():
            self.proc.send_signal(signal.SIGTERM)
        return self.finish(timeout)

    def ensure_dead(self) -> None:
        """However the trial went: the command and anything of its session gone."""
        if self.running():
            self.kill9()
        end_processes(pid for pid, _ in session_processes(self.proc.pid))


def session_processes(sid: int) -> list[tuple[int, str]]:
    """Live (not zombie) processes of session ``sid``, with their command lines."""
    found = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(entry.path, "stat").read_text()
            cmdline = Path(entry.path, "cmdline").read_bytes()
        except OSError:  # it exited while we looked
            continue
        # The command name may hold spaces and parentheses: the fields start after the last ")".
        fields = stat.rsplit(")", 1)[1].split()
        state, session = fields[0], int(fields[3])
        if session == sid and state != "Z":
            found.append((int(entry.name), cmdline.replace(b"\0", b" ").decode()[:160]))
    return found


def end_processes(pids: Iterable[int]) -> None:
    """SIGKILL these leftovers of a killed command (its own descendants), so no trial leaks."""
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


# -- the store ----------------------------------------------------------------------------------


def query(db: Path, sql: str, params: Sequence[object] = ()) -> list[tuple[object, ...]]:
    """Rows of ``sql`` read without creating or changing the store; [] before it has the tables."""
    if not db.exists():
        return []
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)
    try:
        return conn.execute(sql, params).fetchall()
    except sqlite3.OperationalError:  # no such table yet, or the store is being created
        return []
    finally:
        conn.close()


def count(db: Path, table: str) -> int:
    rows = query(db, f"SELECT count(*) FROM {table}")
    return int(rows[0][0]) if rows else 0


def store_problems(db: Path) -> list[str]:
    """What must hold in any store, whatever killed what: an intact file, no article held
    twice, no match recorded twice, at most one alert per story, rule and channel, and an alert
    (or a recorded suppression) for each rule a story's articles matched."""
    problems: list[str] = []
    integrity = query(db, "PRAGMA integrity_check")
    if integrity != [("ok",)]:
        problems.append(f"PRAGMA integrity_check: {integrity[:5]}")
    if fks := query(db, "PRAGMA foreign_key_check"):
        problems.append(f"PRAGMA foreign_key_check: {fks[:5]}")
    urls = Counter(row[0] for row in query(db, "SELECT canonical_url FROM articles"))
    if doubled := [url for url, n in urls.items() if n > 1]:
        problems.append(f"{len(doubled)} articles stored twice, e.g. {doubled[:3]}")
    for derived in ("fingerprints", "articles_fts"):
        if count(db, derived) != sum(urls.values()):
            problems.append(
                f"{derived} has {count(db, derived)} rows for {sum(urls.values())} articles"
            )
    matches = query(
        db,
        """SELECT article_id, rule, keyword, field, start, "end", count(*) FROM matches
           GROUP BY 1, 2, 3, 4, 5, 6 HAVING count(*) > 1""",
    )
    if matches:
        problems.append(f"{len(matches)} matches recorded twice, e.g. {matches[:3]}")
    alerts = query(
        db,
        """SELECT story_id, rule, channel, count(*) FROM alerts
           GROUP BY 1, 2, 3 HAVING count(*) > 1""",
    )
    if alerts:
        problems.append(f"{len(alerts)} alerts doubled (story, rule, channel, n): {alerts[:5]}")
    unalerted = query(
        db,
        """SELECT DISTINCT a.story_id, m.rule FROM matches m JOIN articles a ON a.id = m.article_id
           WHERE NOT EXISTS (SELECT 1 FROM alerts al
                             WHERE al.story_id = a.story_id AND al.rule = m.rule)
             AND NOT EXISTS (SELECT 1 FROM alert_suppressions s
                             WHERE s.story_id = a.story_id AND s.rule = m.rule)""",
    )
    if unalerted:
        problems.append(f"{len(unalerted)} matched (story, rule) without an alert: {unalerted[:5]}")
    return problems


def differences(name: str, got: Iterable[object], want: Iterable[object]) -> list[str]:
    """How two multisets of rows differ, in a line a person can read; [] when equal."""
    got_n, want_n = Counter(got), Counter(want)
    missing, extra = want_n - got_n, got_n - want_n
    if not missing and not extra:
        return []
    return [
        f"{name}: {sum(missing.values())} missing, {sum(extra.values())} extra "
        f"(e.g. missing {list(missing)[:2]}, extra {list(extra)[:2]})"
    ]


# -- synthetic Arabic ---------------------------------------------------------------------------

LETTERS = "ابتثجحخدذرزسشصضطظعغفقكلمنهوي"
# Common words, written for these tests, among the made-up ones so the text reads a little like
# news; none of them is a keyword of the trials' rules.
COMMON_TEXT = (
    "في من على إلى أن قال وقال اليوم أمس مصادر مسؤول الحكومة الوزير المدينة الشمال الجنوب "
    "العاصمة السكان الأسبوع المقبل الماضي بعد قبل خلال أكثر أقل بين حيث كما لكن الذي التي"
)
COMMON = tuple(COMMON_TEXT.split())
CREDIT = "المصدر : وكالات"


class ArabicText:
    """Made-up Arabic sentences from a seeded vocabulary: common words and invented ones."""

    def __init__(self, rng: random.Random, invented: int = 2000) -> None:
        self.rng = rng
        self.words = [
            "".join(rng.choice(LETTERS) for _ in range(rng.randint(3, 7))) for _ in range(invented)
        ]

    def words_(self, low: int, high: int, keywords: Sequence[str] = ()) -> list[str]:
        rng = self.rng
        words = [
            rng.choice(COMMON) if rng.random() < 0.3 else rng.choice(self.words)
            for _ in range(rng.randint(low, high))
        ]
        for keyword in keywords:
            words.insert(rng.randrange(len(words) + 1), keyword)
        return words

    def paragraph(self, low: int, high: int, keywords: Sequence[str] = ()) -> str:
        return " ".join(self.words_(low, high, keywords)) + "."

    def title(self, n: int) -> str:
        return " ".join(self.words_(4, 7)) + f" {n}"


# -- the feed and the sink ----------------------------------------------------------------------


@dataclass(frozen=True)
class Entry:
    """A feed entry and its page; ``copy_of`` names the entry whose text it carries."""

    slug: str
    title: str
    paragraphs: tuple[str, ...]
    published: datetime
    copy_of: str | None = None


def feed_entries(
    seed: int, count: int, keywords: Sequence[str], *, every_match: int, every_copy: int
) -> tuple[Entry, ...]:
    """``count`` entries: every ``every_match``-th mentions the keywords, every
    ``every_copy``-th is a credited copy of an earlier entry."""
    rng = random.Random(seed)
    text = ArabicText(rng)
    published = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
    entries: list[Entry] = []
    for n in range(count):
        at = published + timedelta(seconds=n)
        if n % every_copy == every_copy - 1:
            original = entries[rng.randrange(len(entries))]
            copy = (*original.paragraphs, CREDIT)
            entries.append(Entry(f"e{n}", text.title(n), copy, at, original.slug))
            continue
        hits = keywords if n % every_match == 0 else ()
        paragraphs = (text.paragraph(40, 60, hits), text.paragraph(40, 60), text.paragraph(30, 50))
        entries.append(Entry(f"e{n}", text.title(n), paragraphs, at))
    return tuple(entries)


class KillFeedServer(FeedServer):
    """The loopback feed server with one more feed, /feeds/kill.xml, listing ``entries``; each
    page answers after ``page_delay`` seconds so a kill can land in the middle of a crawl. The
    feed carries an ETag and answers 304 to it, like a real publisher's."""

    FEED = "/feeds/kill.xml"

    def __init__(self, entries: Sequence[Entry], page_delay: float) -> None:
        self.entries = tuple(entries)
        self.page_delay = page_delay
        super().__init__()

    def routes(self) -> dict[str, Callable[[_Handler], None]]:
        table = dict(super().routes())
        table[self.FEED] = self.kill_feed
        for entry in self.entries:
            table[self.page_path(entry)] = partial(self.kill_page, entry)
        return table

    @staticmethod
    def page_path(entry: Entry) -> str:
        return f"/kill/{entry.slug}.html"

    def page_url(self, entry: Entry) -> str:
        return self.url(self.page_path(entry))

    def pages_requested(self) -> int:
        return sum(1 for path in self.paths() if path.startswith("/kill/"))

    def feed_requested(self) -> int:
        return self.paths().count(self.FEED)

    def feed_xml(self) -> bytes:
        items = "".join(
            f"<item><title>{e.title}</title><link>{self.page_url(e)}</link>"
            f'<guid isPermaLink="false">kill-{e.slug}</guid>'
            f"<pubDate>{format_datetime(e.published, usegmt=True)}</pubDate>"
            f"<description>{e.paragraphs[0][:120]}</description></item>"
            for e in self.entries
        )
        return (
            '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
            f"<title>أخبار التجربة</title><link>{self.base}/</link>"
            f"<description>تجربة القتل</description>{items}</channel></rss>"
        ).encode()

    def kill_feed(self, h: _Handler) -> None:
        body = self.feed_xml()
        etag = '"' + hashlib.sha1(body).hexdigest()[:16] + '"'
        if h.headers.get("If-None-Match") == etag:
            h.reply(304, b"", extra={"ETag": etag})
            return
        h.reply(200, body, "application/rss+xml; charset=utf-8", extra={"ETag": etag})

    def kill_page(self, entry: Entry, h: _Handler) -> None:
        time.sleep(self.page_delay)  # the publisher's latency, not a wait for anything
        paragraphs = "".join(f"<p>{p}</p>" for p in entry.paragraphs)
        body = (
            '<!DOCTYPE html><html lang="ar" dir="rtl"><head><meta charset="utf-8">'
            f"<title>{entry.title}</title></head><body><nav><a href='/'>الرئيسية</a></nav>"
            f"<article><h1>{entry.title}</h1>{paragraphs}</article>"
            "<footer>جميع الحقوق محفوظة</footer></body></html>"
        )
        h.reply(200, body.encode("utf-8"), "text/html; charset=utf-8")


class SlowSink(WebhookSink):
    """The webhook sink, answering each request ``delay`` seconds after it arrived: a kill can
    land after the receiver has the alert and before marsad hears it was delivered."""

    def __init__(self, delay: float) -> None:
        self.delay = delay
        super().__init__()
        self._report_error = self._server.handle_error
        self._server.handle_error = self._handle_error

    def _handle_error(self, request: object, client_address: object) -> None:
        # A killed marsad hangs up before its answer: expected here, not worth a traceback.
        if not isinstance(sys.exc_info()[1], BrokenPipeError | ConnectionResetError):
            self._report_error(request, client_address)

    def _next_answer(self, received: Received) -> _Answer:
        answer = super()._next_answer(received)
        time.sleep(self.delay)  # the receiver's latency, not a wait for anything
        return answer

    def received(self) -> list[Received]:
        with self._lock:
            return list(self.requests)


# -- configs ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RuleSpec:
    name: str
    keyword: str


def config_toml(
    *,
    rules: Sequence[RuleSpec],
    sink_url: str,
    feed_url: str | None = None,
    extra: Mapping[str, str] | None = None,
) -> str:
    """A marsad.toml for a trial: store.db beside it, loopback allowed, alerts for any age (the
    trials' articles are old or made up), every rule to one webhook channel ``hook``."""
    parts = [
        '[store]\npath = "store.db"\n',
        '[crawl]\ndelay = 0\ndownload_timeout = "5s"\n'
        'allow_private = ["127.0.0.0/8", "localhost"]\n',
        '[delivery]\nevery = "2s"\nbackoff_base = "1s"\nbackoff_max = "2s"\n',
        '[alerts]\nwindow = "off"\n',
    ]
    if feed_url is not None:
        parts.append(f'[[feeds]]\nname = "kill"\nurl = "{feed_url}"\nevery = "10s"\n')
    parts.extend(
        f'[[rules]]\nname = "{r.name}"\nkeywords = ["{r.keyword}"]\nchannels = ["hook"]\n'
        for r in rules
    )
    parts.append(
        f'[channels.hook]\ntype = "webhook"\nurl = "{sink_url}/hook"\nsecret_env = "{SECRET_ENV}"\n'
    )
    for section, body in (extra or {}).items():
        parts.append(f"[{section}]\n{body}\n")
    return "\n".join(parts)
