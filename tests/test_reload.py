"""SIGHUP reloads the config: the plan (pure) and a real daemon subprocess receiving signals."""

from __future__ import annotations

import json
import os
import signal
import subprocess
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from marsad.config import config_from_document
from marsad.demo.loopback import LoopbackServer
from marsad.scheduler.reload import plan_reload, reload_problem
from tests.daemonproc import stop_daemon
from tests.feedserver import FeedServer, numbered_page, numbered_title
from tests.test_daemon import MARSAD, SECRET, rows, wait_for

# --- the plan ------------------------------------------------------------------------------------

BASE = {
    "store": {"path": "/tmp/never-opened.db"},
    "feeds": [
        {"name": "a", "url": "https://a.example/rss"},
        {"name": "b", "url": "https://b.example/rss", "every": "5m"},
    ],
    "rules": [{"name": "r", "keywords": ["زلزال"], "channels": ["hook"]}],
    "channels": {"hook": {"type": "webhook", "url": "https://hooks.example/x"}},
}


def test_an_unchanged_config_plans_nothing() -> None:
    plan = plan_reload(config_from_document(BASE), config_from_document(BASE))
    assert not plan.applies_anything and plan.needs_restart == ()
    assert plan.summary() == "config reloaded: nothing changed"


def test_feeds_added_changed_and_removed_are_told_apart() -> None:
    running = config_from_document(BASE)
    read = config_from_document(
        {
            **BASE,
            "feeds": [
                {"name": "b", "url": "https://b.example/rss", "every": "10m"},
                {"name": "c", "url": "https://c.example/rss"},
            ],
        }
    )
    plan = plan_reload(running, read)
    assert [f.name for f in plan.feeds_added] == ["c"]
    assert [(f.name, f.every) for f in plan.feeds_changed] == [("b", 600.0)]
    assert plan.feeds_removed == ("a",)
    assert not plan.rules_changed and not plan.delivery_changed
    assert plan.summary() == (
        "config reloaded: feeds added: c; feeds changed: b; feeds removed (retired): a"
    )


def test_rules_channels_and_delivery_take_effect_and_crawl_and_store_wait_for_a_restart() -> None:
    running = config_from_document(BASE)
    read = config_from_document(
        {
            **BASE,
            "store": {"path": "/tmp/elsewhere.db"},
            "crawl": {"delay": "3s"},
            "rules": [{"name": "r", "keywords": ["فيضان"], "channels": ["hook"]}],
            "channels": {"hook": {"type": "webhook", "url": "https://hooks.example/y"}},
            "delivery": {"every": "30s"},
            "alerts": {"window": "1d"},
            "http": {"listen": "off"},
            "polling": {"max_interval": "2h"},
        }
    )
    plan = plan_reload(running, read)
    assert plan.rules_changed and plan.delivery_changed and plan.delivery_every_changed
    assert plan.needs_restart == ("[store] path", "[crawl]", "[http]")
    assert plan.sections_changed == ("[polling]",)
    # What waits for a restart keeps its running value; the rest is the new config.
    assert plan.config.store_path == running.store_path
    assert plan.config.crawl == running.crawl
    assert plan.config.rules == read.rules and plan.config.delivery.every == 30.0
    assert plan.summary().endswith(
        "[polling] changed; changed but kept until a restart: [store] path, [crawl], [http]"
    )


def test_a_config_the_daemon_cannot_run_on_is_refused_in_one_line(tmp_path: Path) -> None:
    path = tmp_path / "marsad.toml"
    unsigned = config_from_document(
        {
            **BASE,
            "channels": {
                "hook": {"type": "webhook", "url": "https://h.example/", "secret_env": "NOPE_X"}
            },
        },
        environ={},
        source_path=path,
    )
    assert reload_problem(unsigned) == (
        f"{path}: channels.hook: environment variable NOPE_X is not set (the daemon's "
        "environment is the one it started with)"
    )
    no_feeds = replace(config_from_document(BASE), feeds=(), source_path=path)
    assert reload_problem(no_feeds) == f"{path}: no [[feeds]]: nothing to watch"
    assert reload_problem(config_from_document(BASE)) is None


# --- a real daemon -------------------------------------------------------------------------------

QUAKE = "زلزال يضرب المدينة الساحلية"
FLOOD = "فيضان يغمر الوادي الشرقي"


def serve_feed(server: FeedServer, prefix: str, titled: dict[int, str]) -> str:
    """An RSS feed at ``{prefix}/feed.xml`` whose entry ``n`` links to a page titled
    ``titled[n]`` (numbered pages: no two are copies); return its URL."""
    items = ""
    for n, title in titled.items():
        server.serve(f"{prefix}/{n}.html", numbered_page(n).replace(numbered_title(n), title))
        items += (
            f"<item><title>{title}</title><link>{{base}}{prefix}/{n}.html</link>"
            f'<guid isPermaLink="false">{prefix.strip("/")}-{n}</guid></item>'
        )
    return server.serve(
        f"{prefix}/feed.xml",
        f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>t</title>'
        f"{items}</channel></rss>",
        "application/rss+xml; charset=utf-8",
    )


def daemon_config(feeds: dict[str, str], keyword: str, rule: str, hook: str) -> str:
    tables = "".join(
        f'[[feeds]]\nname = "{name}"\nurl = "{url}"\nevery = "10s"\n\n'
        for name, url in feeds.items()
    )
    return f"""
[store]
path = "store.db"
[crawl]
delay = 0
download_timeout = "5s"
allow_private = ["127.0.0.0/8"]
[alerts]
window = "off"
[delivery]
every = "10s"

{tables}
[[rules]]
name = "{rule}"
keywords = ["{keyword}"]
channels = ["hook"]

[channels.hook]
type = "webhook"
url = "{hook}/hook"
secret_env = "TEST_WEBHOOK_SECRET"
"""


@pytest.fixture
def sinks() -> Iterator[tuple[LoopbackServer, LoopbackServer]]:
    first, second = LoopbackServer(), LoopbackServer()
    yield first, second
    first.close()
    second.close()


def stop(daemon: subprocess.Popen[str]) -> None:
    if daemon.poll() is None:
        stop_daemon(daemon)


@pytest.mark.slow
def test_sighup_adds_a_feed_drops_another_and_takes_new_rules_and_channels(
    tmp_path: Path, sinks: tuple[LoopbackServer, LoopbackServer]
) -> None:
    first_sink, second_sink = sinks
    store, log = tmp_path / "store.db", tmp_path / "run.log"
    config = tmp_path / "marsad.toml"
    with FeedServer() as site:
        a = serve_feed(site, "/a", {1: QUAKE})
        b = serve_feed(site, "/b", {2: "افتتاح معرض الكتاب في دورته الجديدة"})
        c = serve_feed(site, "/c", {3: FLOOD, 4: "أمطار غزيرة تغلق الطرق"})
        config.write_text(
            daemon_config({"a": a, "b": b}, "زلزال", "quake", first_sink.base_url), "utf-8"
        )
        with log.open("w", encoding="utf-8") as out:
            daemon = subprocess.Popen(
                [*MARSAD, "run", "--config", str(config)],
                cwd=tmp_path,
                env={**os.environ, "TEST_WEBHOOK_SECRET": SECRET},
                stdout=out,
                stderr=subprocess.STDOUT,
                text=True,
            )
        try:
            wait_for(lambda: len(rows(store, "SELECT 1 FROM articles")) == 2, 30, "a's and b's")
            wait_for(first_sink.received, 30, "the quake alert at the first sink")

            # a dropped, c added; the rule and the channel's URL changed. Two SIGHUPs in a
            # row: one reload, or two (the second finds nothing to do), never two at once.
            config.write_text(
                daemon_config({"b": b, "c": c}, "فيضان", "flood", second_sink.base_url), "utf-8"
            )
            daemon.send_signal(signal.SIGHUP)
            daemon.send_signal(signal.SIGHUP)
            wait_for(lambda: "config reloaded: feeds added" in log.read_text(), 20, "the reload")
            site.clear_log()
            wait_for(lambda: len(rows(store, "SELECT 1 FROM articles")) == 4, 30, "c's articles")
            wait_for(second_sink.received, 30, "the flood alert at the second sink")
            [alert] = [json.loads(r.body) for r in second_sink.received()]
            assert alert["rule"] == "flood" and alert["article"]["title"] == FLOOD
            assert len(first_sink.received()) == 1

            # An invalid config: one line naming the file and the key; the daemon goes on.
            config.write_text(
                daemon_config({"b": b, "c": c}, "فيضان", "flood", second_sink.base_url)
                + '[[feeds]]\nname = "d"\nurl = "gopher://d"\n',
                "utf-8",
            )
            daemon.send_signal(signal.SIGHUP)
            wait_for(lambda: "config not reloaded" in log.read_text(), 20, "the refusal")
            # b polled again since the reload (10 s apart): a was not, it is retired.
            wait_for(lambda: "/b/feed.xml" in site.paths(), 30, "b's next poll")
            assert "/a/feed.xml" not in site.paths()
            assert daemon.poll() is None, log.read_text()
        finally:
            stop(daemon)
    output = log.read_text()
    assert daemon.returncode == 0, output
    assert "marsad stopped" in output
    assert "Traceback" not in output
    # APScheduler's per-job lines are DEBUG's; the first round's progress is said.
    assert "Running job" not in output and "executed successfully" not in output
    assert "first round of polls done: 2/2 feeds" in output
    [refusal] = [line for line in output.splitlines() if "config not reloaded" in line]
    assert f"{config}: feeds[2] 'd'.url: must be an http(s) URL" in refusal
    # One line says what a reload changed.
    assert "feeds no longer in the config" not in output
    reloads = [line for line in output.splitlines() if "config reloaded" in line]
    assert reloads[0].endswith(
        "config reloaded: feeds added: c; feeds removed (retired): a; rules recompiled (1); "
        "channels or [delivery] changed (1 channels)"
    )
    assert len(reloads) in (1, 2) and all("nothing changed" in r for r in reloads[1:])
    assert rows(store, "SELECT name, next_poll_at FROM feeds WHERE retired_at IS NOT NULL") == [
        ("a", None)
    ]
    assert rows(store, "SELECT DISTINCT rule FROM matches ORDER BY rule") == [
        ("flood",),
        ("quake",),
    ]
    config.write_text(
        daemon_config({"b": b, "c": c}, "فيضان", "flood", second_sink.base_url), "utf-8"
    )
    listed = subprocess.run(
        [*MARSAD, "feeds", "--config", str(config), "--json"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert {f["name"]: f["state"] for f in json.loads(listed.stdout)}["a"] == "retired"
