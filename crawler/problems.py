"""Problems a crawl survives: each logged once, counted as ``marsad/problems/<kind>`` in the
crawl's stats, and sent as the :data:`~marsad.crawler.signals.problem_found` signal."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from marsad.crawler.signals import Problem, problem_found

if TYPE_CHECKING:
    from scrapy.crawler import Crawler

FEED_FAILED = "feed_failed"  # the feed could not be fetched or read; it backs off
FEED_NOT_RECORDED = "feed_not_recorded"  # the store refused a fetch's record; read again next poll
FEED_MALFORMED = "feed_malformed"  # a broken feed; the entries recovered were kept
PAGE_FAILED = "page_failed"  # an article page could not be fetched or extracted; feed text kept
ARTICLE_NOT_STORED = "article_not_stored"  # the store refused one article; retried next poll
ENTRY_SKIPPED = "entry_skipped"  # a feed entry that cannot be used (not http(s), empty, unreadable)
ENTRY_GAVE_UP = "entry_gave_up"  # a feed entry never stored, after every retry


def report_problem(
    crawler: Crawler, problem: Problem, logger: logging.Logger, *, exc_info: bool = False
) -> None:
    """Log ``problem`` (on the reporting component's logger), count it and announce it."""
    logger.warning("%s", problem.message, exc_info=exc_info)
    crawler.stats.inc_value(f"marsad/problems/{problem.kind}")
    crawler.signals.send_catch_log(problem_found, problem=problem)
