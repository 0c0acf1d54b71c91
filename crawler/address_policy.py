"""Which URLs and addresses the crawler may fetch: the public web only, unless allowed. Pure.

A feed's links and its servers' redirects are written by whoever runs the feed. Fetched blindly,
they would make the daemon read local files (``file:``), talk to other protocols (``ftp:``) or
probe the network it runs in (``http://127.0.0.1:6379/``, ``http://169.254.169.254/``, a name
that resolves to ``10.0.0.5``). So only ``http``/``https`` URLs are fetched, and only from
addresses that are globally reachable; ``[crawl] allow_private`` (CIDRs or host names) opts in to
others, for a feed on the local network or a test server on loopback.

Two checks use this module: :meth:`AddressPolicy.url_refusal` before a request is sent (scheme,
and a host written as an address in any of the forms a resolver accepts), and
:meth:`AddressPolicy.screen` on the addresses a host name resolved to, at the moment of
connecting (marsad.crawler.guard), so what is checked is what is connected to.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

FETCHED_SCHEMES = frozenset({"http", "https"})
HOW_TO_ALLOW = "marsad fetches only public addresses unless [crawl] allow_private lists it"

# IPv6 ranges that carry an IPv4 address: the IPv4 address decides. NAT64 (RFC 6052) is how an
# IPv6-only host reaches the IPv4 web, so its public addresses must stay fetchable.
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
# RFC 6598 carrier-grade NAT space: Python counts it neither private nor global.
_SHARED = ipaddress.IPv4Network("100.64.0.0/10")
# One part of a host written the way inet_aton(3) reads it: decimal, 0-octal or 0x-hex.
_NUMBER_PART = re.compile(r"0[xX][0-9a-fA-F]+|0[0-7]*|[1-9][0-9]*")


@dataclass(frozen=True)
class Refusal:
    """Why a URL or an address is not fetched."""

    reason: str  # a short name: "scheme", "loopback", "private", ... (counted in the stats)
    message: str  # for people: what was refused and how to allow it


@dataclass(frozen=True)
class Screened:
    """The addresses a host resolved to, split into those that may be connected to and not."""

    allowed: tuple[str, ...]
    refused: tuple[tuple[str, str], ...]  # (address, reason)

    def refusal(self, host: str) -> Refusal | None:
        """Why nothing is connected to, when every address was refused."""
        if self.allowed or not self.refused:
            return None
        reasons = ", ".join(f"{address}: {reason}" for address, reason in self.refused)
        return Refusal(
            self.refused[0][1],
            f"{host} resolves only to non-public addresses ({reasons}); {HOW_TO_ALLOW}",
        )


@dataclass(frozen=True)
class AddressPolicy:
    """The public internet, plus the networks and host names of ``[crawl] allow_private``."""

    networks: tuple[IPNetwork, ...] = ()
    names: frozenset[str] = frozenset()

    @classmethod
    def allowing(cls, entries: Iterable[str]) -> AddressPolicy:
        """From ``[crawl] allow_private``: CIDRs or addresses ("10.0.0.0/8", "::1"), or names."""
        networks: list[IPNetwork] = []
        names: set[str] = set()
        for entry in entries:
            text = entry.strip()
            try:
                networks.append(ipaddress.ip_network(text, strict=False))
            except ValueError:
                names.add(_host_key(text))
        return cls(tuple(networks), frozenset(names))

    def url_refusal(self, url: str) -> Refusal | None:
        """Why ``url`` must not be fetched, as far as the URL alone tells; None if it may be."""
        try:
            parts = urlsplit(url)
            host = parts.hostname
        except ValueError:
            return Refusal("bad-url", f"{url!r} is not a valid URL")
        scheme = parts.scheme.lower()
        if scheme not in FETCHED_SCHEMES:
            shown = f"{scheme}:" if scheme else "no scheme"
            return Refusal("scheme", f"{shown} URL; marsad fetches only http and https")
        if not host:
            return Refusal("bad-url", f"{url!r} has no host")
        try:
            parts.port  # noqa: B018  (raises for a port out of range)
        except ValueError as exc:
            return Refusal("bad-url", f"{url!r} has a bad port ({exc})")
        return self.host_refusal(host)

    def host_refusal(self, host: str) -> Refusal | None:
        """Why ``host`` must not be fetched when it is an address; None for a name (the
        addresses it resolves to are screened when connecting) or an allowed address."""
        if _host_key(host) in self.names:
            return None
        address = host_address(host)
        if address is None:
            return None
        reason = self.address_refusal(address)
        if reason is None:
            return None
        shown = host if _is_standard_literal(host) else f"{host} (= {_display(address)})"
        article = "an" if reason[0] in "aeiou" else "a"
        return Refusal(reason, f"{shown} is {article} {reason} address; {HOW_TO_ALLOW}")

    def screen(self, host: str, addresses: Iterable[str]) -> Screened:
        """Split the addresses ``host`` resolved to into those that may be connected to and
        those that may not (with the reason)."""
        if _host_key(host) in self.names:
            return Screened(tuple(addresses), ())
        allowed: list[str] = []
        refused: list[tuple[str, str]] = []
        for text in addresses:
            address = host_address(text)
            reason = "unparsable" if address is None else self.address_refusal(address)
            if reason is None:
                allowed.append(text)
            else:
                refused.append((text, reason))
        return Screened(tuple(allowed), tuple(refused))

    def address_refusal(self, address: IPAddress) -> str | None:
        """Why ``address`` may not be connected to (see :func:`non_public_reason`), unless an
        allowed network holds it."""
        candidates = [address, *_embedded_ipv4(address)]
        if any(a in net for a in candidates for net in self.networks if a.version == net.version):
            return None
        return non_public_reason(address)


def non_public_reason(address: IPAddress) -> str | None:
    """Why ``address`` is not on the public internet ("loopback", "private", ...); None if it is.

    An IPv6 address that carries an IPv4 address (IPv4-mapped, 6to4, NAT64) is judged by both:
    ``::ffff:127.0.0.1`` is loopback whatever Python's ``ipaddress`` calls it.
    """
    for embedded in _embedded_ipv4(address):
        reason = non_public_reason(embedded)
        if reason is not None:
            return reason
    if isinstance(address, ipaddress.IPv6Address) and (address.ipv4_mapped or address in _NAT64):
        return None  # the IPv4 address inside is public; the IPv6 form is only the way there
    if address.is_unspecified:
        return "unspecified"
    if address.is_loopback:
        return "loopback"
    if address.is_link_local:
        return "link-local"
    if address.is_multicast:
        return "multicast"
    if isinstance(address, ipaddress.IPv4Address) and address in _SHARED:
        return "shared (carrier-grade NAT)"
    if address.is_reserved:
        return "reserved"
    if address.is_private:
        return "private"
    if not address.is_global:
        return "non-global"
    return None


def host_address(host: str) -> IPAddress | None:
    """The address ``host`` stands for when it is written as one, else None (a name).

    Besides dotted quads and IPv6 (bracketed or not, with a zone), the forms inet_aton(3) and
    so getaddrinfo(3) accept: ``2130706433``, ``0x7f.1``, ``0177.0.0.1``, ``127.1``.
    """
    text = host.strip().rstrip(".")
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1]
    if ":" in text:
        try:
            return ipaddress.IPv6Address(text)
        except ValueError:
            return None
    return _inet_aton(text)


def _inet_aton(text: str) -> ipaddress.IPv4Address | None:
    parts = text.split(".")
    if not 1 <= len(parts) <= 4 or not all(_NUMBER_PART.fullmatch(p) for p in parts):
        return None
    numbers = [_number(p) for p in parts]
    # Every part but the last is one byte; the last fills the bytes that remain.
    last_limit = 1 << (8 * (5 - len(parts)))
    if any(n > 0xFF for n in numbers[:-1]) or numbers[-1] >= last_limit:
        return None
    value = 0
    for n in numbers[:-1]:
        value = (value << 8) | n
    value = (value << (8 * (5 - len(parts)))) | numbers[-1]
    return ipaddress.IPv4Address(value)


def _number(part: str) -> int:
    if part[:2].lower() == "0x":
        return int(part[2:], 16)
    if len(part) > 1 and part.startswith("0"):
        return int(part, 8)
    return int(part)


def _embedded_ipv4(address: IPAddress) -> list[ipaddress.IPv4Address]:
    if not isinstance(address, ipaddress.IPv6Address):
        return []
    found = [a for a in (address.ipv4_mapped, address.sixtofour) if a is not None]
    if address in _NAT64:
        found.append(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
    return found


def _is_standard_literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True


def _display(address: IPAddress) -> str:
    mapped = address.ipv4_mapped if isinstance(address, ipaddress.IPv6Address) else None
    return str(mapped or address)


def _host_key(host: str) -> str:
    return host.strip().strip("[]").rstrip(".").lower()
