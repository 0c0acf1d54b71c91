"""Which fetcher owns a site: rendezvous hashing over the fetchers alive.

Every site (its registrable domain: news.example.com and www.example.com are one site, so all
feeds of one outlet share one fetcher and Scrapy's per-site slot there) goes to the fetcher with
the highest hash of (fetcher, site). When a fetcher joins or leaves only the sites it gains or
loses move (about 1/N of them), and every process that knows the same fetchers agrees.
"""

from __future__ import annotations

import functools
import hashlib
import ipaddress
from collections.abc import Collection
from urllib.parse import urlsplit

import tldextract

# The Public Suffix List's ICANN section as the tldextract wheel bundles it (a Scrapy
# dependency, pinned): never fetched, so every process of one install agrees on every site.
_SUFFIXES = tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None)


@functools.lru_cache(maxsize=65536)
def _registrable(host: str) -> str:
    parts = _SUFFIXES(host)
    if parts.suffix and parts.domain:
        return f"{parts.domain}.{parts.suffix}"
    # No public suffix (localhost, a private name such as site-3.test): the last two labels.
    return ".".join(host.split(".")[-2:])


def site_of(url: str) -> str:
    """The site a URL belongs to: its registrable domain (news.bbc.co.uk is bbc.co.uk,
    www.spa.gov.sa is spa.gov.sa), or its IP address."""
    host = (urlsplit(url).hostname or "").rstrip(".").lower()
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return _registrable(host)
    return host


def owner(site: str, fetchers: Collection[str]) -> str | None:
    """The fetcher that owns ``site`` among ``fetchers`` (None when there is none)."""
    best: tuple[bytes, str] | None = None
    for fetcher in fetchers:
        weight = hashlib.blake2b(f"{fetcher}\0{site}".encode(), digest_size=8).digest()
        if best is None or (weight, fetcher) > best:
            best = (weight, fetcher)
    return best[1] if best is not None else None
