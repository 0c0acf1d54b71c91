"""crawler.feeds on literal feeds: formats, encodings, broken input; and what an entry is."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from marsad.crawler.feeds import (
    ENTRY_MAX_ATTEMPTS,
    FeedEntry,
    content_url,
    entry_key,
    gives_up,
    html_to_text,
    link_problem,
    parse_feed,
)

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
BASE = "http://news.example/feeds/main.xml"

RSS20 = """<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/">
<channel><title>أخبار المدينة</title><link>http://news.example/</link>
<item>
  <title>افتتاح &lt;b&gt;مكتبة&lt;/b&gt; عامة</title>
  <link>/2024/05/library.html</link>
  <guid isPermaLink="false">lib-1</guid>
  <pubDate>Sun, 12 May 2024 09:30:00 +0300</pubDate>
  <author>desk@news.example (مكتب الأخبار)</author>
  <description>ملخص قصير</description>
  <content:encoded><![CDATA[<p>افتتحت المدينة مكتبة عامة جديدة.</p>
  <p>وتضم المكتبة عشرة آلاف كتاب.</p>
  <script>alert(1)</script>]]></content:encoded>
</item>
<item><title>بلا رابط</title><description>خبر بلا رابط</description></item>
</channel></rss>"""

ATOM = """<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom"><title>صحيفة</title><id>urn:x</id>
<updated>2024-05-13T10:00:00Z</updated>
<entry><title type="html">سوق &amp;amp; ميناء</title><id>urn:x:1</id>
<link rel="alternate" href="http://news.example/a/1"/>
<link rel="enclosure" href="http://news.example/a/1.mp3"/>
<updated>2024-05-13T07:00:00+03:00</updated>
<author><name>ليلى</name></author>
<summary type="html">&lt;p&gt;نص &lt;i&gt;الملخص&lt;/i&gt;&lt;/p&gt;</summary>
</entry></feed>"""

RSS10 = """<?xml version="1.0"?>
<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"
  xmlns="http://purl.org/rss/1.0/" xmlns:dc="http://purl.org/dc/elements/1.1/">
<channel rdf:about="http://news.example/"><title>قناة</title><link>http://news.example/</link>
<description>d</description></channel>
<item rdf:about="http://news.example/r/1"><title>خبر أول</title>
<link>http://news.example/r/1</link><dc:date>2024-05-10T12:00:00Z</dc:date>
<description>وصف الخبر</description></item>
</rdf:RDF>"""

RSS091 = """<?xml version="1.0"?><rss version="0.91"><channel><title>t</title>
<link>http://news.example/</link><description>d</description>
<item><title>قديم</title><link>http://news.example/old</link><description>نص</description></item>
</channel></rss>"""


def test_rss20_entry_fields() -> None:
    result = parse_feed(RSS20.encode("utf-8"), BASE)
    assert result.version == "rss20" and result.title == "أخبار المدينة"
    assert not result.bozo and result.is_feed
    first, second = result.entries
    assert first.guid == "lib-1"
    assert first.link == "http://news.example/2024/05/library.html"
    assert first.title == "افتتاح مكتبة عامة"
    # The full content wins over the summary; tags and scripts are gone, paragraphs kept apart.
    assert first.text == "افتتحت المدينة مكتبة عامة جديدة.\nوتضم المكتبة عشرة آلاف كتاب."
    assert first.published == "2024-05-12T06:30:00Z"
    assert first.author and "مكتب الأخبار" in first.author
    assert second.link is None and second.text == "خبر بلا رابط"


def test_atom_entry_fields() -> None:
    result = parse_feed(ATOM.encode("utf-8"), BASE)
    assert result.version == "atom10"
    (entry,) = result.entries
    assert (entry.guid, entry.link) == ("urn:x:1", "http://news.example/a/1")
    assert entry.title == "سوق & ميناء"
    assert entry.text == "نص الملخص"
    assert entry.author == "ليلى"
    assert entry.published == "2024-05-13T04:00:00Z"


@pytest.mark.parametrize(("feed", "version"), [(RSS10, "rss10"), (RSS091, "rss091u")])
def test_older_rss_versions(feed: str, version: str) -> None:
    result = parse_feed(feed.encode("utf-8"), BASE)
    assert result.version.startswith(version[:5])
    assert result.entries[0].link and result.entries[0].title
    assert result.entries[0].text


@pytest.mark.parametrize("encoding", ["windows-1256", "iso-8859-6"])
def test_legacy_arabic_feed_declared_in_xml(encoding: str) -> None:
    feed = RSS10.replace('<?xml version="1.0"?>', f'<?xml version="1.0" encoding="{encoding}"?>')
    result = parse_feed(feed.encode(encoding), BASE)
    assert result.entries[0].title == "خبر أول"
    assert result.entries[0].text == "وصف الخبر"


def test_charset_from_http_header_is_used() -> None:
    body = RSS091.replace("قديم", "يوم مهم").encode("cp1256")
    result = parse_feed(body, BASE, content_type="text/xml; charset=windows-1256")
    assert result.entries[0].title == "يوم مهم"


def test_truncated_feed_keeps_recovered_entries() -> None:
    cut = RSS20[: RSS20.index("<item><title>بلا رابط")] + "<item><title>مقطو"
    result = parse_feed(cut.encode("utf-8"), BASE)
    assert result.bozo and result.bozo_message
    assert result.entries[0].guid == "lib-1"


@pytest.mark.parametrize("body", [b"", b"<html><body><p>not a feed</p></body></html>", b"\x00\xff"])
def test_not_a_feed(body: bytes) -> None:
    result = parse_feed(body, BASE)
    assert not result.is_feed
    assert result.entries == ()


def test_html_to_text() -> None:
    assert html_to_text("<p>أ</p><p>ب<br>ج</p>") == "أ\nب\nج"
    assert html_to_text("a &amp; b") == "a & b"
    assert html_to_text("  plain\t text ") == "plain text"
    assert html_to_text("<style>p{}</style><div>نص</div>") == "نص"


def _shared_feeds(folder: str) -> list[Path]:
    root = SHARED / "data" / "feeds" / folder
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


@pytest.mark.parametrize("path", _shared_feeds("illformed"), ids=lambda p: p.name)
def test_shared_illformed_feeds_never_raise(path: Path) -> None:
    result = parse_feed(path.read_bytes(), "http://example.org/feed")
    assert all(e.link is None or e.link.startswith("http") for e in result.entries)


def test_shared_realworld_feeds_parse() -> None:
    paths = _shared_feeds("realworld")
    if not paths:
        pytest.skip(f"shared test data not found under {SHARED / 'data' / 'feeds'}")
    with_entries = sum(1 for p in paths if parse_feed(p.read_bytes(), "http://e.org/").entries)
    assert with_entries >= len(paths) * 0.9


# -- entries that cannot be read, and what an entry is -----------------------------------------

SURROGATES = """<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>t</title>
<item><title>أول</title><link>http://news.example/1</link></item>
<item><title>ثان &#xD800; &#55297; &#x110000; &#x00000000000dfff;</title>
<link>http://news.example/2</link><description>نص &#xDBFF;</description></item>
<item><title>ثالث &#x41; &#1575;</title><link>http://news.example/3</link></item>
</channel></rss>"""


def test_character_references_no_text_can_hold_cost_one_character_not_the_feed() -> None:
    result = parse_feed(SURROGATES.encode("utf-8"), BASE)
    assert [e.link for e in result.entries] == [f"http://news.example/{n}" for n in (1, 2, 3)]
    assert result.entries[1].title == "ثان \ufffd \ufffd \ufffd \ufffd"
    assert result.entries[1].text == "نص \ufffd"
    assert result.entries[2].title == "ثالث A ا"  # the references that are text stay text
    assert result.unusable == ()


def test_entry_key_is_the_guid_else_the_link_else_the_content() -> None:
    entry = FeedEntry(
        guid="g-1",
        link="http://news.example/a?utm_source=rss",
        title="t",
        text="x",
        author=None,
        published=None,
    )
    assert entry_key(entry) == "guid:g-1"
    assert entry_key(replace(entry, guid=None)) == "url:http://news.example/a"
    bare = replace(entry, guid=None, link=None)
    key = entry_key(bare)
    assert key is not None and key.startswith("content:")
    assert entry_key(replace(bare, published="2024-05-12T00:00:00Z")) == key  # a date moves
    assert entry_key(replace(bare, text="y")) != key
    assert entry_key(replace(bare, title="", text="")) is None


def test_an_entry_without_a_link_is_filed_under_its_feed_and_its_content() -> None:
    bare = FeedEntry(guid=None, link=None, title="بيان", text="نص", author=None, published=None)
    url = content_url(bare, "http://news.example/feed.xml")
    assert url.startswith("http://news.example/feed.xml#entry-")
    assert content_url(bare, "http://news.example/feed.xml") == url
    assert content_url(bare, "http://other.example/feed.xml") != url
    with_guid = content_url(replace(bare, guid="g-9"), "http://news.example/feed.xml")
    assert with_guid != url
    assert content_url(replace(bare, guid="g-9", text="تغير"), "http://news.example/f") == (
        content_url(replace(bare, guid="g-9"), "http://news.example/f")
    )


@pytest.mark.parametrize(
    ("link", "problem"),
    [
        ("http://news.example/a", None),
        ("HTTPS://news.example/a", None),
        ("javascript:alert(1)", "not an http(s) link: 'javascript:alert(1)'"),
        ("mailto:desk@news.example", "not an http(s) link"),
        ("file:///etc/passwd", "not an http(s) link"),
        ("data:text/html,<p>x</p>", "not an http(s) link"),
        ("ftp://news.example/a", "not an http(s) link"),
        ("http:///nohost", "no host in link"),
        ("http://[::1/", "malformed link"),
    ],
)
def test_link_problem(link: str, problem: str | None) -> None:
    found = link_problem(link)
    if problem is None:
        assert found is None
    else:
        assert found is not None and found.startswith(problem)


def test_an_entry_is_given_up_after_enough_attempts_and_time_both() -> None:
    now = datetime(2024, 5, 12, 12, 0, tzinfo=UTC)
    long_ago = "2024-05-12T10:59:59Z"
    just_now = "2024-05-12T11:30:00Z"
    assert not gives_up(ENTRY_MAX_ATTEMPTS - 1, long_ago, now)
    assert not gives_up(ENTRY_MAX_ATTEMPTS, just_now, now)
    assert not gives_up(50, just_now, now)
    assert gives_up(ENTRY_MAX_ATTEMPTS, long_ago, now)
    assert gives_up(ENTRY_MAX_ATTEMPTS, "2024-05-12T11:00:00Z", now)  # exactly the bound


_ISO_8859_6_FEED = (
    "<?xml version='1.0'?><rss version='2.0'><channel><title>قناة</title>"
    "<item><title>وزير الخارجية يصل إلى العاصمة</title><link>https://example.org/a</link>"
    "<description>بدأ الوزير زيارة رسمية تستمر يومين</description></item>"
    "</channel></rss>"
).encode("iso-8859-6")


@pytest.mark.parametrize("content_type", [None, "application/rss+xml; charset=windows-1256"])
def test_an_iso_8859_6_feed_reads_as_arabic_undeclared_or_mislabelled(
    content_type: str | None,
) -> None:
    # Undeclared, feedparser alone read it as windows-1252; labelled windows-1256, as mojibake.
    result = parse_feed(_ISO_8859_6_FEED, "https://example.org/feed", content_type=content_type)
    assert [e.title for e in result.entries] == ["وزير الخارجية يصل إلى العاصمة"]
    assert result.title == "قناة"
