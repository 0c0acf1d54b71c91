"""Run crawls in a fresh process, the way the daemon does: asyncio reactor installed first, one
store opened and its feeds registered once, one long-lived runner, ``crawl_feeds`` awaited once
per crawl. Prints the reports as JSON.

``python tests/crawlrun.py SPEC.json`` where the spec holds ``store``, ``crawls`` (how many in a
row on the same runner), ``feeds``, ``crawl`` (CrawlConfig fields), ``rules`` and optionally
``spiders`` (the registry of spiders by kind, instead of marsad.crawler.spiders.SPIDERS; run as
``python -m tests.crawlrun`` from the repository when it names spiders under ``tests``).
"""

from __future__ import annotations

import json
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Any

from scrapy.utils.reactor import install_reactor

install_reactor("twisted.internet.asyncioreactor.AsyncioSelectorReactor")

from marsad.alerts.matching import compile_rules  # noqa: E402  (after the reactor, as the daemon)
from marsad.alerts.rules import Rule  # noqa: E402
from marsad.crawler.config import CrawlConfig, FeedConfig  # noqa: E402
from marsad.crawler.runner import crawl_feeds, make_runner, register_feeds  # noqa: E402
from marsad.crawler.spiders import SPIDERS  # noqa: E402
from marsad.storage.db import open_store  # noqa: E402
from marsad.times import utc_now  # noqa: E402


async def main(spec: dict[str, Any]) -> list[dict[str, Any]]:
    crawl = CrawlConfig(**spec["crawl"])
    feeds = [FeedConfig(**f) for f in spec["feeds"]]
    rules = compile_rules(
        Rule(r["name"], tuple(r["keywords"]), tuple(r["channels"])) for r in spec["rules"]
    )
    spiders = spec.get("spiders", SPIDERS)
    db = open_store(Path(spec["store"]))
    try:
        register_feeds(db, feeds, utc_now())
        runner = make_runner(crawl)
        reports = []
        for _ in range(spec["crawls"]):
            report = await crawl_feeds(
                runner, db=db, feeds=feeds, rules=rules, crawl=crawl, spiders=spiders
            )
            reports.append(asdict(report))
    finally:
        db.close()
    return reports


def run(spec: dict[str, Any]) -> list[dict[str, Any]]:
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


if __name__ == "__main__":
    print(json.dumps(run(json.loads(Path(sys.argv[1]).read_text()))))
