"""When each feed is first polled after the daemon starts.

Polled all at once, a restart with hundreds of feeds would send a burst of requests and a burst
of work, and with every feed on the same interval the bursts would recur. So first polls are
spread: each feed at a random moment within its own interval, but no wider than the number of
feeds needs (:data:`SPACING` seconds apart on average), so a daemon with a few feeds starts
polling them at once.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from datetime import datetime, timedelta

from marsad.crawler.config import FeedConfig

# The mean time between two first polls: at most 1 / SPACING feeds polled per second at start.
SPACING = 0.2


def first_poll_times(
    feeds: Sequence[FeedConfig], start: datetime, rng: random.Random | None = None
) -> dict[str, datetime]:
    """Each feed's first poll: uniform within ``min(its interval, SPACING × feeds)`` of
    ``start``."""
    draw = rng or random.Random()
    window = SPACING * len(feeds)
    return {
        feed.name: start + timedelta(seconds=draw.uniform(0, min(feed.every, window)))
        for feed in feeds
    }
