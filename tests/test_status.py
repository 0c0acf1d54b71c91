"""``marsad status`` with and without a daemon on the store, as a real command."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from marsad.cli.status import describe, gather_status
from marsad.storage.daemon_lock import DaemonLock
from marsad.storage.db import open_store
from marsad.storage.status import runtime_path, write_runtime
from tests.test_probes import (
    MARSAD,
    Daemon,
    GatedSite,
    ReadOnly,
    config_text,
    daemons,
    site,
    wait_for,
)

__all__ = ["daemons", "site"]  # fixtures used here


def status(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*MARSAD, "status", *args], cwd=cwd, capture_output=True, text=True, timeout=60
    )


def test_status_without_a_store_or_a_daemon(tmp_path: Path) -> None:
    missing = tmp_path / "none.db"
    lines = describe(gather_status(missing))
    assert lines == [f"daemon: not running on {missing}", f"store: none at {missing}"]

    open_store(tmp_path / "store.db").close()
    result = status("--db", str(tmp_path / "store.db"), "--json", cwd=tmp_path)
    assert result.returncode == 1, result.stderr
    report = json.loads(result.stdout)
    assert report["daemon"] == {"running": False, "pid": None}
    assert report["probe"] is None
    assert report["watch"]["last_crawl_at"] is None
    assert report["watch"]["outbox"]["pending"] == 0
    assert report["exit_code"] == 1


@pytest.mark.slow
def test_status_of_a_running_daemon_and_after_it_stops(
    tmp_path: Path, site: GatedSite, daemons: list[Daemon]
) -> None:
    feeds = {"news": site.feed("/news.xml", "one"), "gone": site.base + "/gone.xml"}
    daemon = Daemon(tmp_path, config_text(feeds))
    daemons.append(daemon)
    info = daemon.runtime()
    wait_for(lambda: "/gone.xml" in site.requested, 10, "the feeds polled")
    report = wait_for(
        lambda: (r := gather_status(daemon.store))["exit_code"] == 0 and r, 10, "ready"
    )
    assert report["daemon"]["pid"] == daemon.process.pid
    assert report["daemon"]["started_at"] == info["started_at"]
    assert report["probe"]["ready"] is True

    text = status(cwd=tmp_path)
    assert text.returncode == 0, text.stderr
    lines = text.stdout.splitlines()
    assert lines[0].startswith(f"daemon: running, pid {daemon.process.pid} since ")
    assert lines[1] == f"ready: yes ({info['probe_url']}/readyz)"
    assert any(line.startswith("last crawl: 20") for line in lines)
    assert any(line.startswith("next polls: ") and "news" in line for line in lines)

    with ReadOnly(daemon.store):
        report = gather_status(daemon.store)
    assert report["exit_code"] == 3
    assert any(line.startswith("ready: NO (store: not writable: ") for line in describe(report))

    assert daemon.stop() == 0, daemon.output
    after = status(cwd=tmp_path)
    assert after.returncode == 1
    assert after.stdout.startswith("daemon: not running on ")


def test_status_of_a_daemon_without_probes_and_of_one_starting(tmp_path: Path) -> None:
    # This process plays the daemon: it holds the store's lock and writes the runtime file.
    store = tmp_path / "store.db"
    open_store(store).close()
    with DaemonLock.acquire(store):
        write_runtime(
            store, {"pid": os.getpid(), "started_at": "2026-01-01T00:00:00Z", "probe_url": None}
        )
        report = gather_status(store)
        assert report["exit_code"] == 0
        assert report["daemon"]["pid"] == os.getpid()
        assert 'ready: unknown, no probes ([http] listen = "off")' in describe(report)

        runtime_path(store).unlink()  # before the daemon wrote it, or after it removed it
        report = gather_status(store)
        assert report["exit_code"] == 3
        assert describe(report)[0].endswith(
            "starting or stopping (no runtime file yet or any more)"
        )
    report = gather_status(store)
    assert report["exit_code"] == 1
