"""Which fetcher owns a site (#16): rendezvous hashing over the fetchers alive, and the site
(registrable domain or IP) a URL belongs to."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter

import pytest

from marsad.scheduler.cluster.partition import owner, site_of

SITES = [f"outlet{i}.example" for i in range(2000)]
FETCHERS = ["f1", "f2", "f3", "f4"]


def owners(fetchers: list[str]) -> dict[str, str | None]:
    return {site: owner(site, fetchers) for site in SITES}


def test_no_fetcher_owns_nothing() -> None:
    assert owner("example.com", []) is None


def test_the_owner_does_not_depend_on_the_order_the_fetchers_are_listed() -> None:
    assert owners(FETCHERS) == owners(FETCHERS[::-1]) == owners(sorted(FETCHERS, key=hash))


def test_every_process_agrees_whatever_its_hash_seed() -> None:
    code = (
        "import json, sys; from marsad.scheduler.cluster.partition import owner; "
        "sites = json.loads(sys.argv[1]); "
        "print(json.dumps([owner(s, ['f1', 'f2', 'f3', 'f4']) for s in sites]))"
    )
    sites = SITES[:300]
    answers = []
    for seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        done = subprocess.run(
            [sys.executable, "-c", code, json.dumps(sites)],
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
            check=True,
        )
        answers.append(json.loads(done.stdout))
    assert answers[0] == answers[1] == [owner(s, FETCHERS) for s in sites]


def test_sites_are_shared_about_evenly() -> None:
    shares = Counter(owners(FETCHERS).values())
    assert set(shares) == set(FETCHERS)
    for fetcher, count in shares.items():
        assert 0.8 / 4 < count / len(SITES) < 1.2 / 4, (fetcher, count)


def test_a_fetcher_that_joins_takes_about_one_in_n_sites_and_only_those_move() -> None:
    before = owners(FETCHERS)
    after = owners([*FETCHERS, "f5"])
    moved = [site for site in SITES if before[site] != after[site]]
    assert {after[site] for site in moved} == {"f5"}, "a site moved between fetchers that stay"
    assert 0.7 / 5 < len(moved) / len(SITES) < 1.3 / 5


def test_a_fetcher_that_leaves_hands_on_its_sites_and_no_others() -> None:
    before = owners(FETCHERS)
    after = owners(["f1", "f3", "f4"])
    moved = {site for site in SITES if before[site] != after[site]}
    assert moved == {site for site in SITES if before[site] == "f2"}
    # Spread over those left, not all to one of them.
    assert len(Counter(after[site] for site in moved)) == 3


@pytest.mark.parametrize(
    ("url", "site"),
    [
        ("https://www.example.com/news/1.html", "example.com"),
        ("https://news.example.com/rss", "example.com"),
        ("https://a.b.news.example.com/rss", "example.com"),
        ("https://example.com/", "example.com"),
        ("https://WWW.Example.COM./x", "example.com"),
        ("https://news.bbc.co.uk/feed", "bbc.co.uk"),
        ("https://bbc.co.uk/feed", "bbc.co.uk"),
        ("https://www.spa.gov.sa/rss", "spa.gov.sa"),
        ("https://www.alyaum.com.sa/rss", "alyaum.com.sa"),
        ("https://www.google.de/", "google.de"),
        ("http://127.88.0.10:8080/feed.xml", "127.88.0.10"),
        ("http://127.88.0.11:8080/feed.xml", "127.88.0.11"),
        ("http://[::1]:8080/feed.xml", "::1"),
        ("http://localhost:8000/feed", "localhost"),
        # Second-level suffixes a short list misses, from the Public Suffix List.
        ("https://www.x.mil.eg/rss", "x.mil.eg"),
        ("https://news.example.ltd.uk/rss", "example.ltd.uk"),
        ("https://rss.news.sa/feed", "news.sa"),
        ("https://www.news.sa/", "news.sa"),
        ("https://site-3.test/feed.xml", "site-3.test"),
    ],
)
def test_site_of(url: str, site: str) -> None:
    assert site_of(url) == site


def test_two_subdomains_of_one_outlet_have_one_owner() -> None:
    for fetchers in (FETCHERS, ["a", "b"], [f"host-{i}" for i in range(9)]):
        assert owner(site_of("https://www.aljazeera.net/rss"), fetchers) == owner(
            site_of("https://rss.aljazeera.net/feed"), fetchers
        )


def test_the_fetcher_ids_of_the_trials_share_the_farm_s_sites() -> None:
    from tests.cluster.harness import FIRST, JOINING, SECOND

    sites = [f"127.88.0.{i}" for i in range(10, 18)]  # bench/webfarm.py's site_address
    two = Counter(owner(site, [FIRST, SECOND]) for site in sites)
    three = Counter(owner(site, [FIRST, SECOND, JOINING]) for site in sites)
    assert two[FIRST] >= 3 and two[SECOND] >= 3
    assert three[JOINING] >= 2
