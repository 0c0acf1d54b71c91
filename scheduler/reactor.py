"""Running one coroutine on Scrapy's asyncio Twisted reactor, started once per process.

A Twisted reactor cannot be restarted: every entry point that crawls calls
:func:`run_on_reactor` exactly once, with a coroutine that does all its work.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Coroutine
from typing import Any

ASYNCIO_REACTOR = "twisted.internet.asyncioreactor.AsyncioSelectorReactor"


def prepare_process() -> None:
    """Install the asyncio reactor and point Scrapy at our settings, before anything imports
    ``twisted.internet.reactor`` (importing it first would install the default epoll reactor)."""
    os.environ.setdefault("SCRAPY_SETTINGS_MODULE", "marsad.crawler.settings")
    from scrapy.utils.reactor import install_reactor

    install_reactor(ASYNCIO_REACTOR)


def run_on_reactor(main: Callable[[], Coroutine[Any, Any, int]]) -> int:
    """Start the reactor, run ``main()`` on its asyncio loop, stop, and return its exit code."""
    prepare_process()
    import asyncio

    from twisted.internet import reactor as _reactor

    reactor: Any = _reactor
    outcome: dict[str, Any] = {"code": 1, "error": None}

    def finished(task: asyncio.Task[int]) -> None:
        if task.cancelled():
            outcome["error"] = asyncio.CancelledError()
        elif task.exception() is not None:
            outcome["error"] = task.exception()
        else:
            outcome["code"] = task.result()
        if reactor.running:
            reactor.stop()

    def start() -> None:
        # The asyncio reactor drives the default asyncio loop, so asyncio tasks (Scrapy's
        # AsyncCrawlerRunner, httpx, APScheduler's AsyncIOScheduler) all run on it.
        task = asyncio.get_event_loop().create_task(main())
        task.add_done_callback(finished)

    reactor.callWhenRunning(start)
    # The daemon installs its own signal handlers on the asyncio loop: first signal graceful,
    # second forces. Twisted's would stop the reactor under a running crawl.
    reactor.run(installSignalHandlers=False)
    if outcome["error"] is not None:
        raise outcome["error"]
    return int(outcome["code"])
