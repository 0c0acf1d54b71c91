"""What crosses Redis (#16): every message kind to the stream's fields and back unchanged, the
prepared article's bytes too; anything else is a CodecError, never a half-read message."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlite_utils import Database

from marsad.crawler.config import FeedConfig
from marsad.crawler.poll import CrawlReport
from marsad.crawler.polling import Hint, ReadingNote
from marsad.crawler.runner import due_jobs, register_feeds
from marsad.crawler.signals import FeedOutcome
from marsad.ingest.prepare import prepare_article
from marsad.scheduler.cluster import codec, messages
from marsad.storage.db import open_store
from marsad.storage.feeds import EntryNote, EntryRecord, KnownEntries, known_entries
from marsad.storage.models import NewArticle

FEED = FeedConfig(name="outlet", url="https://news.example.com/rss", every=600.0, source="منفذ")
TEXT = (
    "قال الوزير إن الحكومة ستعلن عن خطة جديدة للنقل العام في المدن الكبرى خلال الأسبوع المقبل. " * 6
)


@pytest.fixture
def db() -> Iterator[Database]:
    store = open_store(":memory:")
    register_feeds(store, [FEED], "2026-12-01T00:00:00Z")
    yield store
    store.close()


def _as_redis_gives_it(fields: dict[Any, Any]) -> dict[bytes, bytes]:
    """A stream entry's fields as redis-py reads them back: bytes keys and values."""
    return {str(k).encode(): str(v).encode("utf-8") for k, v in fields.items()}


def _round_trip(kind: str, message: object) -> object:
    got_kind, got = messages.decode(_as_redis_gives_it(messages.encode(kind, message)))
    assert got_kind == kind
    return got


def _article() -> NewArticle:
    return NewArticle(
        url="https://news.example.com/a/1.html?utm_source=rss",
        canonical_url="https://news.example.com/a/1.html",
        source="منفذ",
        title="الوزير يعلن خطة النقل",
        text=TEXT,
        published="2026-12-01T08:00:00Z",
        guid="urn:1",
        feed_id=1,
    )


def test_a_job_with_what_the_store_knows_comes_back_equal(db: Database) -> None:
    (job,), _ = due_jobs(db, [FEED], datetime(2026, 12, 1, tzinfo=UTC))
    known = known_entries(db, job.state.id)
    known = replace(
        known,
        records=(
            EntryRecord(
                "k1",
                "https://news.example.com/a/2.html",
                "retrying",
                "timeout",
                2,
                "2026-12-01T00:00:00Z",
                "2026-12-01T01:00:00Z",
            ),
        ),
        urls=("https://news.example.com/a/1.html",),
        guids=("urn:1",),
    )
    message = messages.JobMessage(replace(job, known=known, retrying=1), "2026-12-01T00:00:01Z", 2)
    back = _round_trip(messages.JOB, message)
    assert back == message
    assert isinstance(back, messages.JobMessage) and isinstance(back.job.known, KnownEntries)


def test_an_article_with_its_prepared_bytes_comes_back_equal() -> None:
    article = _article()
    prepared = prepare_article(article)
    assert prepared.body.fingerprint.signature and prepared.body.shingles.hashes  # bytes inside
    message = messages.ArticleMessage(article, "outlet", "k1", prepared)
    back = _round_trip(messages.ARTICLE, message)
    assert back == message
    assert isinstance(back, messages.ArticleMessage) and back.prepared is not None
    assert back.prepared.body.shingles.hashes == prepared.body.shingles.hashes
    assert back.prepared.body.fingerprint.signature == prepared.body.fingerprint.signature


def test_an_article_without_preparation_comes_back_equal() -> None:
    message = messages.ArticleMessage(_article(), "outlet")
    assert _round_trip(messages.ARTICLE, message) == message


def test_an_outcome_with_its_entries_comes_back_equal() -> None:
    note = EntryNote("k2", "https://news.example.com/a/2.html", "page failed: 503")
    outcome = FeedOutcome(
        feed_id=1,
        feed_name="outlet",
        url=FEED.url,
        outcome="ok",
        status=200,
        at="2026-12-01T00:00:02Z",
        etag='"abc"',
        body_hash="h",
        new_items=3,
        listed=("k1", "k2", "k3"),
        attempted=(note,),
        waiting=(note,),
        skipped=(EntryNote("k3", None, "no link"),),
    )
    message = messages.OutcomeMessage(outcome)
    assert _round_trip(messages.OUTCOME, message) == message
    failed = messages.OutcomeMessage(
        replace(outcome, outcome="failed", status=None, error="timeout", listed=None)
    )
    assert _round_trip(messages.OUTCOME, failed) == failed


def test_an_entry_not_stored_and_a_poll_done_come_back_equal() -> None:
    not_stored = messages.NotStoredMessage(1, "outlet", "k2", "page failed: 503")
    assert _round_trip(messages.NOT_STORED, not_stored) == not_stored
    report = CrawlReport(
        feeds_ok=1,
        feeds_failed=0,
        feeds_unchanged=0,
        feeds_skipped_backoff=0,
        articles_new=2,
        articles_copy=1,
        articles_known=0,
        alerts_queued=0,
        errors=("one", "two"),
        entries_retrying=1,
    )
    note = ReadingNote(Hint(600.0, "ttl 10m"), None, True, 3, 2)
    done = messages.PollDoneMessage("outlet", report, "f1", note, "2026-12-01T00:00:03Z", ("one",))
    back = _round_trip(messages.POLL_DONE, done)
    assert back == done
    assert isinstance(back, messages.PollDoneMessage) and isinstance(back.report.errors, tuple)


def _fields(kind: str, body: object) -> dict[bytes, bytes]:
    text = body if isinstance(body, str) else json.dumps(body)
    return {b"t": kind.encode(), b"m": text.encode()}


def _good_not_stored() -> dict[str, Any]:
    return {"feed_id": 1, "feed_name": "outlet", "entry_key": "k", "reason": "r"}


@pytest.mark.parametrize(
    ("fields", "why"),
    [
        ({}, "no fields at all"),
        ({b"t": b"pickle", b"m": b"{}"}, "a kind that is not ours"),
        (_fields(messages.NOT_STORED, "{not json"), "not JSON"),
        (_fields(messages.NOT_STORED, [1, 2]), "not an object"),
        (_fields(messages.NOT_STORED, {**_good_not_stored(), "feed_id": "1"}), "str for int"),
        (_fields(messages.NOT_STORED, {**_good_not_stored(), "feed_id": True}), "bool for int"),
        (_fields(messages.NOT_STORED, {**_good_not_stored(), "feed_id": 1.5}), "float for int"),
        (_fields(messages.NOT_STORED, {"feed_id": 1, "feed_name": "outlet"}), "fields missing"),
        (_fields(messages.NOT_STORED, {**_good_not_stored(), "reason": None}), "null for str"),
    ],
)
def test_what_is_not_a_message_of_ours_is_a_codec_error(
    fields: dict[bytes, bytes], why: str
) -> None:
    with pytest.raises(codec.CodecError):
        messages.decode(fields)


def test_bytes_that_are_not_base64_objects_are_a_codec_error() -> None:
    prepared = prepare_article(_article())
    good = json.loads(codec.dumps(messages.ArticleMessage(_article(), "outlet", "k", prepared)))
    good["prepared"]["body"]["shingles"]["hashes"] = "AAAA"  # bytes written as a plain string
    with pytest.raises(codec.CodecError):
        messages.decode(_fields(messages.ARTICLE, good))


def test_a_tuple_of_the_wrong_length_is_a_codec_error() -> None:
    good = json.loads(codec.dumps(messages.NotStoredMessage(1, "outlet", "k", "r")))
    assert messages.decode(_fields(messages.NOT_STORED, good))[1] == messages.NotStoredMessage(
        1, "outlet", "k", "r"
    )
    report = json.loads(codec.dumps(CrawlReport(1, 0, 0, 0, 0, 0, 0, 0, ("e",))))
    report["errors"] = "e"  # a string where a list of strings belongs
    done = {"feed_name": "outlet", "report": report, "fetcher": "f1"}
    with pytest.raises(codec.CodecError):
        messages.decode(_fields(messages.POLL_DONE, done))


def test_a_job_message_in_the_writer_s_kinds_is_still_decoded_by_its_own_kind(db: Database) -> None:
    # The kind field decides the type: a job's JSON sent as an article does not pass.
    (job,), _ = due_jobs(db, [FEED], datetime(2026, 12, 1, tzinfo=UTC))
    fields = messages.encode(messages.JOB, messages.JobMessage(job, "now"))
    fields["t"] = messages.ARTICLE
    with pytest.raises(codec.CodecError):
        messages.decode(_as_redis_gives_it(fields))
