"""Scrapy project settings for the marsad crawler.

The politeness values here are CrawlConfig's defaults; :func:`crawler.runner.crawler_settings`
overrides them from the config file.
"""

from __future__ import annotations

from marsad.crawler.config import CrawlConfig

_DEFAULTS = CrawlConfig()

BOT_NAME = "marsad"
SPIDER_MODULES = ["marsad.crawler.spiders"]
NEWSPIDER_MODULE = "marsad.crawler.spiders"
TWISTED_REACTOR = "twisted.internet.asyncioreactor.AsyncioSelectorReactor"

USER_AGENT = _DEFAULTS.user_agent
ROBOTSTXT_OBEY = _DEFAULTS.obey_robots
CONCURRENT_REQUESTS_PER_DOMAIN = _DEFAULTS.concurrency_per_domain
DOWNLOAD_DELAY = _DEFAULTS.delay
# The delay as configured: randomised, Scrapy draws a new value each time it looks at a site's
# slot, so the mean gap was 1.22 × the delay, and some gaps half of it.
DOWNLOAD_DELAY_JITTER = 0
CONCURRENT_REQUESTS = _DEFAULTS.concurrency
DOWNLOAD_TIMEOUT = _DEFAULTS.download_timeout
DNS_TIMEOUT = _DEFAULTS.download_timeout
DOWNLOAD_MAXSIZE = _DEFAULTS.max_page_bytes
DOWNLOAD_WARNSIZE = 0  # the max size is the limit; a warning below it is noise
REDIRECT_MAX_TIMES = 5
# No request is dropped unseen. Scrapy's dupefilter discards a redirect to a URL requested
# before in the crawl without calling the request's callback or errback, so the feed entry that
# redirected there was neither stored nor reported. The spider follows each canonical URL once
# itself; a redirect loop ends at REDIRECT_MAX_TIMES.
DUPEFILTER_CLASS = "scrapy.dupefilters.BaseDupeFilter"
COOKIES_ENABLED = False
TELNETCONSOLE_ENABLED = False
# Scrapy 2.19 turns on an HTTP server per crawl that runs Python code sent to it (token in a file
# under the user's profile); a daemon that crawls untrusted sites has no use for one.
REMOTE_CONTROL_ENABLED = False
HTTPCACHE_ENABLED = False
# Scrapy checks each callback for a generator returning a value by parsing its source with ast;
# its cache holds the bound method weakly, and a new bound method dies at once, so the source was
# parsed again on every response (7% of an unchanged feed's poll).
WARN_ON_GENERATOR_RETURN_VALUE = False
# Scrapy starts this many tasks for every response's output, whatever it holds: an unchanged
# feed yields nothing, a page one item, a feed its entries' requests (queued at once).
CONCURRENT_ITEMS = 16

# One retry for a dropped connection or a 5xx; never for a timeout (a hanging server would cost
# twice the timeout) and never for 429/503 (RetryAfterMiddleware and the feed back-off handle it).
RETRY_TIMES = 1
RETRY_HTTP_CODES = [500, 502, 504, 522, 524, 408]
RETRY_EXCEPTIONS = [
    "scrapy.exceptions.DownloadConnectionRefusedError",
    "scrapy.exceptions.ResponseDataLossError",
    "twisted.internet.error.ConnectionDone",
    "twisted.internet.error.ConnectionLost",
]

# Only http and https, through the handler that connects only to addresses the policy allows
# (marsad.crawler.guard); Scrapy's own file:, data:, ftp: and s3: handlers would read local files
# and reach other protocols for whoever writes a feed's links. A dict setting merges with
# Scrapy's base handlers, so the others are switched off by name.
_GUARDED_HTTP = "marsad.crawler.guard.GuardedHTTPDownloadHandler"
DOWNLOAD_HANDLERS = {
    "http": _GUARDED_HTTP,
    "https": _GUARDED_HTTP,
    "data": None,
    "file": None,
    "ftp": None,
    "s3": None,
}
# A proxy (http_proxy in the environment) would resolve and connect to addresses marsad cannot
# check; the guard refuses any request that names one.
HTTPPROXY_ENABLED = False
# [crawl] allow_private: CIDRs or host names fetched although not public (CrawlConfig's value).
MARSAD_ALLOW_PRIVATE = list(_DEFAULTS.allow_private)

DOWNLOADER_MIDDLEWARES = {
    # Before RobotsTxtMiddleware (100): a refused URL gets no robots.txt request either.
    "marsad.crawler.guard.FetchGuardMiddleware": 50,
    "marsad.crawler.middlewares.RobotsTxtFailureMiddleware": 60,
    # Scrapy's, with each site's robots.txt kept a day instead of for the crawler's life.
    "scrapy.downloadermiddlewares.robotstxt.RobotsTxtMiddleware": None,
    "marsad.crawler.middlewares.ExpiringRobotsTxtMiddleware": 100,
    "marsad.crawler.middlewares.RetryAfterMiddleware": 560,
    # No spider of ours sets allowed_domains or http_user: these only cost a call per request.
    "scrapy.downloadermiddlewares.offsite.OffsiteMiddleware": None,
    "scrapy.downloadermiddlewares.httpauth.HttpAuthMiddleware": None,
}
SPIDER_MIDDLEWARES = {
    # No depth limit (a feed's entries are one hop from it), and the meta-copy check is a
    # development aid: each cost a pass over every request and item.
    "scrapy.spidermiddlewares.depth.DepthMiddleware": None,
    "scrapy.spidermiddlewares.metacopy.MetaCopyDetectionMiddleware": None,
}
ITEM_PIPELINES = {"marsad.crawler.pipelines.StorePipeline": 300}
# The telemetry after the ledger: it counts a fetch the ledger has recorded (or reported).
EXTENSIONS = {
    "marsad.crawler.extensions.FeedLedger": 500,
    "marsad.crawler.telemetry.CrawlTelemetry": 510,
}

# Ours. MARSAD_STORE and MARSAD_RULES (marsad.crawler.shared) have no default: the caller of a
# crawl owns the store connection and the compiled rules and puts them in each crawl's settings.
MARSAD_MAX_ARTICLES_PER_FEED = _DEFAULTS.max_articles_per_feed
MARSAD_MAX_BACKOFF = _DEFAULTS.max_backoff

LOG_LEVEL = "INFO"
