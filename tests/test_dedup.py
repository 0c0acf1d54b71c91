"""Copy detection through the ingest path, on re-post shapes written for these tests.

Each case says what a re-poster did to the text and whether the result must join the
original's story. The text is ours: a made-up municipal story in four paragraphs.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
from sqlite_utils import Database

from marsad.alerts.matching import compile_rules
from marsad.alerts.rules import Rule
from marsad.ingest import ingest_article
from marsad.storage import lsh
from marsad.storage.db import bring_up_to_date, open_store
from marsad.storage.dedup import place
from marsad.storage.migrations import migrations
from marsad.storage.models import DuplicateVerdict, NewArticle

P1 = (
    "أعلن مجلس إدارة هيئة النقل في المدينة، في اجتماعه الدوري الذي عقد مساء الأحد، عن خطة "
    "واسعة لتوسيع شبكة النقل العام خلال السنوات الخمس المقبلة، تشمل إنشاء ثلاثة خطوط جديدة "
    "للحافلات السريعة وربط الأحياء الشرقية بوسط المدينة."
)
P2 = (
    "وقال رئيس المجلس في مؤتمر صحفي عقب الاجتماع إن المشروع سيوفر نحو أربعة آلاف وظيفة "
    "مباشرة، وسيخفف الازدحام المروري الذي تعانيه الطرق الرئيسية في ساعات الذروة، مشيرًا إلى "
    "أن الدراسات الفنية اكتملت قبل شهرين."
)
P3 = (
    "وأوضح أن التمويل سيأتي من الميزانية العامة للدولة ومن شراكات مع شركات القطاع الخاص، وأن "
    "المرحلة الأولى ستبدأ في الربع الثاني من العام المقبل بتكلفة تقدر بمليار و200 مليون ريال، "
    "على أن تنتهي خلال ثلاثين شهرًا."
)
P4 = (
    "ومن المنتظر أن يستفيد من الخطوط الجديدة أكثر من مئة وخمسين ألف راكب يوميًا، بحسب "
    "تقديرات الهيئة، التي دعت السكان إلى إبداء ملاحظاتهم على المسارات المقترحة عبر موقعها "
    "الإلكتروني قبل نهاية الشهر الجاري."
)
ORIGINAL = "\n".join([P1, P2, P3, P4])

# The same event written up by another outlet: same names and numbers, its own sentences.
OTHER_WRITEUP = (
    "كشفت هيئة النقل عن مشروع لإنشاء ثلاثة خطوط حافلات سريعة وقطار يصل شرق المدينة بوسطها، "
    "في خطوة تهدف إلى الحد من الاختناقات المرورية.\n"
    "المشروع الذي أقره مجلس الإدارة أمس يحتاج إلى مليار و200 مليون ريال، وتتقاسم كلفته "
    "الحكومة ومستثمرون من القطاع الخاص، ويتوقع أن يخلق أربعة آلاف فرصة عمل.\n"
    "وبحسب الهيئة فإن مئة وخمسين ألف شخص سيستخدمون الشبكة يوميًا عند اكتمالها، وقد فتحت "
    "الباب أمام السكان لتقديم آرائهم حول المسارات حتى آخر الشهر."
)

ARABIC_INDIC = str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")
DIACRITICS = {"خطة": "خُطَّة", "المدينة": "المَدِينَة", "الطرق": "الطُّرُق", "أعلن": "أَعْلَنَ"}


def with_diacritics(text: str) -> str:
    for plain, marked in DIACRITICS.items():
        text = text.replace(plain, marked)
    return text


def words(text: str, start: int, stop: int) -> str:
    return " ".join(text.split()[start:stop])


COPIES = {
    "verbatim": ORIGINAL,
    "credit line added": ORIGINAL + "\n\nالمصدر : news.example.com",
    "agency dateline and tag": "الرياض - واس - " + ORIGINAL + " (أ ف ب)",
    "boilerplate around it": "شارك هذا الخبر\n"
    + ORIGINAL
    + "\nاقرأ أيضا: افتتاح جسر جديد على الطريق الدائري\nتابعونا على تويتر",
    "truncated to 40%": words(ORIGINAL, 0, 50),
    "lead paragraph only": P1,
    "excerpt from the middle": words(ORIGINAL, 30, 90),
    "paragraph dropped": "\n".join([P1, P2, P4]),
    "paragraphs reordered": "\n".join([P2, P1, P3, P4]),
    "own introduction added": "في خبر يهم سكان المدينة كافة وزوارها، نشرت الهيئة اليوم "
    "تفاصيل مشروعها الجديد الذي طال انتظاره.\n" + ORIGINAL,
    "arabic-indic digits": ORIGINAL.translate(ARABIC_INDIC),
    "diacritics added": with_diacritics(ORIGINAL),
    "alef, ya and ta marbuta spelling": ORIGINAL.replace("أ", "ا")
    .replace("إ", "ا")
    .replace("ى", "ي")
    .replace("ة ", "ه "),
    "one word changed per sentence": ORIGINAL.replace("الأحد", "الاثنين")
    .replace("نحو", "قرابة")
    .replace("الثاني", "الثالث"),
    "title only differs, no paragraph breaks": ORIGINAL.replace("\n", " "),
}


def article(
    url: str,
    text: str,
    *,
    title: str = "خطة لتوسيع النقل العام",
    source: str = "a",
    published: str | None = None,
) -> NewArticle:
    return NewArticle(
        url=url, canonical_url=url, source=source, title=title, text=text, published=published
    )


def add(db: Database, url: str, text: str, published: str, source: str = "a") -> int:
    result = ingest_article(
        db, article(url, text, published=published, source=source), compile_rules(())
    )
    return result.article_id


def story_of(db: Database, article_id: int) -> int:
    return int(db.execute("SELECT story_id FROM articles WHERE id = ?", [article_id]).fetchone()[0])


@pytest.mark.parametrize("shape", sorted(COPIES))
def test_repost_joins_the_original_story(store: Database, shape: str) -> None:
    original = add(store, "https://a.example/1", ORIGINAL, "2024-05-01T08:00:00Z")
    copy = ingest_article(
        store,
        article("https://b.example/9", COPIES[shape], title="عنوان آخر تماما", source="b"),
        compile_rules(()),
    )
    assert copy.status == "copy", shape
    assert copy.story_id == story_of(store, original)
    assert copy.duplicate_of == original
    row = next(store.query("SELECT * FROM articles WHERE id = ?", [copy.article_id]))
    evidence = json.loads(row["dup_evidence"])
    assert evidence["layer"] in ("body_hash", "minhash")
    assert evidence["matched"] == original
    assert 0 < row["similarity"] <= 1


@pytest.mark.parametrize(
    "text",
    [
        OTHER_WRITEUP,
        # A shared quotation is not a copy of the article that quoted it.
        "قال رئيس مجلس الإدارة إن المشروع سيوفر نحو أربعة آلاف وظيفة مباشرة. ويأتي ذلك في وقت "
        "تشهد فيه المدينة نموا سكانيا متسارعا دفع البلدية إلى مراجعة مخططاتها العمرانية، وإعادة "
        "النظر في توزيع الخدمات بين الأحياء القديمة والجديدة، وسط مطالبات من السكان بتحسين "
        "الأرصفة والإنارة والحدائق العامة قبل التوسع في مشاريع جديدة.",
        # The same template with other facts.
        ORIGINAL.replace("ثلاثة خطوط", "خمسة مسارات")
        .replace("الأحياء الشرقية", "الضواحي الجنوبية")
        .replace("أربعة آلاف وظيفة", "ألفي فرصة")
        .replace("الدراسات الفنية اكتملت قبل شهرين", "العقود وقعت الأسبوع الماضي")
        .replace("الميزانية العامة للدولة", "صندوق التنمية")
        .replace("الربع الثاني", "مطلع")
        .replace("مئة وخمسين ألف راكب", "ثمانين ألف مسافر")
        .replace("ملاحظاتهم على المسارات المقترحة", "آرائهم في التصاميم")
        .replace("المقبلة، تشمل", "القادمة، وتتضمن")
        .replace("مؤتمر صحفي", "تصريح للتلفزيون")
        .replace("التي دعت السكان", "وطالبت الأهالي")
        .replace("سيأتي من", "يعتمد على"),
    ],
)
def test_other_text_stays_its_own_story(store: Database, text: str) -> None:
    original = add(store, "https://a.example/1", ORIGINAL, "2024-05-01T08:00:00Z")
    other = ingest_article(
        store, article("https://b.example/2", text, source="b"), compile_rules(())
    )
    assert other.status == "new"
    assert other.story_id != story_of(store, original)


def test_earlier_published_copy_that_arrives_late_becomes_the_original(store: Database) -> None:
    later = add(store, "https://a.example/1", ORIGINAL, "2024-05-02T08:00:00Z", source="a")
    second = add(store, "https://b.example/2", COPIES["credit line added"], "2024-05-03T08:00Z")
    earliest = add(store, "https://c.example/3", COPIES["paragraph dropped"], "2024-05-01T06:00Z")
    story = next(store.query("SELECT * FROM stories"))
    assert story["original_id"] == earliest
    assert story["article_count"] == 3
    pointers = dict(store.execute("SELECT id, duplicate_of FROM articles").fetchall())
    assert pointers == {later: earliest, second: earliest, earliest: None}
    # The former original now says why it is a copy.
    evidence = json.loads(
        store.execute("SELECT dup_evidence FROM articles WHERE id = ?", [later]).fetchone()[0]
    )
    assert evidence["original_moved_to"] == earliest


def test_two_excerpts_then_their_original_make_one_story(store: Database) -> None:
    head = add(store, "https://a.example/1", "\n".join([P1, P2]), "2024-05-01T09:00:00Z")
    tail = add(store, "https://b.example/2", "\n".join([P3, P4]), "2024-05-01T10:00:00Z", "b")
    assert story_of(store, head) != story_of(store, tail)
    full = add(store, "https://c.example/3", ORIGINAL, "2024-05-01T08:00:00Z", "c")
    assert story_of(store, head) == story_of(store, tail) == story_of(store, full)
    story = next(store.query("SELECT * FROM stories WHERE id = ?", [story_of(store, full)]))
    assert (story["original_id"], story["article_count"], story["outlet_count"]) == (full, 3, 3)
    assert json.loads(story["sources"]) == ["c", "a", "b"]
    merged = list(store.query("SELECT * FROM stories WHERE merged_into IS NOT NULL"))
    assert [m["merged_into"] for m in merged] == [story["id"]]


def verdict(
    story_id: int, published: str, *, covers: bool, missed: bool = False
) -> DuplicateVerdict:
    return DuplicateVerdict(
        original_id=story_id * 10,
        story_id=story_id,
        similarity=0.9,
        covers=covers,
        original_published=published,
        missed=missed,
    )


@pytest.mark.parametrize(
    ("published", "covers", "also", "takes", "merge", "quoted"),
    [
        # A later copy, or a later text quoting two stories: joins one, quotes the other.
        ("2024-05-01T12:00:00Z", True, [(2, "2024-05-01T09:00:00Z", True)], False, [], [2]),
        # The source of both, published before them: it heads the story and merges the other.
        ("2024-05-01T07:00:00Z", True, [(2, "2024-05-01T09:00:00Z", True)], True, [2], []),
        # The source of one only: the other, published before it, is quoted.
        ("2024-05-01T07:00:00Z", True, [(2, "2024-05-01T06:00:00Z", True)], True, [], [2]),
        # An earlier excerpt of the original (does not cover it): no takeover, nothing merged.
        ("2024-05-01T07:00:00Z", False, [(2, "2024-05-01T09:00:00Z", True)], False, [], [2]),
        # It holds only part of the other story's original: quoted, not merged.
        ("2024-05-01T07:00:00Z", True, [(2, "2024-05-01T09:00:00Z", False)], True, [], [2]),
        # Another spelling of the time compares as a time (08:30+03:00 is 05:30Z).
        ("2024-05-01T08:30:00+03:00", True, [], True, [], []),
        # A story the index missed (its one article a copy of this original) merges, whatever
        # the times.
        ("2024-05-01T12:00:00Z", True, [(2, "2024-05-01T06:00:00Z", False, True)], False, [2], []),
    ],
)
def test_place_decides_takeover_merges_and_quotes(
    published: str,
    covers: bool,
    also: list[tuple[int, str, bool] | tuple[int, str, bool, bool]],
    takes: bool,
    merge: list[int],
    quoted: list[int],
) -> None:
    others = tuple(verdict(o[0], o[1], covers=o[2], missed=len(o) > 3 and o[3]) for o in also)
    found = replace(verdict(1, "2024-05-01T08:00:00Z", covers=covers), also=others)
    placement = place(found, published)
    assert placement.takes_original == takes
    assert list(placement.merge) == merge
    assert [q.story_id for q in placement.quotes] == quoted


def test_one_alert_per_story_and_the_story_counts_outlets(store: Database) -> None:
    rules = (Rule("transport", ("النقل",), ("ops",)),)
    first = ingest_article(store, article("https://a.example/1", ORIGINAL), compile_rules(rules))
    copies = [
        ingest_article(
            store, article(f"https://x{n}.example/1", text, source=f"x{n}"), compile_rules(rules)
        )
        for n, text in enumerate(COPIES.values())
    ]
    assert first.alerts_queued == 1
    assert all(c.status == "copy" and c.alerts_queued == 0 for c in copies)
    assert store.table("alerts").count == 1
    story = next(store.query("SELECT * FROM stories"))
    assert story["outlet_count"] == 1 + len(COPIES)
    assert len(json.loads(story["sources"])) == 1 + len(COPIES)


def test_provenance_is_kept_on_the_article(store: Database) -> None:
    copy = ingest_article(
        store, article("https://a.example/1", COPIES["credit line added"]), compile_rules(())
    )
    row = store.execute("SELECT provenance FROM articles WHERE id = ?", [copy.article_id])
    assert json.loads(row.fetchone()[0]) == {"credits": ["news.example.com"]}


def index_rows(db: Database, table: str, article_id: int) -> int:
    rows = db.execute(f"SELECT count(*) FROM {table} WHERE article_id = ?", [article_id])
    return int(rows.fetchone()[0])


LEVELS = lsh.LEVELS


def fold_to(db: Database, level: str) -> None:
    """Fold the index down to ``level``, as enough later articles would."""
    if level != "lsh_recent":
        lsh.fold_recent(db)
    if level == "lsh_bands":
        lsh.fold_middle(db)


@pytest.mark.parametrize("level", LEVELS)
def test_every_article_is_indexed_at_one_level(store: Database, level: str) -> None:
    new = add(store, "https://a.example/1", ORIGINAL, "2024-05-01T08:00:00Z")
    fold_to(store, level)
    for table in LEVELS:
        assert (index_rows(store, table, new) > 37) == (table == level), table


@pytest.mark.parametrize("level", LEVELS)
@pytest.mark.parametrize("shape", ["verbatim", "truncated to 40%", "paragraph dropped"])
def test_an_original_is_found_at_every_level(store: Database, shape: str, level: str) -> None:
    original = add(store, "https://a.example/1", ORIGINAL, "2024-05-01T08:00:00Z")
    fold_to(store, level)
    copy = add(store, "https://b.example/1", COPIES[shape], "2024-05-01T09:00:00Z", source="b")
    assert story_of(store, copy) == story_of(store, original)


def test_levels_fold_when_full_and_counts_survive_a_reopen(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(lsh, "RECENT_LIMIT", 2)
    monkeypatch.setattr(lsh, "MIDDLE_LIMIT", 4)
    path = tmp_path / "store.db"
    db = open_store(path)
    texts = [ORIGINAL, OTHER_WRITEUP, P2 + "\n" + P4 + "\n" + P1, OTHER_WRITEUP + "\n" + P3]
    ids = [
        add(db, f"https://a.example/{n}", text, "2024-05-01T08:00:00Z")
        for n, text in enumerate(texts[:3])
    ]
    # Two filled lsh_recent and were folded into lsh_middle; the third waits in lsh_recent.
    assert lsh.level_counts(db) == (1, 2)
    assert index_rows(db, "lsh_middle", ids[0]) > 37
    assert index_rows(db, "lsh_recent", ids[2]) > 37
    db.conn.commit()
    db.close()

    db = open_store(path)
    assert lsh.level_counts(db) == (1, 2)
    ids.append(add(db, "https://a.example/9", texts[3], "2024-05-02T08:00:00Z"))
    # The fourth filled lsh_recent, whose fold filled lsh_middle: all four are in lsh_bands.
    assert lsh.level_counts(db) == (0, 0)
    assert db.table("lsh_recent").count == db.table("lsh_middle").count == 0
    assert all(index_rows(db, "lsh_bands", i) > 37 for i in ids)
    copy = add(db, "https://b.example/1", COPIES["verbatim"], "2024-05-02T09:00:00Z", source="b")
    assert story_of(db, copy) == story_of(db, ids[0])
    assert lsh.level_counts(db) == (1, 0)
    db.close()


@pytest.mark.parametrize("table", LEVELS)
def test_candidate_lookup_uses_the_key_index(store: Database, table: str) -> None:
    plan = " ".join(
        row[3]
        for row in store.execute(
            f"EXPLAIN QUERY PLAN SELECT article_id FROM {table} WHERE band_key = ? "
            "ORDER BY article_id DESC LIMIT 5",
            [1],
        )
    )
    assert "USING PRIMARY KEY (band_key=?)" in plan


def test_migrations_apply_twice_as_a_no_op(store: Database) -> None:
    add(store, "https://a.example/1", ORIGINAL, "2024-05-01T08:00:00Z")
    migrations.apply(store)
    assert store.table("articles").count == 1


def test_a_store_from_before_copy_detection_is_indexed_when_brought_up_to_date(
    tmp_path: Path,
) -> None:
    db = open_store(tmp_path / "old.db", migrate=False)
    migrations.apply(db, stop_before="0002_copy_detection")
    db.execute(
        "INSERT INTO stories (id, original_id, title, first_seen, last_seen) "
        "VALUES (1, 1, 't', '2024-05-01T08:00:00Z', '2024-05-01T08:00:00Z')"
    )
    db.execute(
        "INSERT INTO articles (id, canonical_url, url, source, title, text, title_norm, "
        "extraction, body_hash, story_id, fetched_at) VALUES (1, 'https://a.example/1', "
        "'https://a.example/1', 'a', 't', ?, 't', 'import', '', 1, '2024-05-01T08:00:00Z')",
        [ORIGINAL],
    )
    db.conn.commit()
    # The migrations record that the article needs its fingerprint; storage.derived gives it.
    bring_up_to_date(db)
    assert index_rows(db, "lsh_bands", 1) > 37
    assert lsh.level_counts(db) == (0, 0)
    copy = add(db, "https://b.example/1", COPIES["truncated to 40%"], "2024-05-02T08:00:00Z")
    assert story_of(db, copy) == 1
    db.close()
