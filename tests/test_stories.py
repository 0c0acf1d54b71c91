"""Stories are an original and copies of that original: merges carry their alerts and counts,
and an article quoting two texts joins one story and is listed against the other.

The texts are ours: the municipal story of tests/test_dedup.py, split into excerpts, and three
short statements written for these tests, quoted together by made-up roundups.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlite_utils import Database

from marsad.alerts.channels import parse_channels
from marsad.alerts.config import DeliveryConfig
from marsad.alerts.delivery import deliver_due
from marsad.alerts.matching import compile_rules
from marsad.alerts.rules import Rule
from marsad.cli import cli
from marsad.cli.output import print_show
from marsad.ingest import IngestResult, ingest_article
from marsad.ingest.prepare import prepare_article
from marsad.storage import articles as store_articles
from marsad.storage import inspection, lsh
from marsad.storage.db import bring_up_to_date, open_store
from marsad.storage.fingerprint import words
from marsad.storage.migrations import migrations
from marsad.storage.models import NewArticle
from marsad.storage.transactions import write_transaction
from tests.test_dedup import P1, P2, P3, P4
from tests.webhook_sink import WebhookSink

SECRET_ENV = "MARSAD_TEST_STORIES_SECRET"
ENVIRON = {SECRET_ENV: "سر-القصص"}
T0 = datetime(2025, 3, 1, 12, 0, 0, tzinfo=UTC)
NOW = "2025-03-01T12:00:00Z"
# Fires on the last paragraph of the municipal story (راكب), and nowhere else in it.
PASSENGERS = Rule("passengers", ("راكب",), ("hook",))
# Fires on the first paragraph (النقل).
TRANSPORT = Rule("transport", ("النقل",), ("hook",))

# Three statements of different bodies on different matters.
STATEMENT_A = (
    "أصدرت الأمانة العامة لرابطة المدن الساحلية بيانا اليوم أدانت فيه إلقاء النفايات الصناعية "
    "في مياه الخليج، ودعت الشركات المخالفة إلى وقف هذه الممارسات فورا. وأكد البيان أن فرق الرصد "
    "سجلت خلال الشهرين الماضيين ارتفاعا كبيرا في نسب التلوث قرب مصبات الأودية، وأن الأسماك "
    "النافقة ظهرت على امتداد عشرين كيلومترا من الشاطئ. وطالبت الرابطة الجهات الرقابية بفرض "
    "غرامات رادعة ونشر أسماء المنشآت المسؤولة، مشيرة إلى أنها ستعقد اجتماعا طارئا الأسبوع "
    "المقبل لبحث خطة مشتركة لتنظيف السواحل."
)
STATEMENT_B = (
    "قال الأمين العام لاتحاد الغرف التجارية إن قرار رفع رسوم الموانئ سيؤثر سلبا في حركة "
    "الاستيراد، وسيرفع أسعار السلع الغذائية على المستهلكين خلال الأشهر المقبلة. وأضاف في تصريح "
    "صحفي أن الاتحاد رفع مذكرة إلى وزارة المالية يطلب فيها تأجيل تطبيق القرار حتى نهاية العام، "
    "وإعادة دراسته بالتشاور مع التجار وشركات الشحن. وأوضح أن صغار المستوردين هم الأكثر تضررا، "
    "لأنهم لا يملكون مخازن كافية ولا قدرة على التفاوض مع الناقلين، داعيا إلى حوار عاجل يجمع "
    "الأطراف كلها."
)
STATEMENT_C = (
    "وافق مجلس الشورى في جلسته العادية على مشروع نظام حماية البيانات الشخصية بعد مناقشة "
    "استمرت ثلاث جلسات، وأقر المجلس إلزام الجهات الحكومية والخاصة بإبلاغ أصحاب البيانات عند "
    "حدوث أي تسرب خلال اثنتين وسبعين ساعة. وينص المشروع على إنشاء هيئة مستقلة تتولى تلقي "
    "الشكاوى والتحقيق فيها، وتملك صلاحية إيقاع عقوبات تصل إلى خمسة ملايين ريال. وقال رئيس لجنة "
    "الأنظمة إن النظام الجديد يوازن بين حماية الخصوصية وتشجيع الاستثمار في الاقتصاد الرقمي."
)
ROUNDUP_INTRO = (
    "تتابعت ردود الفعل اليوم على عدد من القضايا المحلية التي شغلت الرأي العام، وفيما يلي أبرز "
    "ما صدر من بيانات وتصريحات خلال الساعات الماضية."
)


def roundup(*statements: str) -> str:
    return "\n".join([ROUNDUP_INTRO, *statements])


def article(url: str, text: str, published: str, source: str) -> NewArticle:
    return NewArticle(
        url=url,
        canonical_url=url,
        source=source,
        title="عنوان " + source,
        text=text,
        published=published,
    )


def add(
    db: Database,
    url: str,
    text: str,
    published: str,
    source: str,
    rules: tuple[Rule, ...] = (),
) -> IngestResult:
    return ingest_article(db, article(url, text, published, source), compile_rules(rules), now=NOW)


def story_of(db: Database, article_id: int) -> int:
    return int(db.execute("SELECT story_id FROM articles WHERE id = ?", [article_id]).fetchone()[0])


def shingles(text: str, size: int = 5) -> set[tuple[str, ...]]:
    tokens = words(text)
    return {tuple(tokens[i : i + size]) for i in range(len(tokens) - size + 1)}


def is_copy(text: str, of: str) -> bool:
    """Our own check, on five-word shingles: half of the shorter text is in the other."""
    mine, theirs = shingles(text), shingles(of)
    return len(mine & theirs) >= 0.5 * min(len(mine), len(theirs))


def assert_every_member_is_a_copy_of_its_original(db: Database) -> None:
    for row in db.query(
        "SELECT a.id, a.text, o.text AS original FROM articles a "
        "JOIN stories s ON s.id = a.story_id JOIN articles o ON o.id = s.original_id"
    ):
        assert is_copy(row["text"], row["original"]), row["id"]


@pytest.fixture
def sink() -> Iterator[WebhookSink]:
    with WebhookSink() as running:
        yield running


def deliver(db: Database, sink: WebhookSink) -> list[dict[str, Any]]:
    """One delivery pass to the sink; the bodies it received in that pass."""
    before = len(sink.requests)
    channels = parse_channels(
        {"hook": {"type": "webhook", "url": sink.url, "secret_env": SECRET_ENV}},
        environ=ENVIRON,
    )
    asyncio.run(deliver_due(db, channels, DeliveryConfig(), now=lambda: T0))
    return [json.loads(r.body) for r in sink.requests[before:]]


def excerpts_then_full_text(db: Database, rules: tuple[Rule, ...]) -> tuple[int, int, int]:
    """The head of the municipal story, then its last paragraph, then the full text: published
    before both, it arrives last and proves them one story. Ids of head, tail, full."""
    head = add(
        db, "https://a.example/1", "\n".join([P1, P2, P3]), "2025-03-01T09:00:00Z", "a", rules
    )
    tail = add(db, "https://b.example/2", P4, "2025-03-01T10:00:00Z", "b", rules)
    assert head.story_id != tail.story_id
    full = add(
        db, "https://c.example/3", "\n".join([P1, P2, P3, P4]), "2025-03-01T08:00:00Z", "c", rules
    )
    assert full.story_id == story_of(db, head.article_id) == story_of(db, tail.article_id)
    return head.article_id, tail.article_id, full.article_id


# --- Item 2: merged stories keep their alerts and counts ---------------------------------------


def test_an_alert_of_a_merged_story_describes_the_surviving_story(
    store: Database, sink: WebhookSink
) -> None:
    _head, tail, full = excerpts_then_full_text(store, (PASSENGERS,))
    survivor = story_of(store, full)
    alerts = list(store.query("SELECT story_id, article_id, payload FROM alerts"))
    # The tail's alert moved with the tail, into the story that survived.
    assert [(a["story_id"], a["article_id"]) for a in alerts] == [(survivor, tail)]
    assert json.loads(alerts[0]["payload"])["article"]["story_id"] == survivor
    [body] = deliver(store, sink)
    assert body["story"]["id"] == survivor
    assert (body["story"]["articles"], body["story"]["outlets"]) == (3, 3)
    assert body["story"]["sources"] == ["a", "b", "c"]


def test_no_command_shows_an_empty_story(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    db = open_store(path)
    head, tail, full = excerpts_then_full_text(db, (PASSENGERS,))
    survivor = story_of(db, full)
    merged = [r["id"] for r in db.query("SELECT id FROM stories WHERE id != ?", [survivor])]
    db.conn.commit()
    db.close()

    def run(*args: str) -> Any:
        done = CliRunner().invoke(cli, [*args, "--db", str(path), "--json"])
        assert done.exit_code == 0, done.output
        return json.loads(done.output)

    stories = run("stories")
    assert [(s["story_id"], s["article_count"], s["outlet_count"]) for s in stories] == [
        (survivor, 3, 3)
    ]
    assert stories[0]["alert_count"] == 1
    assert run("stats")["totals"]["stories"] == 1
    # A merged story's number leads to the story it became part of.
    for story_id in merged:
        shown = run("show", "--story", str(story_id))
        assert shown["story"]["story_id"] == survivor
        assert shown["story"]["article_count"] == 3
        assert [a["id"] for a in shown["articles"]] == [full, head, tail]
        assert [a["article_id"] for a in shown["alerts"]] == [tail]
    [alert] = run("alerts")
    assert (alert["story_id"], alert["outlet_count"]) == (survivor, 3)


def test_when_both_stories_have_the_alert_the_sent_one_stays_and_none_is_sent_again(
    store: Database, sink: WebhookSink
) -> None:
    rules = (PASSENGERS, TRANSPORT)
    head = add(
        store, "https://a.example/1", "\n".join([P1, P2, P3]), "2025-03-01T09:00:00Z", "a", rules
    )
    # The head's alert goes out before the tail arrives.
    [sent] = deliver(store, sink)
    assert sent["rule"] == "transport"
    # The tail quotes the transport authority too (النقل) and its last paragraph (راكب).
    tail_text = "وقالت هيئة النقل في بيان إن " + P4
    tail = add(store, "https://b.example/2", tail_text, "2025-03-01T10:00:00Z", "b", rules)
    assert tail.alerts_queued == 2
    full = add(
        store,
        "https://c.example/3",
        "\n".join([P1, P2, P3, "وقالت هيئة النقل في بيان إن " + P4]),
        "2025-03-01T08:00:00Z",
        "c",
        rules,
    )
    survivor = story_of(store, full.article_id)
    assert survivor == story_of(store, head.article_id) == story_of(store, tail.article_id)
    alerts = {
        r["rule"]: r
        for r in store.query("SELECT * FROM alerts WHERE story_id = ? ORDER BY id", [survivor])
    }
    # One alert per rule and channel: the sent one for transport, the tail's for passengers.
    assert sorted(alerts) == ["passengers", "transport"]
    assert (alerts["transport"]["status"], alerts["transport"]["article_id"]) == (
        "sent",
        head.article_id,
    )
    assert alerts["passengers"]["article_id"] == tail.article_id
    # The tail's transport alert was not sent and will not be: superseded by the sent one, it
    # keeps its row (and its story, merged) as history.
    [superseded] = store.query("SELECT * FROM alerts WHERE story_id != ? ORDER BY id", [survivor])
    assert (superseded["article_id"], superseded["rule"], superseded["status"]) == (
        tail.article_id,
        "transport",
        "dead",
    )
    assert superseded["last_error"].startswith(f"superseded by alert {alerts['transport']['id']}")
    with pytest.raises(inspection.InspectionError, match="superseded"):
        inspection.retry_alert(store, superseded["id"], NOW)
    # Listed with the story it is part of now.
    shown = inspection.show(store, str(survivor), is_story=True)
    assert sorted(a["alert_id"] for a in shown["alerts"]) == sorted(
        [alerts["transport"]["id"], alerts["passengers"]["id"], superseded["id"]]
    )
    assert {a["story_id"] for a in shown["alerts"]} == {survivor}
    bodies = deliver(store, sink)
    assert [b["rule"] for b in bodies] == ["passengers"]
    assert bodies[0]["story"]["outlets"] == 3
    assert deliver(store, sink) == []


def test_a_store_with_stranded_alerts_is_repaired_when_opened(tmp_path: Path) -> None:
    """Stories merged by earlier versions left their alerts behind: 0008 moves them."""
    db = open_store(tmp_path / "old.db", migrate=False)
    migrations.apply(db, stop_before="0008_stories")
    # What the old merge left: story 2 merged into 3, itself merged into 1 (chained), an alert
    # pending on 2, a sent one on 3 and a pending one on 1 for the same rule and channel.
    for story_id, merged_into, count in ((1, None, 3), (3, 1, 0), (2, 3, 0)):
        db.execute(
            "INSERT INTO stories (id, original_id, title, first_seen, last_seen, article_count, "
            "outlet_count, sources, merged_into) VALUES (?, ?, 't', ?, ?, ?, ?, '[]', ?)",
            [story_id, 1 if story_id == 1 else None, NOW, NOW, count, count, merged_into],
        )
    for article_id, source in ((1, "a"), (2, "b"), (3, "c")):
        db.execute(
            "INSERT INTO articles (id, canonical_url, url, source, title, text, extraction, "
            "body_hash, story_id, fetched_at) VALUES (?, ?, ?, ?, 't', ?, 'import', ?, 1, ?)",
            [
                article_id,
                f"https://{source}.example/",
                f"https://{source}.example/",
                source,
                [P1, P4, P2][article_id - 1],
                f"h{article_id}",
                NOW,
            ],
        )
    for alert_id, story_id, rule, status in (
        (1, 2, "passengers", "pending"),
        (2, 3, "transport", "sent"),
        (3, 1, "transport", "pending"),
    ):
        payload = {"rule": rule, "article": {"id": alert_id, "story_id": story_id}}
        db.execute(
            "INSERT INTO alerts (id, article_id, story_id, rule, channel, idempotency_key, "
            "payload, status, next_attempt_at, created_at) VALUES (?, ?, ?, ?, 'hook', ?, ?, "
            "?, ?, ?)",
            [
                alert_id,
                alert_id,
                story_id,
                rule,
                f"k{alert_id}",
                json.dumps(payload),
                status,
                NOW,
                NOW,
            ],
        )
    db.conn.commit()
    bring_up_to_date(db)
    rows = list(db.query("SELECT id, story_id, status, payload FROM alerts ORDER BY id"))
    # The pending alert moved; the sent one could not (story 1 has one for its rule and
    # channel) and stays as history; story 1's own, never sent, is superseded by it.
    assert [(r["id"], r["story_id"], r["status"]) for r in rows] == [
        (1, 1, "pending"),
        (2, 3, "sent"),
        (3, 1, "dead"),
    ]
    assert json.loads(rows[0]["payload"])["article"]["story_id"] == 1
    assert [r["merged_into"] for r in db.query("SELECT merged_into FROM stories ORDER BY id")] == [
        None,
        1,
        1,
    ]
    assert [r["story_id"] for r in db.query("SELECT story_id FROM story_overview")] == [1]
    assert [r["alert_id"] for r in db.query("SELECT alert_id FROM alert_deliveries")] == [1, 2, 3]
    assert {r["story_id"] for r in db.query("SELECT story_id FROM alert_deliveries")} == {1}
    db.close()


# --- Item 3: stories do not chain --------------------------------------------------------------


def quotes(db: Database) -> set[tuple[int, int]]:
    return {(r[0], r[1]) for r in db.execute("SELECT article_id, story_id FROM story_quotes")}


def test_a_roundup_of_two_statements_joins_one_and_quotes_the_other(
    store: Database, capsys: pytest.CaptureFixture[str]
) -> None:
    a = add(store, "https://a.example/1", STATEMENT_A, "2025-03-01T08:00:00Z", "a")
    b = add(store, "https://b.example/1", STATEMENT_B, "2025-03-01T08:30:00Z", "b")
    both = add(
        store, "https://r.example/1", roundup(STATEMENT_A, STATEMENT_B), "2025-03-01T11:00:00Z", "r"
    )
    assert both.status == "copy"
    assert a.story_id != b.story_id
    assert story_of(store, a.article_id) == a.story_id
    assert story_of(store, b.article_id) == b.story_id
    assert both.story_id in (a.story_id, b.story_id)
    other = b.story_id if both.story_id == a.story_id else a.story_id
    assert quotes(store) == {(both.article_id, other)}
    assert (
        store.execute("SELECT count(*) FROM stories WHERE merged_into IS NOT NULL").fetchone()[0]
        == 0
    )
    # A later copy of either statement joins that statement's story, not the roundup's.
    a2 = add(
        store, "https://a2.example/1", "المصدر: واس\n" + STATEMENT_A, "2025-03-01T12:00:00Z", "a2"
    )
    b2 = add(
        store,
        "https://b2.example/1",
        STATEMENT_B + "\nتابعونا على تويتر",
        "2025-03-01T12:00:00Z",
        "b2",
    )
    assert (a2.story_id, b2.story_id) == (a.story_id, b.story_id)
    assert_every_member_is_a_copy_of_its_original(store)
    shown = inspection.show(store, str(other), is_story=True)
    assert [q["article_id"] for q in shown["quoted_by"]] == [both.article_id]
    shown = inspection.show(store, str(both.article_id))
    assert [q["story_id"] for q in shown["also_quotes"]] == [other]
    # `marsad show` prints both sides of the quote.
    print_show(shown)
    assert "Also quotes" in capsys.readouterr().out
    print_show(inspection.show(store, str(other), is_story=True))
    assert "Quoted by" in capsys.readouterr().out


def test_roundups_do_not_chain_three_statements_into_one_story(store: Database) -> None:
    """Each text arrives after a roundup that quotes it: today's chain of A → A+B → B →
    B+C → C ends in three stories."""
    a = add(store, "https://a.example/1", STATEMENT_A, "2025-03-01T08:00:00Z", "a")
    ab = add(
        store, "https://r.example/1", roundup(STATEMENT_A, STATEMENT_B), "2025-03-01T09:00:00Z", "r"
    )
    b = add(store, "https://b.example/1", STATEMENT_B, "2025-03-01T08:30:00Z", "b")
    bc = add(
        store, "https://s.example/1", roundup(STATEMENT_B, STATEMENT_C), "2025-03-01T10:00:00Z", "s"
    )
    c = add(store, "https://c.example/1", STATEMENT_C, "2025-03-01T09:30:00Z", "c")
    c2 = add(
        store,
        "https://c2.example/1",
        STATEMENT_C + "\nالمصدر : news.example.com",
        "2025-03-01T11:00:00Z",
        "c2",
    )
    assert ab.story_id == a.story_id
    assert b.status == "new" and b.story_id != a.story_id
    assert bc.story_id == b.story_id
    assert c.status == "new" and c.story_id not in (a.story_id, b.story_id)
    assert c2.story_id == c.story_id
    assert_every_member_is_a_copy_of_its_original(store)
    sizes = [r[0] for r in store.execute("SELECT article_count FROM stories ORDER BY id")]
    assert sizes == [2, 2, 2]


def test_a_copy_of_a_roundup_joins_the_roundup_story(store: Database) -> None:
    a = add(store, "https://a.example/1", STATEMENT_A, "2025-03-01T08:00:00Z", "a")
    ab = add(
        store, "https://r.example/1", roundup(STATEMENT_A, STATEMENT_B), "2025-03-01T09:00:00Z", "r"
    )
    again = add(
        store,
        "https://r2.example/1",
        roundup(STATEMENT_A, STATEMENT_B) + "\nالمصدر : r.example",
        "2025-03-01T09:30:00Z",
        "r2",
    )
    assert again.story_id == ab.story_id == a.story_id


def test_an_earlier_excerpt_does_not_take_the_original_from_the_full_text(store: Database) -> None:
    """An excerpt published before the full text joins it as a copy: the later paragraphs'
    copies are copies of the full text, not of the excerpt."""
    full = add(
        store, "https://a.example/1", "\n".join([P1, P2, P3, P4]), "2025-03-01T09:00:00Z", "a"
    )
    tail = add(store, "https://b.example/1", "\n".join([P3, P4]), "2025-03-01T10:00:00Z", "b")
    head = add(store, "https://c.example/1", P1 + "\n" + P2, "2025-03-01T07:00:00Z", "c")
    assert full.story_id == tail.story_id == head.story_id
    original = store.execute("SELECT original_id FROM stories").fetchone()[0]
    assert original == full.article_id
    assert head.duplicate_of == full.article_id
    assert_every_member_is_a_copy_of_its_original(store)


def test_an_earlier_full_text_takes_the_original_from_its_excerpt(store: Database) -> None:
    head = add(store, "https://c.example/1", P1 + "\n" + P2, "2025-03-01T10:00:00Z", "c")
    full = add(
        store, "https://a.example/1", "\n".join([P1, P2, P3, P4]), "2025-03-01T09:00:00Z", "a"
    )
    tail = add(store, "https://b.example/1", "\n".join([P3, P4]), "2025-03-01T11:00:00Z", "b")
    assert head.story_id == full.story_id == tail.story_id
    story = next(store.query("SELECT original_id, article_count FROM stories"))
    assert (story["original_id"], story["article_count"]) == (full.article_id, 3)
    pointers = dict(store.execute("SELECT id, duplicate_of FROM articles").fetchall())
    assert pointers == {
        head.article_id: full.article_id,
        full.article_id: None,
        tail.article_id: full.article_id,
    }


def test_a_copy_the_index_missed_is_merged_by_a_later_copy_of_both(store: Database) -> None:
    """A copy the index found no candidate for starts a story of its own; an article that is a
    copy of both originals shows they are one text, and the lone story merges."""
    short = add(store, "https://a.example/1", P1 + "\n" + P2, "2025-03-01T08:00:00Z", "a")
    # The full text, stored as the index would have stored it had it missed the short one.
    full_text = "\n".join([P1, P2, P3])
    lone = article("https://b.example/1", full_text, "2025-03-01T09:00:00Z", "b")
    with write_transaction(store):
        prepared = prepare_article(lone)
        lone_story = store_articles.insert_story(store, lone.title, NOW)
        lone_id = store_articles.insert_article(
            store,
            lone,
            title_norm=prepared.title_norm,
            text_norm=prepared.text_norm,
            body_hash=prepared.body.body_hash,
            story_id=lone_story,
            fetched_at=NOW,
        )
        lsh.index_article(store, lone_id, prepared.body.fingerprint)
        store_articles.refresh_story(store, lone_story, NOW)
    # A later copy of both, one word changed (so not the same body as either).
    both_text = full_text.replace("الأحد", "الاثنين")
    both = add(store, "https://c.example/1", both_text, "2025-03-01T10:00:00Z", "c")
    # It shares most with the full text, of which the short one is an excerpt: the short
    # one's story (of one article) merges into the full text's, headed by the full text.
    assert both.story_id == lone_story
    assert story_of(store, short.article_id) == lone_story
    story = next(store.query("SELECT * FROM stories WHERE id = ?", [lone_story]))
    assert (story["original_id"], story["article_count"]) == (lone_id, 3)
    assert quotes(store) == set()
    assert_every_member_is_a_copy_of_its_original(store)
