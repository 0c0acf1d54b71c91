"""``marsad.toml``: read once at the edge into a frozen :class:`Config`, validated with errors
that name the file, the key and the problem."""

from __future__ import annotations

import ipaddress
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from marsad.alerts.channels import Channel, ChannelError, parse_channels
from marsad.alerts.config import AlertsConfig, DeliveryConfig
from marsad.alerts.health import HealthConfig
from marsad.alerts.rules import Rule, RuleError, check_rule_feeds, parse_rules
from marsad.crawler.config import CrawlConfig, FeedConfig, PollingConfig
from marsad.crawler.spiders import DEFAULT_KIND, SPIDERS
from marsad.storage.retention import KINDS as RETENTION_KINDS
from marsad.storage.retention import Retention
from marsad.times import DURATION_SYNTAX, format_duration, parse_duration

MINUTE, HOUR, DAY, WEEK = 60.0, 3600.0, 86400.0, 7 * 86400.0


class ConfigError(ValueError):
    """The configuration cannot be used; the message says where and why."""


@dataclass(frozen=True)
class Config:
    store_path: Path
    feeds: tuple[FeedConfig, ...] = ()
    rules: tuple[Rule, ...] = ()
    channels: Mapping[str, Channel] = field(default_factory=dict)
    crawl: CrawlConfig = field(default_factory=CrawlConfig)
    delivery: DeliveryConfig = field(default_factory=DeliveryConfig)
    alerts: AlertsConfig = field(default_factory=AlertsConfig)
    retention: Retention = field(default_factory=Retention)
    health: HealthConfig = field(default_factory=HealthConfig)
    polling: PollingConfig = field(default_factory=PollingConfig)
    http: HttpConfig = field(default_factory=lambda: HttpConfig())
    crosslingual: CrossLingualConfig = field(default_factory=lambda: CrossLingualConfig())
    cluster: ClusterConfig | None = None
    source_path: Path | None = None


_TOP_KEYS = {
    "store",
    "feeds",
    "rules",
    "channels",
    "crawl",
    "delivery",
    "alerts",
    "retention",
    "http",
    "health",
    "polling",
    "crosslingual",
    "cluster",
}


@dataclass(frozen=True)
class HttpConfig:
    """``[http]``: where the daemon serves /healthz, /readyz and /metrics, and the probes'
    thresholds. ``listen`` is (host, port), or None for "off"; port 0 takes any free port."""

    listen: tuple[str, int] | None = ("127.0.0.1", 9464)
    # Whether the file says where: the default port taken (another daemon on this host) falls
    # back to any free one, said in the log and in the runtime file; a port written is kept.
    listen_given: bool = False
    loop_timeout: float = 5.0  # /healthz fails when the event loop takes longer to answer
    scheduler_stale: float = 60.0  # /readyz fails when the scheduler has not ticked for this long
    alert_age: float = 900.0  # /readyz fails when an alert has been due for longer than this


@dataclass(frozen=True)
class CrossLingualConfig:
    """``[crosslingual]``: linking Arabic machine translations to the (English) originals.

    ``enabled`` "auto" works once the store holds a non-Arabic article of the window (a store of
    Arabic feeds only pays nothing); ``window`` is how long articles stay candidates (their
    vectors are pruned after it); an alert on an article not yet checked waits up to ``hold``
    for the check, so that a translation and its original make one story and one alert."""

    enabled: bool | None = None  # None: "auto"
    window: float = 14 * 86400.0
    hold: float = 60.0


@dataclass(frozen=True)
class ClusterConfig:
    """``[cluster]``: ``marsad run --role scheduler|fetcher|writer`` on one Redis.

    The URL carries no password: it comes from the environment variable ``password_env``."""

    redis_url: str
    password_env: str | None = None
    prefix: str = "marsad"
    heartbeat: float = 2.0  # a fetcher says it is alive this often
    fetcher_ttl: float = 10.0  # a fetcher silent this long has left: its sites move


def _duration(
    table: Mapping[str, Any], key: str, default: object, where: str, low: float, high: float
) -> float:
    """``table[key]`` (or ``default``) as seconds from ``low`` to ``high``."""
    try:
        return parse_duration(table.get(key, default), low=low, high=high)
    except ValueError as exc:
        raise ConfigError(f"{where}.{key}: {exc}") from None


def load_config(
    path: str | Path,
    *,
    db_override: str | Path | None = None,
    environ: Mapping[str, str] | None = None,
) -> Config:
    """Read and validate a config file. ``db_override`` (from ``--db``) replaces [store] path;
    channel secrets are looked up in ``environ`` (default: the process environment), once."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    try:
        document = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text (byte {exc.start})") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from exc
    try:
        return config_from_document(
            document,
            base_dir=path.parent,
            db_override=db_override,
            source_path=path,
            environ=environ,
        )
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from exc


def config_from_document(
    document: Mapping[str, Any],
    *,
    base_dir: Path = Path("."),
    db_override: str | Path | None = None,
    source_path: Path | None = None,
    environ: Mapping[str, str] | None = None,
) -> Config:
    unknown = sorted(set(document) - _TOP_KEYS)
    if unknown:
        raise ConfigError(f"{unknown[0]}: unknown section (known: {', '.join(sorted(_TOP_KEYS))})")
    store = _table(document.get("store", {}), "store")
    _reject_unknown(store, {"path"}, "store")
    path_value = store.get("path", "marsad.db")
    if not isinstance(path_value, str) or not path_value.strip():
        raise ConfigError(f"store.path: must be a non-empty string, got {path_value!r}")
    store_path = Path(db_override) if db_override else Path(path_value)
    if not db_override and not store_path.is_absolute():
        store_path = base_dir / store_path
    try:
        rules = parse_rules(document.get("rules"))
        channels = parse_channels(
            document.get("channels"), environ=os.environ if environ is None else environ
        )
    except (RuleError, ChannelError) as exc:
        raise ConfigError(str(exc)) from exc
    for index, rule in enumerate(rules):
        for channel in rule.channels:
            if channel not in channels:
                raise ConfigError(
                    f"rules[{index}] {rule.name!r}: channels: no channel named {channel!r} "
                    f"(defined: {', '.join(sorted(channels)) or 'none'})"
                )
    feeds = _parse_feeds(document.get("feeds", []))
    try:  # a rule scoped to a feed the config does not have would never match
        check_rule_feeds(rules, {feed.name for feed in feeds})
    except RuleError as exc:
        raise ConfigError(str(exc)) from exc
    return Config(
        store_path=store_path,
        feeds=feeds,
        rules=rules,
        channels=channels,
        crawl=_parse_crawl(_table(document.get("crawl", {}), "crawl")),
        delivery=_parse_delivery(_table(document.get("delivery", {}), "delivery")),
        alerts=_parse_alerts(_table(document.get("alerts", {}), "alerts")),
        retention=_parse_retention(_table(document.get("retention", {}), "retention")),
        http=_parse_http(_table(document.get("http", {}), "http")),
        health=_parse_health(_table(document.get("health", {}), "health"), channels),
        polling=_parse_polling(_table(document.get("polling", {}), "polling")),
        crosslingual=_parse_crosslingual(_table(document.get("crosslingual", {}), "crosslingual")),
        cluster=_parse_cluster(document["cluster"]) if "cluster" in document else None,
        source_path=source_path,
    )


def _parse_feeds(value: object) -> tuple[FeedConfig, ...]:
    if not isinstance(value, list):
        raise ConfigError("feeds: must be an array of tables ([[feeds]])")
    feeds: list[FeedConfig] = []
    names: set[str] = set()
    for index, table in enumerate(value):
        where = f"feeds[{index}]"
        table = _table(table, where)
        _reject_unknown(
            table, {"name", "url", "every", "source", "kind", "adaptive", "expect_every"}, where
        )
        name = table.get("name")
        if not isinstance(name, str) or not name.strip():
            raise ConfigError(f"{where}.name: required, a non-empty string")
        if name in names:
            raise ConfigError(f"{where}.name: {name!r} is used by an earlier feed")
        names.add(name)
        url = table.get("url")
        parts = urlsplit(url) if isinstance(url, str) else None
        if parts is None or parts.scheme not in ("http", "https") or not parts.netloc:
            raise ConfigError(f"{where} {name!r}.url: must be an http(s) URL, got {url!r}")
        # More often than every 10s is rude to the publisher; less than weekly is not watching.
        every = _duration(table, "every", "10m", f"{where} {name!r}", 10.0, WEEK)
        source = table.get("source", name)
        if not isinstance(source, str) or not source.strip():
            raise ConfigError(f"{where} {name!r}.source: must be a non-empty string")
        kind = table.get("kind", DEFAULT_KIND)
        if kind not in SPIDERS:
            raise ConfigError(
                f"{where} {name!r}.kind: must be one of {', '.join(sorted(SPIDERS))}, got {kind!r}"
            )
        adaptive = table.get("adaptive", True)
        if not isinstance(adaptive, bool):
            raise ConfigError(f"{where} {name!r}.adaptive: must be true or false")
        expect_every = None
        if "expect_every" in table:
            expect_every = _duration(
                table, "expect_every", None, f"{where} {name!r}", 1.0, 365 * DAY
            )
        feeds.append(
            FeedConfig(
                name=name,
                url=str(url),
                every=every,
                source=source,
                kind=kind,
                adaptive=adaptive,
                expect_every=expect_every,
            )
        )
    return tuple(feeds)


def _parse_crawl(table: Mapping[str, Any]) -> CrawlConfig:
    d = CrawlConfig()
    known = {
        "user_agent",
        "obey_robots",
        "download_timeout",
        "max_page_bytes",
        "concurrency_per_domain",
        "delay",
        "max_articles_per_feed",
        "max_backoff",
        "allow_private",
        "concurrency",
        "workers",
    }
    _reject_unknown(table, known, "crawl")
    ua = table.get("user_agent", d.user_agent)
    if not isinstance(ua, str) or not ua.strip():
        raise ConfigError("crawl.user_agent: must be a non-empty string")
    robots = table.get("obey_robots", d.obey_robots)
    if not isinstance(robots, bool):
        raise ConfigError("crawl.obey_robots: must be true or false")
    return CrawlConfig(
        user_agent=ua,
        obey_robots=robots,
        download_timeout=_duration(
            table, "download_timeout", d.download_timeout, "crawl", 1.0, 10 * MINUTE
        ),
        max_page_bytes=_whole(table, "max_page_bytes", d.max_page_bytes, "crawl", 1024, 2**30),
        concurrency_per_domain=_whole(
            table, "concurrency_per_domain", d.concurrency_per_domain, "crawl", 1, 32
        ),
        # The pause between two requests to one site: a crawl waits it out, so it is bounded.
        delay=_duration(table, "delay", d.delay, "crawl", 0.0, 10 * MINUTE),
        max_articles_per_feed=_whole(
            table, "max_articles_per_feed", d.max_articles_per_feed, "crawl", 1, 10_000
        ),
        max_backoff=_duration(table, "max_backoff", d.max_backoff, "crawl", MINUTE, 30 * DAY),
        allow_private=_allowed_addresses(table.get("allow_private", [])),
        concurrency=_whole(table, "concurrency", d.concurrency, "crawl", 1, 1024),
        workers=_workers(table.get("workers", "auto")),
    )


def _workers(value: object) -> int | None:
    """``[crawl] workers``: "auto" (one per core but one, at least one) or a number of
    processes, 0 for none."""
    if value == "auto":
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 64:
        raise ConfigError(
            f'crawl.workers: must be "auto" or a whole number from 0 to 64, not {value!r}'
        )
    return value


def _allowed_addresses(value: object) -> tuple[str, ...]:
    """``[crawl] allow_private``: CIDRs or IP addresses, or host names."""
    if not isinstance(value, list):
        raise ConfigError("crawl.allow_private: must be a list of CIDRs or host names")
    allowed: list[str] = []
    for index, item in enumerate(value):
        where = f"crawl.allow_private[{index}]"
        if not isinstance(item, str) or not item.strip():
            raise ConfigError(f"{where}: must be a CIDR (10.0.0.0/8) or a host name")
        text = item.strip()
        try:
            ipaddress.ip_network(text, strict=False)
        except ValueError:
            if "/" in text or not _HOST_NAME.fullmatch(text):
                raise ConfigError(f"{where}: {text!r} is neither a CIDR nor a host name") from None
            text = text.lower().rstrip(".")
        allowed.append(text)
    return tuple(allowed)


_HOST_NAME = re.compile(
    r"(?=.{1,253}$)[A-Za-z0-9_]([A-Za-z0-9_-]{0,62})(\.[A-Za-z0-9_-]{1,63})*\.?"
)


def _parse_alerts(table: Mapping[str, Any]) -> AlertsConfig:
    _reject_unknown(table, {"window"}, "alerts")
    if table.get("window") in (0, "0", "off", False):
        return AlertsConfig(window=None)
    window = _duration(table, "window", AlertsConfig().window, "alerts", HOUR, 365 * DAY)
    return AlertsConfig(window=window)


def _parse_retention(table: Mapping[str, Any]) -> Retention:
    """``[retention]``: how long each kind of history is kept; "off" keeps it for ever."""
    d = Retention()
    _reject_unknown(table, set(RETENTION_KINDS), "retention")
    low, high = DAY, 3650 * DAY
    periods: dict[str, float | None] = {}
    for key in RETENTION_KINDS:
        value = table.get(key, getattr(d, key))
        if value is None or value == "off" or value is False:
            periods[key] = None
            continue
        try:
            periods[key] = parse_duration(value, low=low, high=high)
        except ValueError:
            raise ConfigError(
                f'retention.{key}: must be "off" or a duration from {format_duration(low)} to '
                f"{format_duration(high)} ({DURATION_SYNTAX}), got {value!r}"
            ) from None
    return Retention(**periods)


def _parse_http(table: Mapping[str, Any]) -> HttpConfig:
    """``[http]``: ``listen = "HOST:PORT"`` (an IP address or localhost; ``[::1]:9464`` for
    IPv6) or ``"off"``, and the probes' thresholds."""
    d = HttpConfig()
    _reject_unknown(table, {"listen", "loop_timeout", "scheduler_stale", "alert_age"}, "http")
    return HttpConfig(
        listen=_listen_address(table.get("listen", "127.0.0.1:9464")),
        listen_given="listen" in table,
        loop_timeout=_duration(table, "loop_timeout", d.loop_timeout, "http", 0.1, MINUTE),
        scheduler_stale=_duration(table, "scheduler_stale", d.scheduler_stale, "http", 1.0, DAY),
        alert_age=_duration(table, "alert_age", d.alert_age, "http", 1.0, 30 * DAY),
    )


def _listen_address(value: object) -> tuple[str, int] | None:
    if value in ("off", False):
        return None
    syntax = '"HOST:PORT" (127.0.0.1:9464, [::1]:9464, localhost:9464) or "off"'
    if not isinstance(value, str):
        raise ConfigError(f"http.listen: must be {syntax}, got {value!r}")
    host, colon, port = value.strip().rpartition(":")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if not colon or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ConfigError(f"http.listen: must be {syntax}, port 0 to 65535; got {value!r}")
    if host != "localhost":
        try:
            ipaddress.ip_address(host)
        except ValueError:
            raise ConfigError(
                f"http.listen: {host!r} is not an IP address (or localhost): must be {syntax}"
            ) from None
    return host, int(port)


def _parse_health(table: Mapping[str, Any], channels: Mapping[str, Channel]) -> HealthConfig:
    """``[health]``: when a feed is failing or silent, when a channel is failing, and the
    channels that hear of it (none: states are kept and shown, nothing is sent)."""
    d = HealthConfig()
    known = {
        "channels",
        "failures",
        "failing_after",
        "silent_factor",
        "silent_floor",
        "channel_failing_after",
        "dead_letters_every",
    }
    _reject_unknown(table, known, "health")
    names = table.get("channels", [])
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise ConfigError("health.channels: must be a list of channel names")
    for name in names:
        if name not in channels:
            raise ConfigError(
                f"health.channels: no channel named {name!r} "
                f"(defined: {', '.join(sorted(channels)) or 'none'})"
            )
    factor = table.get("silent_factor", d.silent_factor)
    if isinstance(factor, bool) or not isinstance(factor, int | float) or not 1 <= factor <= 100:
        raise ConfigError(f"health.silent_factor: must be a number from 1 to 100, got {factor!r}")
    return HealthConfig(
        channels=tuple(dict.fromkeys(names)),
        failures=_whole(table, "failures", d.failures, "health", 1, 1000),
        failing_after=_duration(table, "failing_after", d.failing_after, "health", 1.0, 30 * DAY),
        silent_factor=float(factor),
        silent_floor=_duration(table, "silent_floor", d.silent_floor, "health", 1.0, 365 * DAY),
        channel_failing_after=_duration(
            table, "channel_failing_after", d.channel_failing_after, "health", 1.0, 30 * DAY
        ),
        dead_letters_every=_duration(
            table, "dead_letters_every", d.dead_letters_every, "health", 0.0, 30 * DAY
        ),
    )


def _parse_polling(table: Mapping[str, Any]) -> PollingConfig:
    """``[polling]``: the bounds of adaptive intervals and Miniflux's entry-frequency factor."""
    d = PollingConfig()
    _reject_unknown(table, {"min_interval", "max_interval", "factor"}, "polling")
    low = _duration(table, "min_interval", d.min_interval, "polling", 10.0, WEEK)
    high = _duration(table, "max_interval", d.max_interval, "polling", 10.0, 30 * DAY)
    if high < low:
        raise ConfigError(
            f"polling.max_interval: must be at least min_interval ({format_duration(low)}), "
            f"got {format_duration(high)}"
        )
    factor = table.get("factor", d.factor)
    if isinstance(factor, bool) or not isinstance(factor, int | float) or not 0.1 <= factor <= 100:
        raise ConfigError(f"polling.factor: must be a number from 0.1 to 100, got {factor!r}")
    return PollingConfig(min_interval=low, max_interval=high, factor=float(factor))


def _parse_delivery(table: Mapping[str, Any]) -> DeliveryConfig:
    d = DeliveryConfig()
    known = {"every", "max_attempts", "backoff_base", "backoff_max"}
    _reject_unknown(table, known, "delivery")
    base = _duration(table, "backoff_base", d.backoff_base, "delivery", 1.0, DAY)
    longest = _duration(table, "backoff_max", d.backoff_max, "delivery", 1.0, 30 * DAY)
    if longest < base:
        raise ConfigError(
            f"delivery.backoff_max: must be at least backoff_base ({format_duration(base)}), "
            f"got {format_duration(longest)}"
        )
    return DeliveryConfig(
        every=_duration(table, "every", d.every, "delivery", 1.0, DAY),
        max_attempts=_whole(table, "max_attempts", d.max_attempts, "delivery", 1, 100),
        backoff_base=base,
        backoff_max=longest,
    )


def _parse_crosslingual(table: Mapping[str, Any]) -> CrossLingualConfig:
    d = CrossLingualConfig()
    _reject_unknown(table, {"enabled", "window", "hold"}, "crosslingual")
    enabled = table.get("enabled", "auto")
    if enabled not in ("auto", True, False):
        raise ConfigError(f'crosslingual.enabled: must be true, false or "auto", got {enabled!r}')
    return CrossLingualConfig(
        enabled=None if enabled == "auto" else bool(enabled),
        window=_duration(table, "window", d.window, "crosslingual", 3600.0, 365 * DAY),
        hold=_duration(table, "hold", d.hold, "crosslingual", 0.0, DAY),
    )


def _parse_cluster(value: object) -> ClusterConfig:
    table = _table(value, "cluster")
    known = {"redis_url", "password_env", "prefix", "heartbeat", "fetcher_ttl"}
    _reject_unknown(table, known, "cluster")
    url = table.get("redis_url")
    if not isinstance(url, str) or not url.startswith(("redis://", "rediss://", "unix://")):
        raise ConfigError(
            f"cluster.redis_url: must be a redis://, rediss:// or unix:// URL, got {url!r}"
        )
    parts = urlsplit(url)
    # redis-py also takes a password from the query (and it wins over password_env).
    if parts.password or "password" in parse_qs(parts.query):
        raise ConfigError(
            "cluster.redis_url: must not hold a password (put it in the environment and name "
            "the variable in cluster.password_env)"
        )
    password_env = table.get("password_env")
    if password_env is not None and (not isinstance(password_env, str) or not password_env):
        raise ConfigError("cluster.password_env: must be the name of an environment variable")
    prefix = table.get("prefix", "marsad")
    if not isinstance(prefix, str) or not prefix or any(c in prefix for c in " {}"):
        raise ConfigError(f"cluster.prefix: must be a non-empty word, got {prefix!r}")
    heartbeat = _duration(table, "heartbeat", 2.0, "cluster", 0.1, 60.0)
    ttl = _duration(table, "fetcher_ttl", 10.0, "cluster", 0.5, 600.0)
    if ttl < 2 * heartbeat:
        raise ConfigError(
            f"cluster.fetcher_ttl: must be at least twice the heartbeat ({heartbeat:g}s), "
            f"got {ttl:g}s"
        )
    return ClusterConfig(
        redis_url=url,
        password_env=password_env,
        prefix=prefix,
        heartbeat=heartbeat,
        fetcher_ttl=ttl,
    )


def _reject_unknown(table: Mapping[str, Any], known: set[str], where: str) -> None:
    unknown = sorted(set(table) - known)
    if unknown:
        raise ConfigError(f"{where}.{unknown[0]}: unknown key (known: {', '.join(sorted(known))})")


def _table(value: object, where: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise ConfigError(f"{where}: must be a table")
    return value


def _whole(
    table: Mapping[str, Any], key: str, default: int, where: str, low: int, high: int
) -> int:
    value = table.get(key, default)
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise ConfigError(
            f"{where}.{key}: must be a whole number from {low:,} to {high:,}, got {value!r}"
        )
    return value
