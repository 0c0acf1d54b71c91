"""Worker processes for the crawl's CPU work: a page's extraction and preparation.

The crawl engine has one process with the reactor, the downloader and the store's one writer;
turning a page into an article (:func:`marsad.crawler.page.article_from_page`) needs none of
them and is most of a crawl's CPU, so it runs here, on the other cores. ``workers = 0`` runs it
in the engine's own process (tests, a one-core machine).

A worker that dies (a hostile page that exhausts memory, a crash in a C extension) costs the
pages it had in hand, which fail with a one-line reason (their feed's text is kept, or the entry
is tried again): the pool is then started anew for the next pages.
"""

from __future__ import annotations

import os
from concurrent.futures.process import BrokenProcessPool
from typing import TYPE_CHECKING

from marsad.crawler.page import PageArticle, article_from_page
from marsad.worker_exit import SpawnedPool

if TYPE_CHECKING:
    from marsad.storage.models import NewArticle

# More workers than this gain little: the engine's one process (downloads, feeds, the store's
# writer) becomes the bottleneck.
MAX_AUTO_WORKERS = 4


class WorkerDied(RuntimeError):
    """The worker process that had the page died before answering."""


def auto_workers() -> int:
    """One worker per core but the engine's own (at least one, up to :data:`MAX_AUTO_WORKERS`).

    The engine's process (downloads, feeds, the store's one writer, matching) is the crawl's
    bottleneck and keeps a core busy at full speed; a page's extraction costs about as much as
    its ingest, so one worker per other core keeps up with it. On two cores a second worker
    added ~110 MB and no speed: three processes took turns on two cores."""
    return max(1, min(MAX_AUTO_WORKERS, (os.cpu_count() or 1) - 1))


class PageWorkers:
    """``await workers.article_from_page(...)``: in a worker process, or inline with 0 workers.

    The pool starts on first use (a crawl that fetches no page starts no process) and is
    closed by :meth:`close` (:class:`~marsad.worker_exit.SpawnedPool`).
    """

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self.pool = SpawnedPool(max(workers, 0), _warm, "an extraction worker")

    def start(self) -> None:
        """Start the processes now (the daemon does, so its first pages do not wait for them)."""
        if self.workers > 0:
            self.pool.start()

    async def article_from_page(
        self, body: bytes, url: str, content_type: str | None, from_feed: NewArticle
    ) -> PageArticle | None:
        if self.workers <= 0:
            return article_from_page(body, url, content_type, from_feed)
        try:
            return await self.pool.run(article_from_page, body, url, content_type, from_feed)
        except BrokenProcessPool as exc:
            raise WorkerDied(
                "the worker process extracting it died (the page may be hostile)"
            ) from exc

    def close(self) -> None:
        self.pool.close()


def _warm() -> None:
    """Nothing: submitted once per worker so it imports the extraction stack before a page
    waits for it (importing this module imports trafilatura)."""
