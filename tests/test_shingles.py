"""The shingle sets kept with each article for copy verification (storage/shingles.py).

A candidate's original is verified against its stored set instead of its text re-cut and
re-fingerprinted; what that must never change is a verdict. So: the stored set is the set the
text gives, verdicts with stored sets and with none at all are the same to the last digit, a
set of other rules (or cut short) is recomputed, and a store from before 0010 gets its
originals' sets when it is opened.
"""

from __future__ import annotations

import json
import pickle
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sqlite_utils import Database

from marsad.alerts.matching import compile_rules
from marsad.arabic import normalize
from marsad.ingest import IngestResult, ingest_article, prepare_article
from marsad.storage import derived
from marsad.storage import shingles as sh
from marsad.storage.db import open_store
from marsad.storage.dedup import prepare_body
from marsad.storage.fingerprint import shingle_hashes
from marsad.storage.migrations import migrations
from marsad.storage.models import NewArticle
from tests.test_dedup import COPIES, ORIGINAL, OTHER_WRITEUP, P1, P2, P3, P4

# Our texts in an order that walks every path of verification: the original, each re-post
# shape of it (some published before it, so the original moves), another outlet's write-up,
# then two excerpts of a second text that arrive before it (a merge), a roundup quoting both
# stories (a quote) and a feed entry with a title only.
SECOND = "\n".join(
    [
        "افتتحت وزارة البيئة والمياه صباح اليوم محطة جديدة لتحلية مياه البحر على الساحل الغربي، "
        "بطاقة إنتاجية تبلغ ستمئة ألف متر مكعب يوميا، في إطار خطتها لتأمين الإمدادات المائية "
        "للمدن الساحلية والقرى المحيطة بها.",
        "وأكد وكيل الوزارة في كلمته خلال حفل الافتتاح أن المحطة تعمل بتقنية التناضح العكسي "
        "وتستهلك من الطاقة نصف ما تستهلكه المحطات القديمة، وأنها ستخدم أكثر من مليوني نسمة عند "
        "تشغيلها بكامل طاقتها مطلع الصيف.",
        "وبلغت تكلفة المشروع نحو ثلاثة مليارات ريال، نفذه تحالف من شركات محلية وأجنبية خلال "
        "أربع سنوات، ويرتبط بشبكة أنابيب يبلغ طولها أربعمئة كيلومتر تنقل المياه إلى خزانات "
        "التوزيع الرئيسية.",
        "وأشار الوكيل إلى أن الوزارة تدرس إنشاء محطتين مماثلتين على الساحل الشرقي، وأن العمل "
        "فيهما قد يبدأ قبل نهاية العام المقبل إذا اكتملت الدراسات البيئية وإجراءات الطرح.",
    ]
)
STREAM = [
    ("https://a.example/1", ORIGINAL, "2024-05-01T08:00:00Z"),
    *(
        (f"https://b.example/{i}", COPIES[shape], f"2024-05-0{1 + i % 2}T0{i % 10}:00:00Z")
        for i, shape in enumerate(sorted(COPIES))
    ),
    ("https://c.example/1", OTHER_WRITEUP, "2024-05-01T12:00:00Z"),
    ("https://d.example/1", "\n".join(SECOND.split("\n")[:2]), "2024-05-02T09:00:00Z"),
    ("https://d.example/2", "\n".join(SECOND.split("\n")[2:]), "2024-05-02T10:00:00Z"),
    ("https://d.example/3", SECOND, "2024-05-02T08:00:00Z"),
    ("https://e.example/1", "\n".join([P1, P2, SECOND, P3, P4]), "2024-05-03T08:00:00Z"),
    ("https://f.example/1", "", "2024-05-04T08:00:00Z"),
]


def article(url: str, text: str, published: str) -> NewArticle:
    source = url.split("/")[2]
    return NewArticle(
        url=url, canonical_url=url, source=source, title="خطة", text=text, published=published
    )


def add(db: Database, url: str, text: str) -> IngestResult:
    return ingest_article(db, article(url, text, "2024-05-01T00:00:00Z"), compile_rules(()))


def outcome(db: Database) -> dict[str, Any]:
    """Everything copy detection decided, as stored."""
    return {
        "articles": db.execute(
            "SELECT id, story_id, duplicate_of, similarity, dup_evidence FROM articles ORDER BY id"
        ).fetchall(),
        "stories": db.execute(
            "SELECT id, original_id, merged_into, article_count FROM stories ORDER BY id"
        ).fetchall(),
        "quotes": db.execute("SELECT * FROM story_quotes ORDER BY article_id, story_id").fetchall(),
    }


def ingest_both(kept: Database, bare: Database, articles: list[NewArticle]) -> None:
    """Ingest each article into both stores; ``bare`` keeps no shingle set, so each of its
    verifications computes the original's from its text, as before 0010."""
    rules = compile_rules(())
    for item in articles:
        prepared = prepare_article(item)
        ingest_article(kept, item, rules, prepared=prepared, now="2024-06-01T00:00:00Z")
        ingest_article(bare, item, rules, prepared=prepared, now="2024-06-01T00:00:00Z")
        bare.execute("DELETE FROM article_shingles")


def stored_sets(db: Database) -> dict[int, tuple[int, bytes]]:
    rows = db.execute("SELECT article_id, version, hashes FROM article_shingles").fetchall()
    return {int(i): (int(v), bytes(h)) for i, v, h in rows}


@pytest.mark.parametrize("text", [ORIGINAL, OTHER_WRITEUP, *COPIES.values(), "", "كلمة"])
def test_the_prepared_set_is_the_set_the_text_gives(text: str) -> None:
    body = prepare_body(text, normalize("خطة"))
    # What verification compared before: the hashes of the prepared body, recomputed.
    before = shingle_hashes(body.body_norm)
    assert np.array_equal(body.shingles.values(), before)
    assert np.array_equal(sh.body_shingles(text), before)
    assert body.shingles.version == sh.current_version()
    assert body.fingerprint.shingles == len(before)
    assert len(body.shingles.hashes) == 8 * len(before)


def test_a_prepared_article_carries_its_set_to_another_process_cheaply() -> None:
    prepared = prepare_article(article("https://a.example/1", ORIGINAL, "2024-05-01T08:00:00Z"))
    copy = pickle.loads(pickle.dumps(prepared))
    assert copy == prepared
    assert np.array_equal(copy.body.shingles.values(), prepared.body.shingles.values())
    # The set as bytes and its version, with a small fixed overhead (no numpy array pickled).
    extra = len(pickle.dumps(prepared.body.shingles)) - len(prepared.body.shingles.hashes)
    assert extra < 120


def test_each_article_is_stored_with_its_set(store: Database) -> None:
    rules = compile_rules(())
    ids = [
        ingest_article(store, article(url, text, published), rules).article_id
        for url, text, published in STREAM
    ]
    sets = stored_sets(store)
    assert sorted(sets) == sorted(ids)
    for article_id, (version, hashes) in sets.items():
        text = store.execute("SELECT text FROM articles WHERE id = ?", [article_id]).fetchone()[0]
        assert version == sh.current_version()
        assert hashes == sh.encode(sh.body_shingles(text))


def test_verdicts_are_the_same_with_stored_sets_and_without() -> None:
    kept, bare = open_store(":memory:"), open_store(":memory:")
    ingest_both(kept, bare, [article(*item) for item in STREAM])
    got, expected = outcome(kept), outcome(bare)
    assert got == expected
    # The stream did walk the paths: copies by both rules, a moved original, a merge, a quote.
    rules = {json.loads(e or "{}").get("rule") for *_, e in got["articles"]}
    assert {"jaccard", "containment"} <= rules
    assert any("original_moved_to" in (e or "") for *_, e in got["articles"])
    assert any(merged for _, _, merged, _ in got["stories"])
    assert got["quotes"]
    kept.close()
    bare.close()


def test_a_candidate_is_verified_against_its_stored_set(store: Database) -> None:
    rules = compile_rules(())
    first = ingest_article(
        store, article("https://a.example/1", ORIGINAL, "2024-05-01T00:00:00Z"), rules
    )
    # The stored text no longer says what the stored set does: the verdict follows the set.
    store.execute("UPDATE articles SET text = ? WHERE id = ?", [OTHER_WRITEUP, first.article_id])
    copy = ingest_article(
        store,
        article("https://b.example/1", COPIES["paragraph dropped"], "2024-05-02T00:00:00Z"),
        rules,
    )
    assert copy.status == "copy"
    assert copy.duplicate_of == first.article_id


@pytest.mark.parametrize(
    "spoil",
    [
        "UPDATE article_shingles SET version = version + 1",  # computed by other rules
        "UPDATE article_shingles SET hashes = substr(hashes, 1, 13)",  # cut short
    ],
)
def test_a_set_not_to_be_trusted_is_computed_from_the_text(store: Database, spoil: str) -> None:
    rules = compile_rules(())
    first = ingest_article(
        store, article("https://a.example/1", ORIGINAL, "2024-05-01T00:00:00Z"), rules
    )
    store.execute("UPDATE articles SET text = ? WHERE id = ?", [OTHER_WRITEUP, first.article_id])
    store.execute(spoil)
    # Computed from the text, which is now another outlet's write-up: not a copy of it.
    copy = ingest_article(
        store,
        article("https://b.example/1", COPIES["paragraph dropped"], "2024-05-02T00:00:00Z"),
        rules,
    )
    assert copy.status == "new"


def test_the_version_follows_the_rules() -> None:
    assert sh.version_of(sh.body_shingles) == sh.current_version()
    # Credit lines not cut out, text not normalised: other rules, another version.
    assert sh.version_of(lambda text: shingle_hashes(normalize(text))) != sh.current_version()
    assert (
        sh.version_of(lambda text: shingle_hashes(sh.comparable_body(text)[0].body))
        != sh.current_version()
    )


def store_before_0010(path: Path) -> Database:
    """A store as 0009 left it, holding our stream: what 0010 adds taken away again."""
    db = open_store(path)
    rules = compile_rules(())
    for url, text, published in STREAM:
        ingest_article(db, article(url, text, published), rules, now="2024-06-01T00:00:00Z")
    with db.conn:
        db.execute("DROP TABLE article_shingles")
        db.execute("DELETE FROM _sqlite_migrations WHERE name = '0010_shingles'")
    return db


def originals(db: Database) -> dict[int, str]:
    """The text of each story's original, where it has one to shingle (a title-only entry, or
    a body pruned, has no set filled: computed, it is the empty set at no cost)."""
    rows = db.execute(
        "SELECT a.id, a.text FROM stories s JOIN articles a ON a.id = s.original_id "
        "WHERE s.merged_into IS NULL"
    ).fetchall()
    return {int(i): t for i, t in rows if t}


def test_a_store_from_before_gets_its_originals_sets_when_opened(tmp_path: Path) -> None:
    store_before_0010(tmp_path / "old.db").close()
    db = open_store(tmp_path / "old.db")
    assert derived.recorded_tasks(db) == []
    sets = stored_sets(db)
    # Only originals are ever compared: their sets, and no copy's.
    assert set(sets) == set(originals(db))
    title_only = db.execute("SELECT id FROM articles WHERE text = ''").fetchone()[0]
    assert db.execute("SELECT 1 FROM stories WHERE original_id = ?", [title_only]).fetchone()
    assert title_only not in sets
    for article_id, text in originals(db).items():
        assert sets[article_id] == (sh.current_version(), sh.encode(sh.body_shingles(text)))
    db.close()


def test_filling_is_bounded_newest_first_and_resumes(tmp_path: Path) -> None:
    db = store_before_0010(tmp_path / "old.db")
    migrations.apply(db)
    assert derived.recorded_tasks(db) == ["fill_shingles"]
    assert stored_sets(db) == {}
    by_story = db.execute(
        "SELECT s.original_id FROM stories s JOIN articles a ON a.id = s.original_id "
        "WHERE s.merged_into IS NULL AND a.text != '' ORDER BY s.id DESC"
    ).fetchall()
    assert sh.fill_shingles(db, batch=2, limit=3) == 3
    assert set(stored_sets(db)) == {i for (i,) in by_story[:3]}
    assert sh.fill_shingles(db, batch=2) == len(originals(db)) - 3
    assert set(stored_sets(db)) == set(originals(db))
    assert sh.fill_shingles(db) == 0
    db.close()


def test_a_new_store_records_no_filling(store: Database) -> None:
    assert derived.recorded_tasks(store) == []
    assert store.table("article_shingles").count == 0
