"""Fetching only the public web: the address policy (marsad.crawler.address_policy) in Scrapy.

Two places, because a feed author controls both the URLs and the DNS of their links:

* :class:`FetchGuardMiddleware` refuses, before anything is sent, a URL of another scheme than
  http/https, a host written as a non-public address (``127.1``, ``2130706433``, ``[::1]``) and a
  request through a proxy. Redirects pass it too: RedirectMiddleware's new request goes through
  every downloader middleware again, and a redirect to another scheme is refused here.
* :class:`GuardedHTTPDownloadHandler` resolves each host name when it connects, screens the
  addresses and connects only to those allowed. A check in a middleware that resolved the name
  itself would be defeated by DNS rebinding (one answer for the check, another for the
  connection); here the addresses checked are the ones connected to, on every request,
  robots.txt and redirects included.

A refused request fails with :class:`RequestRefused` (an IgnoreRequest: the spider's errback
reports it as a problem of the feed or entry, Scrapy's robots.txt middleware logs nothing) and is
counted as ``marsad/refused`` and ``marsad/refused/<reason>``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import urljoin

from scrapy.core.downloader.handlers.http11 import HTTP11DownloadHandler, _ScrapyAgent
from scrapy.exceptions import IgnoreRequest, ResponseDataLossError
from scrapy.utils._download_handlers import (
    get_dataloss_msg,
    normalize_bind_address,
    wrap_twisted_exceptions,
)
from scrapy.utils.defer import maybe_deferred_to_future
from twisted.internet.address import IPv6Address
from twisted.internet.defer import Deferred
from twisted.internet.endpoints import TCP4ClientEndpoint, TCP6ClientEndpoint, wrapClientTLS
from twisted.internet.error import ConnectError, DNSLookupError
from twisted.internet.interfaces import IResolutionReceiver, IStreamClientEndpoint
from twisted.python.compat import nativeString
from twisted.web.client import Agent
from twisted.web.iweb import IAgentEndpointFactory
from zope.interface import implementer

from marsad.crawler.address_policy import FETCHED_SCHEMES, AddressPolicy, Refusal

if TYPE_CHECKING:
    from scrapy import Request
    from scrapy.crawler import Crawler
    from scrapy.http import Response
    from scrapy.settings import BaseSettings
    from scrapy.statscollectors import StatsCollector
    from twisted.internet.interfaces import IAddress, IHostResolution, IProtocol, IProtocolFactory
    from twisted.web.client import URI
    from twisted.web.iweb import IPolicyForHTTPS

logger = logging.getLogger(__name__)

# Ours: ``[crawl] allow_private`` (CIDRs or host names), set from CrawlConfig by the runner.
ALLOW_PRIVATE_SETTING = "MARSAD_ALLOW_PRIVATE"
_REDIRECTS = frozenset({301, 302, 303, 307, 308})


class RequestRefused(IgnoreRequest):
    """A request the address policy does not allow; ``str()`` says why, for people."""

    def __init__(self, refusal: Refusal) -> None:
        super().__init__(refusal.message)
        self.refusal = refusal


def policy_from_settings(settings: BaseSettings) -> AddressPolicy:
    return AddressPolicy.allowing(settings.getlist(ALLOW_PRIVATE_SETTING))


def refuse(stats: StatsCollector, refusal: Refusal, url: str) -> RequestRefused:
    """Count ``refusal`` and return the exception that fails the request."""
    stats.inc_value("marsad/refused")
    stats.inc_value(f"marsad/refused/{refusal.reason}")
    logger.debug("not fetched: %s: %s", url, refusal.message)
    return RequestRefused(refusal)


class FetchGuardMiddleware:
    """Refuses, before they are sent, the requests the URL alone shows are not allowed."""

    def __init__(self, crawler: Crawler) -> None:
        assert crawler.stats is not None
        self.stats = crawler.stats
        self.policy = policy_from_settings(crawler.settings)

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> FetchGuardMiddleware:
        return cls(crawler)

    def process_request(self, request: Request) -> None:
        refusal = self.policy.url_refusal(request.url)
        if refusal is None and request.meta.get("proxy"):
            refusal = _PROXY
        if refusal is not None:
            raise refuse(self.stats, refusal, request.url)

    def process_response(self, request: Request, response: Response) -> Response:
        # RedirectMiddleware turns a redirect to http(s) into a new request (checked in
        # process_request) and hands back the response of one to another scheme: refuse that.
        location = response.headers.get("Location")
        if response.status in _REDIRECTS and location:
            target = urljoin(request.url, location.decode("latin-1"))
            refusal = self.policy.url_refusal(target)
            if refusal is not None and refusal.reason == "scheme":
                redirect = Refusal(refusal.reason, f"redirect to {refusal.message}")
                raise refuse(self.stats, redirect, target)
        return response


_PROXY = Refusal(
    "proxy", "sent through a proxy; marsad connects directly, so that it can check each address"
)


class GuardedHTTPDownloadHandler(HTTP11DownloadHandler):
    """Scrapy's HTTP/1.1 handler, connecting only to addresses the policy allows."""

    def __init__(self, crawler: Crawler) -> None:
        super().__init__(crawler)
        assert crawler.stats is not None
        self._stats = crawler.stats
        self._policy = policy_from_settings(crawler.settings)

    async def download_request(self, request: Request) -> Response:
        agent = _GuardedAgent(
            policy=self._policy,
            stats=self._stats,
            contextFactory=self._contextFactory,
            bindAddress=self._bind_address,
            pool=self._pool,
            maxsize=self._default_maxsize,
            warnsize=self._default_warnsize,
            fail_on_dataloss=self._fail_on_dataloss,
            crawler=self._crawler,
            tls_verbose_logging=self._tls_verbose_logging,
        )
        try:
            with wrap_twisted_exceptions():
                return await maybe_deferred_to_future(agent.download_request(request))
        except ResponseDataLossError:
            if not self._fail_on_dataloss_warned:
                logger.warning(get_dataloss_msg(request.url))
                self._fail_on_dataloss_warned = True
            raise


class _GuardedAgent(_ScrapyAgent):
    """Scrapy's agent with the endpoints replaced by screened ones, and no proxy."""

    def __init__(self, *, policy: AddressPolicy, stats: StatsCollector, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._policy = policy
        self._stats = stats

    def _get_agent(self, request: Request, timeout: float) -> Agent:
        from twisted.internet import reactor

        if request.meta.get("proxy"):  # a proxy would connect where it likes
            raise refuse(self._stats, _PROXY, request.url)
        bind = normalize_bind_address(request.meta.get("bindaddress") or self._bindAddress)
        factory = _ScreenedEndpointFactory(
            reactor, self._contextFactory, timeout, bind, self._policy, self._stats, request.url
        )
        agent: Agent = Agent.usingEndpointFactory(  # type: ignore[no-untyped-call]
            reactor, factory, pool=self._pool
        )
        return agent


@implementer(IAgentEndpointFactory)
class _ScreenedEndpointFactory:
    def __init__(
        self,
        reactor: Any,
        context_factory: IPolicyForHTTPS,
        timeout: float,
        bind: tuple[str, int] | None,
        policy: AddressPolicy,
        stats: StatsCollector,
        url: str,
    ) -> None:
        self._reactor = reactor
        self._context_factory = context_factory
        self._timeout = timeout
        self._bind = bind
        self._policy = policy
        self._stats = stats
        self._url = url

    def endpointForURI(self, uri: URI) -> IStreamClientEndpoint:
        scheme = nativeString(uri.scheme)
        if scheme not in FETCHED_SCHEMES:  # the middleware refused it already; never connect
            raise refuse(self._stats, Refusal("scheme", f"{scheme}: URL"), self._url)
        endpoint = ScreenedEndpoint(
            self._reactor,
            nativeString(uri.host),
            uri.port,
            self._policy,
            timeout=self._timeout,
            bind=self._bind,
            refused=lambda refusal: refuse(self._stats, refusal, self._url),
        )
        # zope interfaces are invisible to mypy: these are the providers the comments say.
        plain = cast("IStreamClientEndpoint", endpoint)
        if scheme == "https":
            policy: Any = self._context_factory  # an IPolicyForHTTPS
            tls: IStreamClientEndpoint = wrapClientTLS(
                policy.creatorForNetloc(uri.host, uri.port), plain
            )
            return tls
        return plain


@implementer(IStreamClientEndpoint)
class ScreenedEndpoint:
    """Resolves ``host`` with the reactor's name resolver, keeps the addresses ``policy``
    allows and connects to the first of them that answers; fails with RequestRefused when
    none is allowed."""

    def __init__(
        self,
        reactor: Any,
        host: str,
        port: int,
        policy: AddressPolicy,
        *,
        timeout: float,
        bind: tuple[str, int] | None,
        refused: Callable[[Refusal], RequestRefused],
    ) -> None:
        self._reactor = reactor
        self._host = host
        self._port = port
        self._policy = policy
        self._timeout = timeout
        self._bind = bind
        self._refused = refused  # Refusal -> the exception to raise (counted)

    def __repr__(self) -> str:
        return f"<ScreenedEndpoint {self._host}:{self._port}>"

    def connect(self, protocolFactory: IProtocolFactory) -> Deferred[IProtocol]:
        return Deferred.fromCoroutine(self._connect(protocolFactory))

    async def _connect(self, factory: IProtocolFactory) -> IProtocol:
        addresses = await self._resolve()
        screened = self._policy.screen(self._host, [_host_of(a) for a in addresses])
        refusal = screened.refusal(self._host)
        if refusal is not None:
            raise self._refused(refusal)
        if screened.refused:
            logger.debug("%s: not connecting to %s", self._host, screened.refused)
        allowed = [a for a in addresses if _host_of(a) in screened.allowed]
        if not allowed:
            raise DNSLookupError(f"no results for hostname lookup: {self._host}")
        last: ConnectError | None = None
        for address in allowed:
            endpoint_type = TCP6ClientEndpoint if isinstance(address, IPv6Address) else None
            endpoint = (endpoint_type or TCP4ClientEndpoint)(
                self._reactor, _host_of(address), self._port, self._timeout, self._bind
            )
            try:
                protocol: IProtocol = await endpoint.connect(factory)
            except ConnectError as exc:  # the next address may answer
                last = exc
                continue
            return protocol
        assert last is not None
        raise last

    def _resolve(self) -> Deferred[list[IAddress]]:
        resolved: Deferred[list[IAddress]] = Deferred()
        found: list[IAddress] = []

        @implementer(IResolutionReceiver)
        class Receiver:
            @staticmethod
            def resolutionBegan(resolution: IHostResolution) -> None:
                pass

            @staticmethod
            def addressResolved(address: IAddress) -> None:
                found.append(address)

            @staticmethod
            def resolutionComplete() -> None:
                if not resolved.called:  # not when the download was cancelled meanwhile
                    resolved.callback(found)

        self._reactor.nameResolver.resolveHostName(Receiver(), self._host, portNumber=self._port)
        return resolved


def _host_of(address: IAddress) -> str:
    host: str = address.host  # IPv4Address and IPv6Address
    return host
