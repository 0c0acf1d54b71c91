"""Stored shingle sets change no verdict on the dev set (../shared/data/dedup-dev, read at run
time, never copied): the stream's first articles go into a store that keeps each article's set
and one that keeps none (so every verification computes the original's set from its text, as
before 0010), and everything copy detection decided must be the same in both.

The whole stream was compared once by hand the same way, and against the code before 0010
(bench/dedup_verify.py --devset prints the same verdict digest); a prefix keeps this fast.
"""

from __future__ import annotations

import gzip
import itertools
import json

import pytest

from marsad.storage.db import open_store
from marsad.storage.models import NewArticle
from tests.conftest import shared_path
from tests.test_shingles import ingest_both, outcome

ARTICLES = 600  # 122 copies and a quote among them


@pytest.mark.slow
def test_devset_verdicts_are_the_same_with_stored_sets_and_without() -> None:
    stream = shared_path("data", "dedup-dev", "stream.jsonl.gz")
    with gzip.open(stream, "rt", encoding="utf-8") as handle:
        items = [json.loads(line) for line in itertools.islice(handle, ARTICLES)]
    articles = [
        NewArticle(
            url=i["url"],
            canonical_url=i["url"],
            source=i["source"],
            title=i["title"],
            text=i["text"],
            published=i["published"],
            extraction="import",
        )
        for i in items
    ]
    kept, bare = open_store(":memory:"), open_store(":memory:")
    ingest_both(kept, bare, articles)
    got, expected = outcome(kept), outcome(bare)
    copies = sum(duplicate_of is not None for _, _, duplicate_of, _, _ in got["articles"])
    assert copies > ARTICLES // 10  # the prefix does hold copies to verify
    assert got == expected
    kept.close()
    bare.close()
