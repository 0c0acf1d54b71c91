"""The objects a crawl uses but does not own, carried in its settings.

The caller (:class:`marsad.crawler.engine.CrawlEngine`) owns one store connection, one compiled
rule index and the worker processes and puts them in its crawler's settings; every component
reads them in its ``from_crawler`` and raises ``NotConfigured`` naming the setting when one
is missing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from scrapy.exceptions import NotConfigured
from sqlite_utils import Database

from marsad.alerts.matching import RuleIndex

if TYPE_CHECKING:
    from scrapy.settings import BaseSettings

    from marsad.crawler.workers import PageWorkers

# The store (a sqlite-utils Database), open for as long as the caller lives.
STORE_SETTING = "MARSAD_STORE"
# The compiled rules (marsad.alerts.matching.RuleIndex) every stored article is matched against.
RULES_SETTING = "MARSAD_RULES"
# The worker processes pages become articles in (marsad.crawler.workers.PageWorkers).
WORKERS_SETTING = "MARSAD_WORKERS"

T = TypeVar("T")


@dataclass(frozen=True)
class Shared(Generic[T]):
    """One object shared by reference through Scrapy settings.

    Scrapy deep-copies settings for every runner and every crawler (twice per crawl). A Database
    cannot be copied at all (deepcopy fails on its sqlite3 connection: "cannot pickle"), and a
    copied RuleIndex would cost a full copy per crawl and warm its cache of analysed text in the
    copy, which is thrown away when the crawl ends. Both must stay the caller's one object, so a
    copy of the holder is the holder itself.
    """

    value: T

    def __deepcopy__(self, memo: dict[int, Any]) -> Shared[T]:
        return self

    def __copy__(self) -> Shared[T]:
        return self


def share(
    settings: BaseSettings, *, store: Database | None, rules: RuleIndex, workers: PageWorkers
) -> None:
    """Put the caller's store, rules and workers into ``settings`` (before a Crawler copies
    them); a fetcher has no store."""
    if store is not None:
        settings.set(STORE_SETTING, Shared(store), priority="cmdline")
    settings.set(RULES_SETTING, Shared(rules), priority="cmdline")
    settings.set(WORKERS_SETTING, Shared(workers), priority="cmdline")


def shared_store(settings: BaseSettings) -> Database:
    return _shared(settings, STORE_SETTING, Database)


def shared_store_or_none(settings: BaseSettings) -> Database | None:
    """The store, or None for a crawler that has none (a fetcher: marsad run --role fetcher)."""
    if settings.get(STORE_SETTING) is None:
        return None
    return shared_store(settings)


def shared_rules(settings: BaseSettings) -> RuleIndex:
    return _shared(settings, RULES_SETTING, RuleIndex)


def shared_workers(settings: BaseSettings) -> PageWorkers:
    from marsad.crawler.workers import PageWorkers

    return _shared(settings, WORKERS_SETTING, PageWorkers)


def _shared(settings: BaseSettings, key: str, kind: type[T]) -> T:
    holder = settings.get(key)
    if holder is None:
        raise NotConfigured(
            f"{key} is not set: the crawl's caller puts the shared {kind.__name__} in the "
            "settings (marsad.crawler.shared.share)"
        )
    value = holder.value if isinstance(holder, Shared) else holder
    if not isinstance(value, kind):
        raise NotConfigured(f"{key} must hold a {kind.__name__}, not {type(value).__name__}")
    return value
