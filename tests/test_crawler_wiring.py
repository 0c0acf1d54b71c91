"""How a crawl's components get what they need: the caller's store and rules through the settings
(read in ``from_crawler``), feed outcomes and problems through signals.

Real Scrapy objects (Settings, Crawler, StatsCollector, SignalManager) and a real in-memory store;
no crawl is started here (tests/test_crawl_loopback.py and test_crawler_kinds.py crawl).
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime

import pytest
from scrapy.crawler import Crawler
from scrapy.exceptions import NotConfigured
from scrapy.settings import Settings
from scrapy.statscollectors import MemoryStatsCollector
from sqlite_utils import Database

from marsad.alerts.matching import RuleIndex, compile_rules
from marsad.alerts.rules import Rule
from marsad.crawler.config import CrawlConfig, FeedConfig
from marsad.crawler.engine import CrawlEngine
from marsad.crawler.extensions import FeedLedger
from marsad.crawler.items import ArticleItem
from marsad.crawler.pipelines import StorePipeline
from marsad.crawler.problems import FEED_FAILED, report_problem
from marsad.crawler.runner import crawler_settings, register_feeds
from marsad.crawler.shared import RULES_SETTING, STORE_SETTING, WORKERS_SETTING, share
from marsad.crawler.signals import FeedOutcome, Problem, feed_fetched, problem_found
from marsad.crawler.spiders.feeds import FeedSpider
from marsad.crawler.workers import PageWorkers
from marsad.storage.feeds import (
    EntryNote,
    feed_states,
    record_feed_failed,
    retrying_entry_counts,
)
from marsad.storage.models import NewArticle

NOW = "2024-05-12T12:00:00Z"
FEEDS = [
    FeedConfig(name="sahel", url="http://sahel.example/rss", every=600.0, source="sahel"),
    FeedConfig(name="جبل", url="http://jabal.example/atom", every=600.0, source="jabal"),
]


@pytest.fixture
def rules() -> RuleIndex:
    return compile_rules([Rule("bridge", ("جسر",), ("hook",))])


@pytest.fixture
def registered(store: Database) -> Database:
    register_feeds(store, FEEDS, NOW)
    return store


def crawler(settings: Settings, spidercls: type[FeedSpider] = FeedSpider) -> Crawler:
    """A Crawler as the runner builds one, with the stats a started crawl would have."""
    built = Crawler(spidercls, settings)
    built.stats = MemoryStatsCollector(built)
    return built


def wired(store: Database, rules: RuleIndex) -> Settings:
    settings = crawler_settings(CrawlConfig())
    share(settings, store=store, rules=rules, workers=PageWorkers(0))
    return settings


class Received:
    """A receiver that outlives the test's crawler (signal receivers are weak references)."""

    def __init__(self) -> None:
        self.problems: list[Problem] = []
        self.outcomes: list[FeedOutcome] = []

    def problem(self, problem: Problem) -> None:
        self.problems.append(problem)

    def outcome(self, outcome: FeedOutcome) -> None:
        self.outcomes.append(outcome)


def test_the_shared_store_and_rules_survive_the_settings_copies(
    store: Database, rules: RuleIndex
) -> None:
    settings = wired(store, rules)
    built = crawler(settings.copy())  # the runner copies, and the Crawler copies again
    assert built.settings[STORE_SETTING].value is store
    assert built.settings[RULES_SETTING].value is rules
    assert StorePipeline.from_crawler(built).store is store
    assert StorePipeline.from_crawler(built).rules is rules
    assert FeedLedger.from_crawler(built).store is store
    assert FeedSpider.from_crawler(built).store is store
    assert isinstance(built.settings[WORKERS_SETTING].value, PageWorkers)


def test_the_spider_takes_its_limits_from_the_settings(store: Database, rules: RuleIndex) -> None:
    settings = crawler_settings(
        CrawlConfig(max_articles_per_feed=7, max_backoff=90.0, download_timeout=4.0)
    )
    share(settings, store=store, rules=rules, workers=PageWorkers(0))
    spider = FeedSpider.from_crawler(crawler(settings))
    assert spider.max_articles_per_feed == 7
    assert (spider.max_backoff, spider.fetch_timeout) == (90.0, 4.0)


def test_a_component_without_its_setting_is_not_configured_and_says_which(
    store: Database, rules: RuleIndex
) -> None:
    bare = crawler(crawler_settings(CrawlConfig()))
    for build in (StorePipeline.from_crawler, FeedLedger.from_crawler):
        with pytest.raises(NotConfigured, match=STORE_SETTING):
            build(bare)
    # The spider may have no store (a cluster's fetcher: its jobs carry what the store knows),
    # but it needs the workers its pages are extracted in.
    with pytest.raises(NotConfigured, match=WORKERS_SETTING):
        FeedSpider.from_crawler(bare)
    only_store = crawler_settings(CrawlConfig())
    only_store.set(STORE_SETTING, wired(store, rules)[STORE_SETTING])
    with pytest.raises(NotConfigured, match=RULES_SETTING):
        StorePipeline.from_crawler(crawler(only_store))
    wrong = crawler_settings(CrawlConfig())
    wrong.set(STORE_SETTING, "marsad.db")
    with pytest.raises(NotConfigured, match=f"{STORE_SETTING} must hold a Database"):
        FeedLedger.from_crawler(crawler(wrong))


def article(feed_id: int | None, path: str = "/a/1") -> ArticleItem:
    url = f"http://sahel.example{path}"
    return ArticleItem(
        NewArticle(
            url=url,
            canonical_url=url,
            source="sahel",
            title="افتتاح جسر الميناء",
            text="افتتحت البلدية جسر الميناء الجديد بعد ثلاث سنوات من العمل.",
            feed_id=feed_id,
        ),
        "sahel",
    )


def test_the_pipeline_stores_articles_and_passes_anything_else_on(
    registered: Database, rules: RuleIndex
) -> None:
    built = crawler(wired(registered, rules))
    pipeline = StorePipeline.from_crawler(built)
    feed_id = feed_states(registered, ["sahel"])["sahel"].id
    item = article(feed_id)
    other = {"not": "an article"}

    async def process() -> None:
        assert await pipeline.process_item(item) is item
        assert await pipeline.process_item(article(feed_id)) is not None  # the same URL: known
        assert await pipeline.process_item(other) is other

    asyncio.run(process())
    stats = built.stats.get_stats()
    assert stats["marsad/articles_new"] == 1
    assert stats["marsad/articles_known"] == 1
    assert stats["marsad/alerts_queued"] == 1
    assert registered.execute("SELECT count(*) FROM articles").fetchone()[0] == 1


def test_an_article_the_store_refuses_is_one_problem_logged_counted_and_signalled(
    registered: Database, rules: RuleIndex, caplog: pytest.LogCaptureFixture
) -> None:
    built = crawler(wired(registered, rules))
    received = Received()
    built.signals.connect(received.problem, signal=problem_found)
    pipeline = StorePipeline.from_crawler(built)
    sahel = feed_states(registered, ["sahel"])["sahel"].id

    async def process() -> None:
        # In one batch: the one the store refuses is rolled back alone.
        await asyncio.gather(
            pipeline.process_item(article(feed_id=999_999)),  # no such feed: a foreign key fails
            pipeline.process_item(article(sahel, "/a/2")),
        )

    with caplog.at_level(logging.WARNING):
        asyncio.run(process())
    [problem] = received.problems
    assert problem.kind == "article_not_stored" and problem.feed_name == "sahel"
    assert "'sahel': article http://sahel.example/a/1: cannot store:" in problem.message
    assert "FOREIGN KEY" in problem.message
    assert [r.getMessage() for r in caplog.records] == [problem.message]
    assert caplog.records[0].exc_info is not None  # the one log line carries the traceback
    stats = built.stats.get_stats()
    assert stats["marsad/problems/article_not_stored"] == 1
    assert stats["marsad/articles_failed"] == 1
    assert stats["marsad/articles_new"] == 1  # the next article is stored as usual


def test_report_problem_logs_once_counts_by_kind_and_signals(
    store: Database, rules: RuleIndex, caplog: pytest.LogCaptureFixture
) -> None:
    built = crawler(wired(store, rules))
    received = Received()
    built.signals.connect(received.problem, signal=problem_found)
    problem = Problem(FEED_FAILED, "feed 'down' (http://down.example/): HTTP 500", "down")
    with caplog.at_level(logging.WARNING):
        report_problem(built, problem, logging.getLogger("marsad.test"))
        report_problem(built, problem, logging.getLogger("marsad.test"))
    assert received.problems == [problem, problem]
    assert [r.getMessage() for r in caplog.records] == [problem.message] * 2
    assert built.stats.get_value("marsad/problems/feed_failed") == 2


def outcome(feed_id: int, kind: str, **fields: object) -> FeedOutcome:
    return FeedOutcome(
        feed_id=feed_id,
        feed_name="sahel",
        url="http://sahel.example/rss",
        outcome=kind,
        at="2024-05-12T12:30:00Z",
        **fields,  # type: ignore[arg-type]
    )


def test_the_ledger_records_each_feed_outcome_signalled(
    registered: Database, rules: RuleIndex
) -> None:
    built = crawler(wired(registered, rules))
    ledger = FeedLedger.from_crawler(built)  # connects itself, as the extension manager builds it
    feed_id = feed_states(registered, ["sahel"])["sahel"].id
    send = built.signals.send_catch_log
    send(
        feed_fetched,
        outcome=outcome(
            feed_id, "failed", status=503, error="HTTP 503", backoff_until="2024-05-12T12:32:00Z"
        ),
    )
    failed = feed_states(registered, ["sahel"])["sahel"]
    assert (failed.consecutive_failures, failed.backoff_until) == (1, "2024-05-12T12:32:00Z")
    send(
        feed_fetched,
        outcome=outcome(feed_id, "ok", status=200, etag='"v2"', body_hash="abc", new_items=3),
    )
    send(feed_fetched, outcome=outcome(feed_id, "unchanged", status=304))
    state = feed_states(registered, ["sahel"])["sahel"]
    assert (state.etag, state.body_hash, state.consecutive_failures) == ('"v2"', "abc", 0)
    assert (state.backoff_until, state.fetch_count) == (None, 3)
    row = next(registered.query("SELECT * FROM feeds WHERE id = ?", [feed_id]))
    assert (row["last_status"], row["items_total"]) == (304, 3)
    assert row["last_fetch_at"] == "2024-05-12T12:30:00Z"  # the time the spider saw the answer
    stats = built.stats.get_stats()
    assert [stats[f"marsad/feeds_{k}"] for k in ("failed", "ok", "unchanged")] == [1, 1, 1]
    assert ledger.store is registered


def test_feed_states_reads_the_feeds_asked_for_in_one_query(registered: Database) -> None:
    states = feed_states(registered, ["جبل", "sahel", "unknown"])
    assert sorted(states) == sorted(["جبل", "sahel"])
    assert states["جبل"].url == "http://jabal.example/atom"
    assert feed_states(registered, []) == {}


def test_a_poll_of_feeds_all_backing_off_crawls_nothing(
    registered: Database, rules: RuleIndex
) -> None:
    sahel = feed_states(registered, ["sahel"])["sahel"]
    record_feed_failed(
        registered, sahel.id, now=NOW, status=500, error="x", backoff_until="2024-05-12T13:00:00Z"
    )
    # Not even started: a poll with nothing due needs no crawler.
    engine = CrawlEngine(db=registered, rules=rules, crawl=CrawlConfig(), workers=0)
    report = asyncio.run(engine.crawl(FEEDS[:1], now=datetime(2024, 5, 12, 12, 30, tzinfo=UTC)))
    assert (report.feeds_skipped_backoff, report.feeds_ok, report.errors) == (1, 0, ())


def test_a_poll_of_feeds_never_registered_is_refused(store: Database, rules: RuleIndex) -> None:
    engine = CrawlEngine(db=store, rules=rules, crawl=CrawlConfig(), workers=0)
    with pytest.raises(ValueError, match="not registered in the store"):
        asyncio.run(engine.crawl(FEEDS))


def test_a_feed_of_a_kind_without_a_spider_is_refused(
    registered: Database, rules: RuleIndex
) -> None:
    engine = CrawlEngine(
        db=registered,
        rules=rules,
        crawl=CrawlConfig(),
        spiders={"atom-only": "marsad.crawler.spiders.feeds.FeedSpider"},
        workers=0,
    )
    with pytest.raises(ValueError, match="no spider for kind 'rss'"):
        asyncio.run(engine.crawl(FEEDS))


def test_the_body_hash_is_never_saved_without_the_entries_it_still_owes(
    registered: Database, rules: RuleIndex
) -> None:
    # The store refuses to note the entries owed (a real trigger): the feed's new body hash,
    # which would make the next poll "unchanged", must not be saved either.
    registered.execute(
        "CREATE TRIGGER refuse_entries BEFORE INSERT ON feed_entries "
        "BEGIN SELECT RAISE(ABORT, 'refused by a test trigger'); END"
    )
    built = crawler(wired(registered, rules))
    ledger = FeedLedger.from_crawler(built)  # held: signal receivers are weak references
    feed_id = feed_states(registered, ["sahel"])["sahel"].id
    owed = EntryNote("guid:a", "http://sahel.example/a", "pending")
    built.signals.send_catch_log(
        feed_fetched,
        outcome=outcome(
            feed_id, "ok", status=200, body_hash="new", listed=("guid:a",), attempted=(owed,)
        ),
    )
    state = feed_states(registered, ["sahel"])["sahel"]
    assert (state.body_hash, state.fetch_count) == (None, 0)
    assert built.stats.get_value("marsad/problems/feed_not_recorded") == 1
    registered.execute("DROP TRIGGER refuse_entries")
    built.signals.send_catch_log(
        feed_fetched,
        outcome=outcome(
            feed_id, "ok", status=200, body_hash="new", listed=("guid:a",), attempted=(owed,)
        ),
    )
    assert feed_states(registered, ["sahel"])["sahel"].body_hash == "new"
    assert retrying_entry_counts(registered, [feed_id]) == {feed_id: 1}
    assert built.stats.get_value("marsad/feeds_ok") == 1  # the refused one was not counted
    assert ledger.store is registered
