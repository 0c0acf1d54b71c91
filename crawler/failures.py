"""Why a download failed, in words people can read: one line saying what and where (Scrapy's
own messages carry exception names and, for TLS, lists of Twisted failures' reprs)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from scrapy.exceptions import DownloadCancelledError, DownloadTimeoutError, IgnoreRequest
from scrapy.spidermiddlewares.httperror import HttpError

if TYPE_CHECKING:
    from scrapy.http import Response
    from twisted.python.failure import Failure


def describe_failure(failure: Failure, download_timeout: float) -> str:
    """A short reason a download failed, for people reading the report."""
    response = http_error_response(failure)
    if response is not None:
        wait = response.headers.get("Retry-After")
        extra = f" (Retry-After: {wait.decode('latin-1')})" if wait else ""
        return f"HTTP {response.status}{extra}"
    if failure.check(DownloadTimeoutError):
        return f"no complete answer within {download_timeout:g}s (timed out)"
    if failure.check(DownloadCancelledError):
        # Scrapy cancels a download that grows past DOWNLOAD_MAXSIZE; its message says so.
        return f"download cancelled: {failure.value}"
    if failure.check(IgnoreRequest):
        return f"not fetched: {failure.value}"
    return _network_failure(failure) or (
        f"{failure.type.__name__ if failure.type else 'error'}: {failure.value}"
    )


def _network_failure(failure: Failure) -> str | None:
    """What went wrong on the network and where, in words: Scrapy's own messages carry the
    exception's name and, for TLS, a list of Twisted failures' reprs."""
    from scrapy.exceptions import (
        CannotResolveHostError,
        DownloadConnectionRefusedError,
        DownloadFailedError,
        ResponseDataLossError,
    )

    request = getattr(failure, "request", None)
    parts = urlsplit(request.url if request is not None else "")
    host = parts.hostname or "the host"
    if failure.check(CannotResolveHostError):
        return f"DNS lookup failed: no address found for {host}"
    if failure.check(DownloadConnectionRefusedError):
        port = parts.port or (443 if parts.scheme == "https" else 80)
        return f"Connection refused by {host}:{port}"
    if failure.check(ResponseDataLossError):
        return f"the answer from {host} was cut short (connection lost)"
    if failure.check(DownloadFailedError):
        # Twisted's ResponseNeverReceived / ResponseFailed keep their causes as failures.
        reasons = getattr(getattr(failure.value, "__cause__", None), "reasons", None) or []
        texts = [_reason_text(reason) for reason in reasons]
        return f"download from {host} failed: {'; '.join(texts) or failure.value}"
    return None


def _reason_text(reason: Any) -> str:
    value = getattr(reason, "value", reason)
    if type(value).__module__.startswith("OpenSSL"):
        # OpenSSL's error is a list of (library, function, reason) triples.
        details = value.args[0] if value.args and isinstance(value.args[0], list) else []
        said = [str(item[-1]) for item in details if isinstance(item, tuple) and item]
        return f"TLS error: {', '.join(said) or value}"
    return f"{type(value).__name__}: {value}"


def is_transient(failure: Failure) -> bool:
    """Whether a page that failed this way may well answer on a later poll: a timeout, a refused
    or reset connection, an unresolved name, a 5xx, 408 or 429. Not a refusal (robots.txt, the
    address guard), a page over the size limit, or another 4xx."""
    response = http_error_response(failure)
    if response is not None:
        return response.status >= 500 or response.status in (408, 429)
    return not failure.check(IgnoreRequest, DownloadCancelledError)


def http_error_response(failure: Failure) -> Response | None:
    return failure.value.response if isinstance(failure.value, HttpError) else None
