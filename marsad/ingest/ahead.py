"""Preparing articles for ``marsad import`` ahead of the writer, in worker processes.

Normalising, cutting credits and fingerprinting an article (:func:`prepare_article`) needs no
store and is about a third of the time an import spends per article; the store has one writer.
So workers prepare the next articles while this process writes the current ones. At most a few
small batches are in flight: memory does not grow with the size of the file.

A worker exits when this process dies, however it dies (``kill -9``): otherwise it would wait
for work forever, and keep the pool's resource tracker waiting with it.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from multiprocessing import get_context

from marsad.ingest.jsonl import ArticleLine, Item
from marsad.ingest.prepare import PreparedArticle, prepare_article
from marsad.storage.models import NewArticle
from marsad.worker_exit import exit_with_parent

# Articles sent to a worker at once: large enough that pickling is a small share of the work.
BATCH = 100
# Batches in flight per worker: enough to keep it busy while the writer commits.
AHEAD = 4


def prepare_batch(items: list[Item]) -> list[PreparedArticle | None]:
    """:func:`prepare_article` of each article; None for a line that was not one, or for an
    article that failed here: the writer then prepares it itself, and reports the failure with
    the article's line number instead of losing the batch."""
    return [_prepared(i.article) if isinstance(i, ArticleLine) else None for i in items]


def _prepared(article: NewArticle) -> PreparedArticle | None:
    try:
        return prepare_article(article)
    except Exception:  # raised again by the writer's own try, where the line number is known
        return None


def prepared_ahead(
    items: Iterator[Item], workers: int
) -> Iterator[tuple[Item, PreparedArticle | None]]:
    """``items`` in order, each with its preparation (None: ingest prepares it itself).

    A file of one batch or less is prepared here, without starting a worker. If reading fails
    part-way (a file cut short), every item read before is still yielded, then the error raised.
    """
    first, error = _take(items, BATCH)
    if workers < 1 or len(first) < BATCH or error is not None:
        yield from ((item, None) for item in first)
        if error is not None:
            raise error
        yield from ((item, None) for item in items)
        return
    # spawn, not fork: this process holds an open SQLite connection a forked child must not see.
    with ProcessPoolExecutor(
        workers,
        mp_context=get_context("spawn"),
        initializer=exit_with_parent,
        initargs=(os.getpid(),),
    ) as pool:
        pending: deque[tuple[list[Item], Future[list[PreparedArticle | None]]]] = deque()
        batch = first
        while batch:
            pending.append((batch, pool.submit(prepare_batch, batch)))
            if error is not None:
                break
            if len(pending) > AHEAD * workers:
                done, future = pending.popleft()
                yield from zip(done, future.result(), strict=True)
            batch, error = _take(items, BATCH)
        while pending:
            done, future = pending.popleft()
            yield from zip(done, future.result(), strict=True)
    if error is not None:
        raise error


def _take(items: Iterator[Item], count: int) -> tuple[list[Item], OSError | EOFError | None]:
    """Up to ``count`` items, and the read error that cut them short, if one did."""
    taken: list[Item] = []
    try:
        for item in items:
            taken.append(item)
            if len(taken) == count:
                break
    except (OSError, EOFError) as exc:
        return taken, exc
    return taken, None
