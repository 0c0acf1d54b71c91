"""The daemon's daily prune: its schedule (and the environment knob that shortens it for tests),
off when nothing expires, and a real daemon pruning an old story that `marsad show` still finds."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
from pathlib import Path

import pytest

from marsad.scheduler.maintenance import (
    EVERY_ENV,
    EVERY_SECONDS,
    FIRST_ENV,
    FIRST_SECONDS,
    PruneSchedule,
    prune_schedule,
    prune_wanted,
)
from marsad.storage.retention import Retention
from tests.daemonproc import stop_daemon
from tests.feedserver import FeedServer
from tests.test_daemon import MARSAD, rows, wait_for
from tests.test_retention import OLD_URL, fill_archive

PRUNED = "SELECT count(*) FROM articles WHERE pruned_at IS NOT NULL"


def test_the_prune_runs_an_hour_after_the_start_then_daily_unless_the_environment_says() -> None:
    assert prune_schedule({}) == PruneSchedule(FIRST_SECONDS, EVERY_SECONDS)
    assert (FIRST_SECONDS, EVERY_SECONDS) == (3600.0, 86400.0)
    assert prune_schedule({FIRST_ENV: "2", EVERY_ENV: " 30 "}) == PruneSchedule(2.0, 30.0)
    for bad in ("0", "-1", "soon", "nan"):
        with pytest.raises(ValueError, match=f"{FIRST_ENV}: must be a number of seconds"):
            prune_schedule({FIRST_ENV: bad})


def test_there_is_no_prune_when_every_kind_is_kept_for_ever() -> None:
    assert prune_wanted(Retention())
    assert prune_wanted(Retention(bodies=None, sightings=None, deliveries=None))
    assert not prune_wanted(
        Retention(bodies=None, sightings=None, deliveries=None, fetch_history=None)
    )


def test_the_prune_job_runs_in_a_thread_and_stops_once_the_daemon_stops(tmp_path: Path) -> None:
    from marsad.config import load_config
    from marsad.scheduler.jobs import JobContext
    from marsad.scheduler.maintenance import prune_job

    config = load_config(fill_archive(tmp_path))
    # The prune needs only the config and the stop flag: it opens a connection of its own.
    ctx = JobContext(config=config, engine=None, db=None, rules=None, delivery=None)  # type: ignore[arg-type]

    async def stopped_first() -> object:
        ctx.stopping.set()
        return await prune_job(ctx)

    async def running() -> object:
        ctx.stopping.clear()
        report = await prune_job(ctx)
        assert not ctx.inflight  # it was tracked while it ran, then let go
        return report

    assert asyncio.run(stopped_first()) is None
    assert rows(
        tmp_path / "store.db", "SELECT count(*) FROM articles WHERE pruned_at IS NOT NULL"
    ) == [(0,)]
    report = asyncio.run(running())
    assert report is not None and report.articles == 3 and report.complete


@pytest.mark.slow
def test_the_daemon_prunes_old_bodies_and_show_still_finds_the_story(tmp_path: Path) -> None:
    config = fill_archive(tmp_path)  # stories of 2020, due under the default [retention]
    log = tmp_path / "run.log"
    with FeedServer() as site:
        with config.open("a", encoding="utf-8") as out:
            out.write(
                '\n[crawl]\ndelay = 0\nallow_private = ["127.0.0.0/8"]\nworkers = 0\n'
                f'[[feeds]]\nname = "live"\nurl = "{site.serve_numbered(1)}"\nevery = "1h"\n'
            )
        with log.open("w", encoding="utf-8") as out:
            daemon = subprocess.Popen(
                [*MARSAD, "run", "--config", str(config)],
                cwd=tmp_path,
                env={**os.environ, FIRST_ENV: "1", EVERY_ENV: "3600"},
                stdout=out,
                stderr=subprocess.STDOUT,
                text=True,
            )
        try:
            wait_for(lambda: "pruned the bodies of" in log.read_text(), 30, "the daemon's prune")
        finally:
            stop_daemon(daemon)
    output = log.read_text()
    assert daemon.returncode == 0, output
    [summary] = [line for line in output.splitlines() if "pruned the bodies of" in line]
    assert "marsad.prune: pruned the bodies of 3 articles (2 stories), 1 sightings" in summary
    assert "the longest holding the write lock" in summary
    assert rows(tmp_path / "store.db", PRUNED) == [(3,)]
    shown = subprocess.run(
        [*MARSAD, "show", OLD_URL, "--config", str(config), "--json"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert shown.returncode == 0, shown.stderr
    record = json.loads(shown.stdout)
    assert record["article"]["text"] == "" and record["article"]["pruned_at"] is not None
    assert record["story"]["title"] == "خطة لتوسيع النقل العام"
