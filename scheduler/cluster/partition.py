"""Which fetcher owns a site: rendezvous hashing over the fetchers alive.

Every site (its registrable domain: news.example.com and www.example.com are one site, so all
feeds of one outlet share one fetcher and Scrapy's per-site slot there) goes to the fetcher with
the highest hash of (fetcher, site). When a fetcher joins or leaves only the sites it gains or
loses move (about 1/N of them), and every process that knows the same fetchers agrees.
"""

from __future__ import annotations

import hashlib
import ipaddress
from collections.abc import Collection
from urllib.parse import urlsplit

# Second-level labels under which a country code's registrable names sit (news.bbc.co.uk is
# bbc.co.uk, www.spa.gov.sa is spa.gov.sa). A short list, not the Public Suffix List: a site
# this misses is split over two fetchers, each polite to its half.
_SECOND_LEVEL = frozenset({"co", "com", "net", "org", "gov", "edu", "ac", "info", "news", "press"})


def site_of(url: str) -> str:
    """The site a URL belongs to: its registrable domain, or its IP address."""
    host = (urlsplit(url).hostname or "").rstrip(".").lower()
    try:
        ipaddress.ip_address(host)
    except ValueError:
        pass
    else:
        return host
    labels = host.split(".")
    if len(labels) <= 2:
        return host
    if len(labels[-1]) == 2 and labels[-2] in _SECOND_LEVEL:
        return ".".join(labels[-3:])
    return ".".join(labels[-2:])


def owner(site: str, fetchers: Collection[str]) -> str | None:
    """The fetcher that owns ``site`` among ``fetchers`` (None when there is none)."""
    best: tuple[bytes, str] | None = None
    for fetcher in fetchers:
        weight = hashlib.blake2b(f"{fetcher}\0{site}".encode(), digest_size=8).digest()
        if best is None or (weight, fetcher) > best:
            best = (weight, fetcher)
    return best[1] if best is not None else None
