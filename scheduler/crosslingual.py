"""The cross-lingual linking pass (#17), and the daemon's job that runs it every few seconds.

A pass: say in the store whether linking is on (``[crosslingual] enabled``; "auto" turns it on
once the window holds a non-Arabic article, telling scripts by a cheap look at new articles, so a
store of Arabic feeds only starts no worker and computes nothing); then, while on, take the
window's unchecked articles in order, a batch at a time, have the worker
(:mod:`marsad.crosslingual.worker`) profile and verify them, and write each article's result in a
short transaction of its own: its profile (the "checked" mark the outbox's hold waits for), and
for each translation found, the two stories joined (:func:`marsad.crosslingual.linking.plan_join`,
the store's own merge) and the provenance recorded; the story's pending alerts then carry
``translated_from``. Nothing is written before the worker answers, so a pass killed at any point
leaves each article either checked with its links or unchecked (checked again by the next pass),
never linked twice.

The same pass ends ``marsad crawl`` and ``marsad import`` (bounded in time) and is ``marsad
link``; the daemon runs it in a job, one at a time (coalesced), off the crawl's writes: each
batch is awaited from the worker, and the event loop only reads the texts and writes results.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import asdict, dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from marsad.alerts.matching import Match
from marsad.alerts.payload import Quote, translated_from
from marsad.crosslingual.language import detect_language
from marsad.crosslingual.linking import Mode, choose_links, decide_mode, plan_join
from marsad.crosslingual.worker import CheckRequest, LinkWorker, WorkerDied, forget_index
from marsad.ingest.plan import alert_hold
from marsad.ingest.write import GrowthCause, queue_growth
from marsad.storage import articles as store
from marsad.storage import crosslingual as xl
from marsad.storage.followups import article_matches
from marsad.storage.models import NewArticle
from marsad.storage.queries import get_article
from marsad.storage.transactions import StoreBusy, write_transaction
from marsad.times import from_iso, to_iso, utc_now

if TYPE_CHECKING:
    from collections.abc import Callable

    from sqlite_utils import Database

    from marsad.alerts.matching import RuleIndex
    from marsad.config import CrossLingualConfig
    from marsad.crosslingual.worker import Checked
    from marsad.scheduler.jobs import JobContext

log = logging.getLogger("marsad.crosslingual")

LINK_JOB_ID = "crosslingual"
LINK_EVERY_SECONDS = 5.0
# Articles per worker call: large enough to amortise a call, small enough that a pass stopped
# (or a worker killed) loses little.
BATCH = 16
# How long one daemon run may go on (the next run goes on from there): less than the interval,
# so runs do not overlap (APScheduler warns of each run skipped); and the bounds of the pass
# that ends `marsad crawl` and `marsad import`.
JOB_SECONDS = 4.0
CRAWL_SECONDS = 60.0
IMPORT_SECONDS = 120.0
# Articles whose script the auto mode reads per pass at most.
SNIFF_LIMIT = 200
# Profiles of articles out of the window removed per pass (the daily prune removes the rest).
PRUNE_STEP = 500


@dataclass
class LinkReport:
    """What one pass did."""

    mode: str
    active: bool
    checked: int = 0
    profiled: int = 0
    linked: int = 0
    verified: int = 0
    alerts_queued: int = 0  # follow-ups and breaking alerts the joined stories raised
    left: int = 0
    pruned: int = 0
    worker: bool = False
    worker_cpu_seconds: float = 0.0
    elapsed: float = 0.0
    links: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def summary(self) -> str:
        if not self.active:
            return f"cross-lingual linking off ({self.mode})"
        per = ""
        if self.checked:
            per = f", {self.worker_cpu_seconds / self.checked * 1000:.0f} ms CPU each"
        line = (
            f"cross-lingual: {self.checked} articles checked ({self.profiled} profiled{per}), "
            f"{self.verified} candidates verified, {self.linked} translations linked"
        )
        if self.alerts_queued:
            line += f", {self.alerts_queued} follow-up or breaking alerts queued"
        if self.left:
            line += f"; {self.left} left for the next pass"
        return line


class Linker:
    """Runs passes on one store connection with one worker (kept between passes)."""

    def __init__(
        self,
        db: Database,
        store_path: str,
        worker: LinkWorker,
        *,
        clock: Callable[[], str] = utc_now,
    ) -> None:
        self.db = db
        self.store_path = store_path
        self.worker = worker
        self.clock = clock
        # Every article of the window up to this id has been checked (or was found checked) by
        # this linker: later passes look above it only, not through the whole window again.
        # Article ids grow in commit order (SQLite has one writer at a time and no article is
        # ever deleted), so none below it can be unchecked but one whose write failed, and a
        # failed write stops the pass before the mark moves past it.
        self.checked_through = 0

    # -- the state ---------------------------------------------------------------------------

    def sync_state(self, config: CrossLingualConfig) -> Mode:
        """Write in the store whether linking is on now (the outbox's hold reads it)."""
        now = self.clock()
        since = _since(now, config.window)
        state = xl.read_state(self.db)
        was_on = state is not None and state.active_since is not None
        sniffed = state.sniffed_through if state is not None else 0
        other_in_window = other_arrived = False
        if config.enabled is None and was_on:
            # Auto and on: it stays on while the window holds a profiled non-Arabic article,
            # or articles wait for their check (one may be non-Arabic).
            other_in_window = xl.has_other_language_profile(self.db, since)
            other_arrived = not other_in_window and bool(
                xl.count_to_check(self.db, since, self.checked_through, model=_model())
            )
            if not (other_in_window or other_arrived):
                sniffed = xl.last_checked_id(self.db)  # all checked: none to look at again
        elif config.enabled is None:
            # Auto and off: a cheap look at the new articles' script decides.
            seen = xl.articles_to_sniff(self.db, sniffed, since, SNIFF_LIMIT)
            other_arrived = any(detect_language(f"{a.title}\n{a.text}") == "other" for a in seen)
            if seen and not other_arrived:
                sniffed = seen[-1].article_id
        mode = decide_mode(
            config.enabled, other_in_window=other_in_window, other_arrived=other_arrived
        )
        active_since: str | None = None
        if mode.active:
            active_since = state.active_since if state is not None and was_on else now
        wanted = xl.LinkState(active_since, config.hold, config.window, sniffed)
        if state is None and config.enabled is False:
            return mode  # never on in this store: nothing to write
        if wanted != state:
            with write_transaction(self.db):
                xl.write_state(self.db, wanted, now)
            if mode.active and not was_on:
                log.info("cross-lingual linking on (%s)", mode.reason)
            elif was_on and not mode.active:
                log.info("cross-lingual linking off (%s)", mode.reason)
        return mode

    # -- a pass ------------------------------------------------------------------------------

    async def run(
        self,
        config: CrossLingualConfig,
        *,
        seconds: float | None = None,
        stop: asyncio.Event | None = None,
        limit: int | None = None,
        rules: RuleIndex | None = None,
    ) -> LinkReport:
        """One pass: at most ``seconds`` (no batch starts after), ``limit`` articles, until
        ``stop`` is set; what is left is the next pass's. A story a translation joins grows
        by an outlet: ``rules``' follow-ups and breaking thresholds are asked, as when a copy
        joins it (None: no alerts, as ``marsad import --no-alerts``)."""
        started = time.monotonic()
        mode = self.sync_state(config)
        report = LinkReport(mode=mode.reason, active=mode.active)
        if mode.active:
            await self._check_all(config, report, started, seconds, stop, limit, rules)
        report.pruned = self.prune(config)
        report.worker = self.worker.started
        report.elapsed = time.monotonic() - started
        return report

    async def _check_all(
        self,
        config: CrossLingualConfig,
        report: LinkReport,
        started: float,
        seconds: float | None,
        stop: asyncio.Event | None,
        limit: int | None,
        rules: RuleIndex | None,
    ) -> None:
        while True:
            if stop is not None and stop.is_set():
                break
            if seconds is not None and time.monotonic() - started >= seconds:
                break
            room = BATCH if limit is None else min(BATCH, limit - report.checked)
            if room <= 0:
                break
            since = _since(self.clock(), config.window)
            todo = xl.articles_to_check(self.db, since, room, self.checked_through, model=_model())
            if not todo:
                break
            request = CheckRequest(self.store_path, since, tuple(todo))
            try:
                results = await self.worker.check(request)
            except WorkerDied as exc:
                log.warning("%s", exc)
                break
            for result in results:
                self._apply(result, report, rules)
            self.checked_through = todo[-1].article_id
        since = _since(self.clock(), config.window)
        report.left = xl.count_to_check(self.db, since, self.checked_through, model=_model())

    def _apply(self, result: Checked, report: LinkReport, rules: RuleIndex | None) -> None:
        """Write one article's check: its profile, its links and the alerts the stories'
        growth raised, in one short transaction."""
        now = self.clock()
        with write_transaction(self.db):
            if not xl.save_profile(
                self.db,
                result.article_id,
                result.row,
                model=_model(),
                fetched_at=result.fetched_at,
                checked_at=now,
            ):
                return  # another pass checked it first and wrote its links
            report.checked += 1
            report.profiled += result.row is not None
            report.verified += result.verified
            report.worker_cpu_seconds += result.cpu_seconds
            for found in choose_links(result.language or "", result.found):
                if xl.has_original(self.db, found.arabic_id):
                    continue
                heads = store.story_heads(self.db, [found.arabic_id, found.other_id])
                if found.arabic_id not in heads or found.other_id not in heads:
                    continue
                join = plan_join(heads[found.arabic_id], heads[found.other_id])
                if join is None:
                    continue  # one story already (a copy of a translation linked before)
                store.merge_story(self.db, join.keep, join.merge, now)
                store.refresh_story(self.db, join.keep, now)
                xl.record_link(
                    self.db,
                    translation_id=found.arabic_id,
                    original_id=found.other_id,
                    score=found.score,
                    evidence=found.evidence,
                    story_id=join.keep,
                    merged_story_id=join.merge,
                    linked_at=now,
                )
                grown_by = (
                    found.arabic_id
                    if join.merge == heads[found.arabic_id].story_id
                    else found.other_id
                )
                report.alerts_queued += self._queue_growth(rules, grown_by, join.keep, now)
                report.linked += 1
                report.links.append(
                    {
                        "translation_id": found.arabic_id,
                        "original_id": found.other_id,
                        "score": round(found.score, 3),
                        "story_id": join.keep,
                        "merged_story_id": join.merge,
                    }
                )
            heads = store.story_heads(self.db, [result.article_id])
            if result.article_id in heads:
                self._tell_alerts(heads[result.article_id].story_id)

    def _queue_growth(
        self, rules: RuleIndex | None, article_id: int, story_id: int, now: str
    ) -> int:
        """The follow-ups and breaking alerts the story's growth by ``article_id`` (the head
        of the story merged in) raised; none for an article whose alerts are held back (older
        than [alerts] window)."""
        if rules is None or not rules.growing:
            return 0
        cause = _growth_cause(self.db, article_id)
        if cause is None or alert_hold(cause.article, rules.alerts, now) is not None:
            return 0
        return queue_growth(self.db, rules.growing, cause, story_id, now)

    def _tell_alerts(self, story_id: int) -> None:
        """Put the story's translation provenance in its alerts not sent yet."""
        links = xl.links_of_story(self.db, story_id)
        if not links:
            return
        for alert_id, article_id in xl.pending_story_alerts(self.db, story_id):
            value = translated_from(links, article_id)
            if value is not None:
                xl.set_alert_translated_from(self.db, alert_id, value)

    def prune(self, config: CrossLingualConfig) -> int:
        """Remove a step of profiles out of the window (the daily prune does the rest)."""
        before = _since(self.clock(), config.window)
        if not xl.count_due_profiles(self.db, before):
            return 0
        try:
            with write_transaction(self.db):
                return xl.prune_profiles(self.db, before, PRUNE_STEP)
        except StoreBusy:
            return 0


def _growth_cause(db: Database, article_id: int) -> GrowthCause | None:
    """The stored article and its hits, as an alert about it quotes them."""
    row = get_article(db, article_id)
    if row is None:
        return None
    article = NewArticle(
        url=row["url"],
        canonical_url=row["canonical_url"],
        source=row["source"],
        title=row["title"] or "",
        text=row["text"] or "",
        published=row["published"],
        guid=row["guid"],
        feed_id=row["feed_id"],
        author=row["author"],
        language=row["language"],
    )
    quotes = tuple(
        Quote(
            Match(m["rule"], m["keyword"], m["field"], m["start"], m["end"], m["surface"]),
            m["snippet"],
        )
        for m in article_matches(db, article_id)
    )
    return GrowthCause(article, quotes, article_id)


def _model() -> str:
    """The engine's model id (imported late: the daemon imports the engine only to link)."""
    from marsad.crosslingual.profile import MODEL_ID

    return MODEL_ID


def _since(now: str, window: float) -> str:
    return to_iso(from_iso(now) - timedelta(seconds=window))


def store_path_of(db: Database) -> str:
    """The file of the store's main database."""
    for row in db.execute("PRAGMA database_list").fetchall():
        if row[1] == "main":
            return str(row[2])
    return ""


# -- the daemon's job, and the pass after a crawl or an import -----------------------------------


async def crosslingual_job(ctx: JobContext, linker: Linker) -> LinkReport | None:
    """One pass (at most JOB_SECONDS), then delivery of what it let through. Registered as in
    flight, so a graceful stop waits for the batch in hand."""
    if ctx.stopping.is_set():
        return None
    task = asyncio.current_task()
    if task is not None:
        ctx.inflight.add(task)
    try:
        report = await linker.run(
            ctx.config.crosslingual, seconds=JOB_SECONDS, stop=ctx.stopping, rules=ctx.rules
        )
    except Exception:
        log.exception("cross-lingual pass failed; its articles are checked at the next pass")
        return None
    finally:
        if task is not None:
            ctx.inflight.discard(task)
    if report.checked or report.linked:
        log.log(logging.INFO if report.linked else logging.DEBUG, "%s", report.summary())
        if not ctx.stopping.is_set():
            from marsad.scheduler.jobs import deliver_pending

            await deliver_pending(ctx)
    return report


def prepare_crawl(ctx: JobContext) -> None:
    """Before ``marsad crawl`` crawls: say in the store whether linking is on, so the alerts
    the crawl queues wait for their check (the pass after the crawl does it)."""
    try:
        Linker(ctx.db, str(ctx.config.store_path), LinkWorker()).sync_state(ctx.config.crosslingual)
    except StoreBusy as exc:
        log.warning("cross-lingual state not written: %s", exc)


async def link_after_crawl(ctx: JobContext) -> LinkReport | None:
    """After ``marsad crawl``: a pass (at most CRAWL_SECONDS) in a worker process, then
    delivery of the alerts it let through."""
    linker = Linker(ctx.db, str(ctx.config.store_path), LinkWorker())
    try:
        report = await linker.run(ctx.config.crosslingual, seconds=CRAWL_SECONDS, rules=ctx.rules)
    except Exception:
        log.exception("cross-lingual pass failed; `marsad link` or the daemon checks them later")
        return None
    finally:
        linker.worker.close()
    if report.active:
        log.info("%s", report.summary())
    if report.checked:
        from marsad.scheduler.jobs import deliver_pending

        await deliver_pending(ctx)
    return report


def link_now(
    db: Database,
    config: CrossLingualConfig,
    *,
    seconds: float | None = None,
    limit: int | None = None,
    rules: RuleIndex | None = None,
) -> LinkReport:
    """A pass in this process (``marsad link``, the end of ``marsad import``): the model
    loads here if there is work."""
    linker = Linker(db, store_path_of(db), LinkWorker(inline=True, db=db))
    try:
        return asyncio.run(linker.run(config, seconds=seconds, limit=limit, rules=rules))
    finally:
        forget_index(linker.store_path, db)


def after_import(
    config: CrossLingualConfig, rules: RuleIndex | None = None
) -> Callable[[Database], LinkReport]:
    """What ``marsad import`` runs once its articles are committed
    (:func:`marsad.ingest.importer.import_file`'s ``after``): a pass of at most
    IMPORT_SECONDS; the daemon or ``marsad link`` checks what is left. ``rules``: those the
    import raised alerts with (None with ``--no-alerts``)."""

    def run(db: Database) -> LinkReport:
        report = link_now(db, config, seconds=IMPORT_SECONDS, rules=rules)
        if report.active:
            log.info("%s", report.summary())
        return report

    return run
