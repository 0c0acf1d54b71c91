"""``marsad status``: is a daemon watching this store, is it ready, and how is the watch going.

Read from outside the daemon, so it works from cron and from another user's shell: the store's
daemon lock and runtime file (:mod:`marsad.storage.status`), the daemon's /readyz probe, and the
store itself on a read-only connection.
"""

from __future__ import annotations

import json
import os
import sqlite3
import urllib.error
import urllib.request
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from marsad.cli.common import emit_json, json_option, resolve_config, store_options
from marsad.storage.status import (
    daemon_lock_held,
    daemon_lock_pid,
    feeds_by_health,
    last_crawl_at,
    next_polls,
    open_reader,
    outbox_summary,
    read_runtime,
)
from marsad.times import format_duration, from_iso, to_iso

if TYPE_CHECKING:
    from sqlite_utils import Database

STATUS_READY = 0
STATUS_NOT_RUNNING = 1
STATUS_NOT_READY = 3
PROBE_TIMEOUT = 5.0
NEXT_POLLS_SHOWN = 5


@click.command("status")
@store_options
@json_option
def status_command(config_path: str | None, db_path: str | None, as_json: bool) -> None:
    """Whether a daemon (`marsad run`) watches the store, since when, whether it is ready, and
    the watch: last crawl, next polls, the outbox (pending, due, held for digests, dead),
    cross-lingual linking (checked, linked, left to check, alerts waiting for their check),
    failing and silent feeds. With [cluster]: each role's heartbeat and figures, the fetchers
    alive and the queues (the daemon is then the writer, `marsad run --role writer`).

    \b
    Exit codes, for cron jobs and scripts:
      0  a daemon runs on this store and its /readyz passes
         (or it serves no probes: [http] listen = "off")
      1  no daemon runs on this store
      2  usage or configuration error
      3  a daemon runs but is not ready: /readyz fails or does not
         answer, or it is starting or stopping
    """
    config = resolve_config(config_path, db_path)
    report = gather_status(config.store_path)
    if config.cluster is not None:
        from marsad.scheduler.cluster.status import cluster_status

        report["cluster"] = cluster_status(config.cluster)
    if as_json:
        emit_json(report)
    else:
        for line in describe(report):
            click.echo(line)
    raise SystemExit(report["exit_code"])


def gather_status(store_path: Path, now: datetime | None = None) -> dict[str, Any]:
    """Everything ``marsad status`` reports, as one JSON-ready mapping."""
    now = now or datetime.now(UTC)
    store = store_path.resolve()
    report: dict[str, Any] = {"store": str(store), "now": to_iso(now)}
    held = store.exists() and daemon_lock_held(store)
    runtime = read_runtime(store)
    pid = daemon_lock_pid(store)
    # A forked child inherits the lock's descriptor: the lock alone does not prove the daemon.
    running = held and pid is not None and pid_alive(pid)
    daemon: dict[str, Any] = {"running": running, "pid": pid if running else None}
    if held and not running:
        daemon["lock"] = f"held, but its pid {pid} is gone (a leftover child process holds it?)"
    if runtime is not None and runtime.get("pid") == pid and running:
        daemon["started_at"] = runtime.get("started_at")
        daemon["probe_url"] = runtime.get("probe_url")
        started = runtime.get("started_at")
        if isinstance(started, str):
            daemon["up_seconds"] = max(0, int((now - from_iso(started)).total_seconds()))
    elif running:
        daemon["phase"] = "starting or stopping (no runtime file yet or any more)"
    elif runtime is not None:
        daemon["last_run"] = {"pid": runtime.get("pid"), "started_at": runtime.get("started_at")}
    report["daemon"] = daemon
    report["probe"] = _probe(daemon.get("probe_url")) if "probe_url" in daemon else None
    report["watch"] = _watch(store, now) if store.exists() else None
    report["exit_code"] = _exit_code(daemon, report["probe"])
    return report


def _probe(url: object) -> dict[str, Any]:
    if not isinstance(url, str):
        return {"url": None, "ready": None, "detail": 'no probes ([http] listen = "off")'}
    target = f"{url}/readyz"
    try:
        with urllib.request.urlopen(target, timeout=PROBE_TIMEOUT) as answer:
            return {"url": target, "ready": True, "checks": _checks(answer.read())}
    except urllib.error.HTTPError as exc:
        return {
            "url": target,
            "ready": False,
            "status": exc.code,
            "checks": _checks(exc.read()),
        }
    except (OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        return {"url": target, "ready": False, "detail": f"no answer: {reason}"}


def _checks(body: bytes) -> dict[str, Any]:
    try:
        value = json.loads(body)
    except ValueError:
        return {}
    checks = value.get("checks") if isinstance(value, dict) else None
    return checks if isinstance(checks, dict) else {}


def _watch(store: Path, now: datetime) -> dict[str, Any]:
    try:
        db = open_reader(store)
    except Exception as exc:
        return {"error": f"cannot read the store: {exc}"}
    try:
        outbox = outbox_summary(db, to_iso(now))
        failing = feeds_by_health(db, "failing")
        silent = feeds_by_health(db, "silent")
        return {
            "last_crawl_at": last_crawl_at(db),
            "next_polls": next_polls(db, NEXT_POLLS_SHOWN),
            "outbox": asdict(outbox),
            "failing": [_feed(row) for row in failing],
            "silent": [_feed(row) for row in silent],
            "crosslingual": _linking(db, now),
        }
    except Exception as exc:  # an old store, a schema mid-migration
        return {"error": f"cannot read the store: {exc}"}
    finally:
        db.close()


def _linking(db: Database, now: datetime) -> dict[str, Any] | None:
    """Cross-lingual linking (#17): on since when, what is checked and linked, what waits.
    None where it was never on (no state row) or the store predates it."""
    from marsad.crosslingual.profile import MODEL_ID
    from marsad.storage import crosslingual as xl

    try:
        state = xl.read_state(db)
        if state is None:
            return None
        since = to_iso(now - timedelta(seconds=state.window))
        return {
            "active_since": state.active_since,
            "window_seconds": state.window,
            "hold_seconds": state.hold,
            "profiles": xl.count_profiles(db),
            "links": xl.count_links(db),
            "to_check": xl.count_to_check(db, since, model=MODEL_ID) if state.active_since else 0,
            "alerts_waiting": xl.count_waiting_for_check(db, to_iso(now)),
        }
    except sqlite3.OperationalError:  # a store from before #17
        return None


def _feed(row: dict[str, Any]) -> dict[str, Any]:
    keys = (
        "name",
        "health",
        "health_since",
        "consecutive_failures",
        "last_error",
        "last_success_at",
        "last_new_item_at",
        "backoff_until",
    )
    return {key: row[key] for key in keys if key in row}


def _describe_linking(linking: dict[str, Any]) -> str:
    profiles: dict[str, int] = linking["profiles"]
    checked = sum(profiles.values())
    other = sum(n for language, n in profiles.items() if language not in ("ar", "none"))
    done = (
        f"{checked:,} articles checked ({other:,} not Arabic), "
        f"{linking['links']:,} translations linked"
    )
    if not linking["active_since"]:
        return f"cross-lingual: off (no article in another language in the window); {done}"
    waiting = linking["alerts_waiting"]
    held = f", {waiting} alert{'s' * (waiting != 1)} waiting for the check" if waiting else ""
    return (
        f"cross-lingual: on since {linking['active_since']} "
        f"(window {format_duration(linking['window_seconds'])}); {done}, "
        f"{linking['to_check']:,} to check{held}"
    )


def _exit_code(daemon: dict[str, Any], probe: dict[str, Any] | None) -> int:
    if not daemon["running"]:
        return STATUS_NOT_RUNNING
    if probe is None:  # starting or stopping
        return STATUS_NOT_READY
    if probe["ready"] is None:  # no probes to ask
        return STATUS_READY
    return STATUS_READY if probe["ready"] else STATUS_NOT_READY


def describe(report: dict[str, Any]) -> list[str]:
    """The report for people, a line per fact."""
    lines: list[str] = []
    daemon, probe, watch = report["daemon"], report["probe"], report["watch"]
    if daemon["running"]:
        since = daemon.get("started_at")
        up = daemon.get("up_seconds")
        when = f" since {since} ({_span(up)})" if since and up is not None else ""
        phase = f"; {daemon['phase']}" if "phase" in daemon else ""
        lines.append(f"daemon: running, pid {daemon['pid']}{when}{phase}")
    else:
        last = daemon.get("last_run")
        before = f" (last: pid {last['pid']}, started {last['started_at']})" if last else ""
        lines.append(f"daemon: not running on {report['store']}{before}")
    if probe is not None:
        if probe["ready"] is True:
            lines.append(f"ready: yes ({probe['url']})")
        elif probe["ready"] is None:
            lines.append(f"ready: unknown, {probe['detail']}")
        else:
            failed = [
                f"{name}: {check.get('detail', 'failed')}"
                for name, check in probe.get("checks", {}).items()
                if isinstance(check, dict) and not check.get("ok")
            ]
            why = "; ".join(failed) or probe.get("detail", "failed")
            lines.append(f"ready: NO ({why})")
    if watch is None:
        lines.append(f"store: none at {report['store']}")
        return lines
    if "error" in watch:
        lines.append(f"store: {watch['error']}")
        return lines
    lines.append(f"last crawl: {watch['last_crawl_at'] or 'never'}")
    polls = ", ".join(f"{p['name']} {p['next_poll_at']}" for p in watch["next_polls"])
    lines.append(f"next polls: {polls or 'none recorded'}")
    outbox = watch["outbox"]
    oldest = outbox["oldest_due_at"]
    due = f", {outbox['due']} due (since {oldest})" if outbox["due"] else ""
    # Held alerts are said only where a channel has a digest (elsewhere there are none).
    held = f", {outbox['held']} held for digests" if outbox.get("held") else ""
    lines.append(f"outbox: {outbox['pending']} pending{due}{held}, {outbox['dead']} dead")
    if "cluster" in report:
        from marsad.scheduler.cluster.status import describe_cluster

        lines.extend(describe_cluster(report["cluster"]))
    linking = watch.get("crosslingual")
    if linking is not None:
        lines.append(_describe_linking(linking))
    for label in ("failing", "silent"):
        feeds = watch[label]
        lines.append(f"{label} feeds: {len(feeds)}")
        for feed in feeds:
            since = feed.get("health_since") or "?"
            about = feed.get("last_error") if label == "failing" else None
            extra = f": {about}" if about else ""
            lines.append(f"  {feed['name']} (since {since}){extra}")
    return lines


def _span(seconds: int) -> str:
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"up {days}d {hours}h"
    if hours:
        return f"up {hours}h {minutes}m"
    return f"up {minutes}m {secs}s"


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True
