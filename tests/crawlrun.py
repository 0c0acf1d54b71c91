"""Run crawls in a fresh process, the way the daemon does: asyncio reactor installed first, one
store opened and its feeds registered once, one crawl engine started once, ``engine.crawl``
awaited once per crawl. Prints the reports as JSON.

``python tests/crawlrun.py SPEC.json`` where the spec holds ``store``, ``crawls`` (how many in a
row on the same runner), ``feeds``, ``crawl`` (CrawlConfig fields), ``rules`` and optionally
``spiders`` (the registry of spiders by kind, instead of marsad.crawler.spiders.SPIDERS; run as
``python -m tests.crawlrun`` from the repository when it names spiders under ``tests``) and
``force`` (fetch feeds that back off). Instead of ``crawls``, ``steps`` runs several in turn in
the one process, each ``{"crawls": N, "force": bool, "sql": [statements run on the store
first], "feeds": [the config's feeds from now on: registered again, as at a restart]}`` or
``{"together": [[feed names], ...]}``: one poll per list, all at once (a report each, in order).
``crawl.workers`` is 0 unless the spec says otherwise: pages are extracted in the crawl's own
process (a test of the worker processes asks for them).
Tests call :func:`crawl_in_subprocess`; importing this module installs no reactor (:func:`run`
does, in the crawl's own process).
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Any


async def main(spec: dict[str, Any]) -> list[dict[str, Any]]:
    # Imported here, after run() installed the reactor (as the daemon does), so that a test
    # importing crawl_in_subprocess from this module installs nothing.
    from marsad.alerts.matching import compile_rules
    from marsad.alerts.rules import Rule
    from marsad.crawler.config import CrawlConfig, FeedConfig
    from marsad.crawler.engine import CrawlEngine
    from marsad.crawler.runner import register_feeds
    from marsad.crawler.spiders import SPIDERS
    from marsad.storage.db import open_store
    from marsad.times import utc_now

    # JSON has no tuples; CrawlConfig's sequences are tuples.
    crawl = CrawlConfig(
        **{
            "workers": 0,
            **{k: tuple(v) if isinstance(v, list) else v for k, v in spec["crawl"].items()},
        }
    )
    feeds = [FeedConfig(**f) for f in spec["feeds"]]
    rules = compile_rules(
        Rule(r["name"], tuple(r["keywords"]), tuple(r["channels"])) for r in spec["rules"]
    )
    spiders = spec.get("spiders", SPIDERS)
    steps = spec.get("steps") or [{"crawls": spec["crawls"], "force": spec.get("force", False)}]
    db = open_store(Path(spec["store"]))
    engine = CrawlEngine(db=db, rules=rules, crawl=crawl, spiders=spiders)
    try:
        await engine.start()
        reports = []
        registered: list[FeedConfig] | None = None
        for step in steps:
            for statement in step.get("sql", []):
                db.execute(statement)
            if "feeds" in step:
                feeds = [FeedConfig(**f) for f in step["feeds"]]
            if feeds != registered:  # at start, and when a step changes the config's feeds
                register_feeds(db, feeds, utc_now())
                registered = feeds
            if "together" in step:  # polls of some feeds each, all at once on the one engine
                by_name = {feed.name: feed for feed in feeds}
                together = await asyncio.gather(
                    *(engine.crawl([by_name[n] for n in names]) for names in step["together"])
                )
                reports.extend(asdict(report) for report in together)
                continue
            for _ in range(step.get("crawls", 1)):
                report = await engine.crawl(feeds, force=step.get("force", False))
                reports.append(asdict(report))
    finally:
        try:
            await engine.stop()
        finally:
            db.close()
    return reports


def run(spec: dict[str, Any]) -> list[dict[str, Any]]:
    from scrapy.utils.reactor import install_reactor

    install_reactor("twisted.internet.asyncioreactor.AsyncioSelectorReactor")
    from scrapy.utils.defer import deferred_from_coro
    from twisted.internet import reactor as installed

    reactor: Any = installed  # the asyncio reactor installed above; Twisted's stub is untyped

    result: list[list[dict[str, Any]]] = []
    failure: list[BaseException] = []

    def done(value: Any) -> None:
        if isinstance(value, list):
            result.append(value)
        else:
            failure.append(value.value)
        reactor.stop()

    deferred_from_coro(main(spec)).addBoth(done)
    reactor.run()
    if failure:
        raise failure[0]
    return result[0]


def crawl_in_subprocess(
    spec: dict[str, Any], workdir: Path, *, timeout: float = 90.0
) -> list[dict[str, Any]]:
    """Run ``spec`` in a fresh process (as a module, from the repository, so specs may name
    spiders under ``tests``) and return its reports; fail with its stderr if it fails."""
    spec_path = workdir / "spec.json"
    spec_path.write_text(json.dumps(spec, ensure_ascii=False), encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-m", "tests.crawlrun", str(spec_path)],
        cwd=Path(__file__).resolve().parents[1],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    reports: list[dict[str, Any]] = json.loads(done.stdout)
    return reports


if __name__ == "__main__":
    print(json.dumps(run(json.loads(Path(sys.argv[1]).read_text()))))
