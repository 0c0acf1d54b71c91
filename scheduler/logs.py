"""How the daemon and the crawling commands log."""

from __future__ import annotations

import logging

# Libraries whose per-request or per-step lines drown the daemon's own; warnings still show.
NOISY_LOGGERS = ("scrapy", "twisted", "trafilatura", "htmldate", "filelock", "httpx")


def configure_logging(level: str = "INFO") -> None:
    logging.basicConfig(
        level=getattr(logging, level.upper(), logging.INFO),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    for noisy in NOISY_LOGGERS:
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.root.level))
