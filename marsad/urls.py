"""Canonical URLs: one spelling per article, whatever tracking the link carried."""

from __future__ import annotations

import contextlib
import posixpath
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit, urlunsplit

# Query parameters that say who sent the reader, not which article it is.
_TRACKING_PREFIXES = ("utm_", "mc_", "pk_", "piwik_", "hsa_", "ga_", "_hs")
_TRACKING_NAMES = frozenset(
    {
        "fbclid",
        "gclid",
        "dclid",
        "gclsrc",
        "msclkid",
        "yclid",
        "igshid",
        "twclid",
        "ocid",
        "cmpid",
        "icid",
        "ncid",
        "ref",
        "ref_src",
        "ref_url",
        "referrer",
        "spm",
        "share",
        "from",
        "src",
        "_ga",
        "_gl",
        "at_medium",
        "at_campaign",
        "xtor",
        "mkt_tok",
        "__twitter_impression",
        "amp",
        "output",
    }
)
_DEFAULT_PORTS = {"http": 80, "https": 443}
# Characters left unescaped in a canonical path: RFC 3986 unreserved and sub-delims, and ':@/'.
_PATH_SAFE = "/:@!$&'()*+,;=-._~"


def canonical_url(url: str) -> str:
    """Normalise ``url`` so that the same article always gets the same string.

    Lower-case scheme and host (IDNA-decoded host kept as punycode), default port dropped,
    ``www.`` kept (sites differ on it), fragment dropped, tracking parameters dropped, remaining
    parameters sorted, path percent-encoding made uniform (Arabic slugs are stored encoded),
    ``/./`` and ``/../`` resolved, an empty path made ``/``.
    """
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower() or "http"
    host = (parts.hostname or "").rstrip(".")
    with contextlib.suppress(UnicodeError):  # an invalid IDN stays as it was written
        host = host.encode("idna").decode("ascii") if host else host
    host = host.lower()
    netloc = host
    if parts.port and parts.port != _DEFAULT_PORTS.get(scheme):
        netloc = f"{host}:{parts.port}"
    if parts.username:
        netloc = f"{parts.username}@{netloc}"
    path = quote(unquote(parts.path), safe=_PATH_SAFE) or "/"
    if "/." in path:
        trailing = path.endswith("/")
        path = posixpath.normpath(path)
        path = path + "/" if trailing and not path.endswith("/") else path
        path = "/" + path.lstrip("/")
    query = [
        (k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if not _is_tracking(k)
    ]
    query.sort()
    return urlunsplit((scheme, netloc, path, urlencode(query, doseq=True), ""))


def _is_tracking(name: str) -> bool:
    lowered = name.lower()
    return lowered in _TRACKING_NAMES or lowered.startswith(_TRACKING_PREFIXES)
