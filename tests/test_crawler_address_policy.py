"""crawler.address_policy on literals: which URLs, hosts and resolved addresses may be fetched.

Resolution is passed in (a dict standing for DNS), so "a public address is allowed" is tested
without the internet, and so is a name that resolves to a private address.
"""

from __future__ import annotations

import ipaddress

import pytest

from marsad.crawler.address_policy import AddressPolicy, host_address, non_public_reason

DEFAULT = AddressPolicy()
# What a feed author's DNS might answer; nothing here is looked up.
DNS = {
    "news.example": ["93.184.216.34", "2606:2800:220:1:248:1893:25c8:1946"],
    "rebound.example": ["127.0.0.1"],
    "metadata.example": ["169.254.169.254"],
    "mixed.example": ["10.0.0.7", "93.184.216.34"],
    "intranet.example": ["10.1.2.3", "fd00::5"],
}


def screened(policy: AddressPolicy, host: str) -> tuple[tuple[str, ...], str | None]:
    result = policy.screen(host, DNS[host])
    refusal = result.refusal(host)
    return result.allowed, refusal.reason if refusal else None


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("93.184.216.34", None),
        ("8.8.8.8", None),
        ("2606:4700:4700::1111", None),
        ("127.0.0.1", "loopback"),
        ("127.255.255.254", "loopback"),
        ("::1", "loopback"),
        ("0.0.0.0", "unspecified"),
        ("::", "unspecified"),
        ("10.0.0.1", "private"),
        ("172.16.5.4", "private"),
        ("192.168.1.1", "private"),
        ("fc00::1", "private"),
        ("fd12:3456::1", "private"),
        ("169.254.169.254", "link-local"),
        ("fe80::1", "link-local"),
        ("224.0.0.251", "multicast"),
        ("239.255.255.250", "multicast"),
        ("ff02::1", "multicast"),
        ("ff0e::1", "multicast"),  # "global" multicast is still not a web server
        ("100.64.0.1", "shared (carrier-grade NAT)"),
        ("240.0.0.1", "reserved"),
        ("255.255.255.255", "reserved"),
        ("192.0.2.10", "private"),  # documentation ranges are not on the internet either
        ("2001:db8::1", "private"),
        # IPv6 forms of IPv4 addresses are judged by the IPv4 address they carry.
        ("::ffff:127.0.0.1", "loopback"),
        ("::ffff:10.0.0.1", "private"),
        ("::ffff:93.184.216.34", None),
        ("2002:7f00:1::1", "loopback"),  # 6to4 of 127.0.0.1
        ("2002:5db8:d822::1", None),  # 6to4 of 93.184.216.34
        ("64:ff9b::7f00:1", "loopback"),  # NAT64 of 127.0.0.1
        ("64:ff9b::5db8:d822", None),  # NAT64 of a public address: how IPv6-only hosts reach it
        ("::127.0.0.1", "reserved"),  # IPv4-compatible, deprecated
        ("fe80::1%eth0", "link-local"),
    ],
)
def test_non_public_reason(address: str, reason: str | None) -> None:
    parsed = host_address(address)
    assert parsed is not None
    assert non_public_reason(parsed) == reason


@pytest.mark.parametrize(
    ("host", "address"),
    [
        ("127.0.0.1", "127.0.0.1"),
        ("2130706433", "127.0.0.1"),  # one decimal number
        ("0x7f000001", "127.0.0.1"),
        ("0x7F.1", "127.0.0.1"),
        ("0177.0.0.1", "127.0.0.1"),  # octal
        ("0177.0.0.01", "127.0.0.1"),
        ("127.1", "127.0.0.1"),
        ("127.0.1", "127.0.0.1"),
        ("10.65535", "10.0.255.255"),
        ("4294967295", "255.255.255.255"),
        ("0", "0.0.0.0"),
        ("[::1]", "::1"),
        ("::1", "::1"),
        ("[::ffff:7f00:1]", "::ffff:127.0.0.1"),
        ("127.0.0.1.", "127.0.0.1"),
    ],
)
def test_host_forms_that_are_addresses(host: str, address: str) -> None:
    assert host_address(host) == ipaddress.ip_address(address)


# What inet_aton(3) rejects is a name to getaddrinfo(3) too: the resolver decides.
NOT_ADDRESSES = ["localhost", "news.example", "1e100.net", "08.0.0.1", "127.0.0.256", "0x"]


@pytest.mark.parametrize(
    "host", [*NOT_ADDRESSES, "1.2.3.4.5", "4294967296", "0x100.1", "127..1", "[::1", ""]
)
def test_host_forms_that_are_names_or_nothing(host: str) -> None:
    assert host_address(host) is None


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://news.example/article", None),
        ("https://93.184.216.34/feed.xml", None),
        ("HTTPS://news.example/", None),
        ("file:///etc/passwd", "scheme"),
        ("file://localhost/etc/passwd", "scheme"),
        ("ftp://ftp.example/pub/", "scheme"),
        ("data:text/html,<p>hi</p>", "scheme"),
        ("s3://bucket/key", "scheme"),
        ("gopher://127.0.0.1:6379/_INFO", "scheme"),
        ("javascript:alert(1)", "scheme"),
        ("/relative/path", "scheme"),
        ("http://127.0.0.1:6379/", "loopback"),
        ("http://2130706433/", "loopback"),
        ("http://0x7f.0.0.1/", "loopback"),
        ("http://user:secret@127.0.0.1/", "loopback"),
        ("http://[::1]:8080/", "loopback"),
        ("http://[::ffff:127.0.0.1]/", "loopback"),
        ("http://0.0.0.0:8000/", "unspecified"),
        ("http://169.254.169.254/latest/meta-data/", "link-local"),
        ("http://[fe80::1%25eth0]/", "link-local"),
        ("http://10.0.0.5/", "private"),
        ("http://224.0.0.1/", "multicast"),
        ("http:///no-host", "bad-url"),
        ("http://localhost:99999/", "bad-url"),
        ("http://[::1/", "bad-url"),
        # A name is judged by what it resolves to, when connecting (screen()).
        ("http://localhost:8080/", None),
        ("http://rebound.example/", None),
    ],
)
def test_url_refusal_by_default(url: str, reason: str | None) -> None:
    refusal = DEFAULT.url_refusal(url)
    assert (refusal.reason if refusal else None) == reason


def test_refusals_say_what_and_how_to_allow() -> None:
    refusal = DEFAULT.url_refusal("http://2130706433:8080/x")
    assert refusal is not None
    assert refusal.message == (
        "2130706433 (= 127.0.0.1) is a loopback address; marsad fetches only public addresses "
        "unless [crawl] allow_private lists it"
    )
    mapped = DEFAULT.url_refusal("http://[::ffff:7f00:1]/")
    assert mapped is not None and mapped.message.startswith("::ffff:7f00:1 is a loopback address;")
    dotted = DEFAULT.url_refusal("http://127.0.0.1./")
    assert dotted is not None and dotted.message.startswith(
        "127.0.0.1. (= 127.0.0.1) is a loopback address;"
    )
    scheme = DEFAULT.url_refusal("file:///etc/passwd")
    assert scheme is not None and scheme.message == (
        "file: URL; marsad fetches only http and https"
    )
    rebound = DEFAULT.screen("rebound.example", ["127.0.0.1"]).refusal("rebound.example")
    assert rebound is not None and rebound.message.startswith(
        "rebound.example resolves only to non-public addresses (127.0.0.1: loopback); "
    )


def test_a_public_name_is_allowed_and_a_rebound_one_is_not() -> None:
    assert screened(DEFAULT, "news.example") == (tuple(DNS["news.example"]), None)
    assert screened(DEFAULT, "rebound.example") == ((), "loopback")
    assert screened(DEFAULT, "metadata.example") == ((), "link-local")
    assert screened(DEFAULT, "intranet.example") == ((), "private")


def test_only_the_public_addresses_of_a_mixed_answer_are_kept() -> None:
    result = DEFAULT.screen("mixed.example", DNS["mixed.example"])
    assert result.allowed == ("93.184.216.34",)
    assert result.refused == (("10.0.0.7", "private"),)
    assert result.refusal("mixed.example") is None


def test_no_answer_is_no_refusal() -> None:
    # Nothing resolved: a DNS failure, reported as such by the caller, not as a refusal.
    assert DEFAULT.screen("gone.example", []).refusal("gone.example") is None


def test_allow_private_by_network() -> None:
    policy = AddressPolicy.allowing(["127.0.0.0/8", "10.1.0.0/16", "fd00::/8"])
    assert policy.url_refusal("http://127.0.0.2:8080/") is None
    assert policy.url_refusal("http://2130706433/") is None
    assert policy.url_refusal("http://[::ffff:127.0.0.1]/") is None  # the IPv4 address inside
    assert policy.url_refusal("http://0.0.0.0/") is not None  # not in any allowed network
    assert policy.url_refusal("http://[::1]/") is not None  # 127.0.0.0/8 is IPv4 only
    assert policy.url_refusal("http://10.2.0.1/") is not None
    assert screened(policy, "intranet.example") == (("10.1.2.3", "fd00::5"), None)
    assert screened(policy, "metadata.example") == ((), "link-local")
    assert policy.url_refusal("file:///etc/passwd") is not None  # never another scheme


def test_allow_private_by_host_name() -> None:
    policy = AddressPolicy.allowing(["Intranet.Example.", "127.0.0.1"])
    assert policy.names == frozenset({"intranet.example"})
    assert screened(policy, "intranet.example") == (tuple(DNS["intranet.example"]), None)
    assert policy.screen("INTRANET.example.", ["10.1.2.3"]).allowed == ("10.1.2.3",)
    assert screened(policy, "rebound.example") == (("127.0.0.1",), None)  # by its address
    assert screened(policy, "metadata.example") == ((), "link-local")
    assert policy.url_refusal("ftp://intranet.example/") is not None


def test_an_address_allowed_by_name_is_allowed_as_written() -> None:
    # config.py keeps "2130706433" as a host name (it is no CIDR): the URL host matches it.
    policy = AddressPolicy.allowing(["2130706433"])
    assert policy.url_refusal("http://2130706433/") is None
    assert policy.url_refusal("http://127.0.0.1/") is not None
