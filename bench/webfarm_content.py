"""What the benchmark's loopback web serves: article texts and the pages and feeds made of them.

Pure: texts in, bytes out. The texts are read at run time from the dev stream beside the project
(``../shared/data/dedup-dev/stream.jsonl.gz``, real articles licensed for evaluation only, never
committed) or, when it is absent, made up here from a seed (Arabic letters drawn into words of a
Zipf-distributed vocabulary). The templates are ours: a news site's article page (head full of
meta tags, header, navigation, ticker, article, related links, sidebar, footer, scripts) and its
feeds in RSS 2.0 and Atom, in UTF-8 or windows-1256.
"""

from __future__ import annotations

import gzip
import itertools
import json
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime
from html import escape
from pathlib import Path

STREAM = Path("shared") / "data" / "dedup-dev" / "stream.jsonl.gz"
# A word every rule of the benchmark watches for: the generated text carries it in about one
# article in five, as the dev stream does (15% of its articles name a minister).
WATCHED_WORD = "وزير"

SECTIONS = (
    ("local", "محليات"),
    ("economy", "اقتصاد"),
    ("world", "دولي"),
    ("sport", "رياضة"),
    ("culture", "ثقافة"),
    ("opinion", "رأي"),
    ("tech", "تقنية"),
    ("health", "صحة"),
)
_OUTLET_WORDS = ("الأفق", "النهار", "الوطن", "الشروق", "المرصد", "الصباح", "الرائد", "البيان")


@dataclass(frozen=True)
class Text:
    title: str
    paragraphs: tuple[str, ...]


@dataclass(frozen=True)
class TextPool:
    texts: tuple[Text, ...]
    origin: str  # where the texts came from, said in the benchmark's output

    def text(self, index: int) -> Text:
        """The ``index``-th text, reused from the start once the pool is exhausted."""
        return self.texts[index % len(self.texts)]


def stream_path(project: Path) -> Path:
    return project.parent / STREAM


def load_pool(project: Path, *, seed: int, needed: int, generate: bool = False) -> TextPool:
    """The dev stream's articles in order, or ``needed`` made-up ones (at most 3,000, then they
    repeat) when it is absent (or ``generate``)."""
    path = stream_path(project)
    if not generate and path.is_file():
        texts = tuple(_stream_texts(path))
        return TextPool(texts, f"{len(texts):,} real articles from {path} (read at run time)")
    why = "asked for" if generate else f"{path} is absent"
    texts = tuple(generated_texts(random.Random(seed), max(1, min(needed, 3000))))
    return TextPool(texts, f"{len(texts):,} generated Arabic-like articles ({why})")


def _stream_texts(path: Path) -> Iterator[Text]:
    with gzip.open(path, "rt", encoding="utf-8") as lines:
        for line in lines:
            row = json.loads(line)
            paragraphs = tuple(p.strip() for p in str(row["text"]).split("\n") if p.strip())
            if paragraphs:
                yield Text(str(row["title"]).strip() or paragraphs[0][:60], paragraphs)


_LETTERS = "ابتثجحخدذرزسشصضطظعغفقكلمنهوي"


def generated_texts(rng: random.Random, count: int) -> Iterator[Text]:
    vocabulary = [
        "".join(rng.choice(_LETTERS) for _ in range(rng.randint(3, 7))) for _ in range(6000)
    ]
    # Cumulative once: rng.choices would otherwise add up 6,000 weights for every sentence.
    cumulative = list(itertools.accumulate(1.0 / (rank + 1) ** 1.1 for rank in range(6000)))
    for _ in range(count):
        watched = rng.random() < 0.2

        def sentence(words: int, *, watched: bool = watched) -> str:
            chosen = rng.choices(vocabulary, cum_weights=cumulative, k=words)
            if watched and rng.random() < 0.3:
                chosen[rng.randrange(words)] = rng.choice(
                    (WATCHED_WORD, "الوزير", "ووزير", "للوزير")
                )
            return " ".join(chosen) + "."

        title = sentence(rng.randint(6, 11)).rstrip(".")
        paragraphs = tuple(
            " ".join(sentence(rng.randint(8, 20)) for _ in range(rng.randint(1, 4)))
            for _ in range(rng.randint(3, 12))
        )
        yield Text(title, paragraphs)


# -- the sites ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Site:
    index: int
    name: str  # the outlet name marsad stores (a feed's `source`)
    title: str
    host: str  # its own loopback address
    port: int
    encoding: str  # "utf-8" or "windows-1256": its pages and its feeds
    tracking: bool  # feed links carry utm_* parameters (marsad's canonical URL drops them)

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"


@dataclass(frozen=True)
class Feed:
    index: int
    site: int
    section: str
    section_title: str
    format: str  # "rss" or "atom"
    path: str

    @property
    def name(self) -> str:
        return f"feed{self.index:05d}"


@dataclass(frozen=True)
class Entry:
    """One article as its site publishes it."""

    number: int  # unique in the farm
    feed: int
    text: Text
    published: datetime
    path: str  # of its page
    author: str


def site_address(index: int) -> str:
    """Every site on its own loopback address: Linux routes all of 127.0.0.0/8 to ``lo``."""
    return f"127.88.{index // 200}.{index % 200 + 10}"


def make_site(index: int, port: int) -> Site:
    return Site(
        index=index,
        name=f"outlet{index:04d}",
        title=f"صحيفة {_OUTLET_WORDS[index % len(_OUTLET_WORDS)]} {index}",
        host=site_address(index),
        port=port,
        # One site in five is an older one, all in windows-1256.
        encoding="windows-1256" if index % 5 == 4 else "utf-8",
        tracking=index % 3 == 1,
    )


def make_feeds(sites: int, feeds: int) -> list[Feed]:
    """``feeds`` feeds dealt round the ``sites`` sites; a site's feeds are its sections.

    windows-1256 sites give RSS only; the others alternate RSS 2.0 and Atom.
    """
    made: list[Feed] = []
    per_site: dict[int, int] = {}
    for index in range(feeds):
        site = index % sites
        k = per_site.get(site, 0)
        per_site[site] = k + 1
        slug, title = SECTIONS[k % len(SECTIONS)]
        if k >= len(SECTIONS):
            slug, title = f"{slug}{k // len(SECTIONS)}", f"{title} {k // len(SECTIONS)}"
        old_site = site % 5 == 4
        kind = "rss" if old_site or k % 2 == 0 else "atom"
        path = f"/rss/{slug}.xml" if kind == "rss" else f"/feeds/{slug}.atom"
        made.append(Feed(index, site, slug, title, kind, path))
    return made


def entry_path(feed: Feed, number: int, published: datetime) -> str:
    return f"/{feed.section}/{published:%Y/%m/%d}/{number}.html"


def entry_link(site: Site, entry: Entry) -> str:
    link = f"{site.base_url}{entry.path}"
    return f"{link}?utm_source=rss&utm_medium=feed" if site.tracking else link


ROBOTS = b"""User-agent: *
Disallow: /private/
Disallow: /search
Allow: /

User-agent: BadBot
Disallow: /
"""


# -- rendering ---------------------------------------------------------------------------------


def encode(text: str, encoding: str) -> bytes:
    """Characters windows-1256 lacks become character references, as such sites write them."""
    return text.encode(encoding, errors="xmlcharrefreplace")


def _summary(text: Text, limit: int = 220) -> str:
    first = text.paragraphs[0]
    return first if len(first) <= limit else first[:limit].rsplit(" ", 1)[0] + "…"


_STYLE = """
body{margin:0;font-family:'Noto Naskh Arabic',Tahoma,sans-serif;background:#f4f4f4;color:#222}
.top{background:#111;color:#ccc;font-size:12px;padding:4px 16px}.top a{color:#ccc}
header{background:#fff;border-bottom:3px solid #b00}header .logo{font-size:28px;padding:12px}
nav ul{list-style:none;margin:0;padding:0;display:flex}nav li a{display:block;padding:10px 14px}
.ticker{background:#b00;color:#fff;white-space:nowrap;overflow:hidden}
main{display:flex;max-width:1200px;margin:0 auto}article{flex:3;background:#fff;padding:24px}
aside{flex:1;padding:16px}.share a{display:inline-block;margin:0 4px}.tags a{margin:0 6px}
footer{background:#222;color:#aaa;padding:24px}footer .cols{display:flex}footer ul{flex:1}
.ad{background:#eee;text-align:center;height:250px;margin:12px 0}
""".strip()

_SCRIPT = """
window.dataLayer=window.dataLayer||[];function gtag(){dataLayer.push(arguments)}
gtag('js',new Date());gtag('config','UA-000000-1',{anonymize_ip:true});
(function(){var slots=['top','side','bottom'];for(var i=0;i<slots.length;i++){
var d=document.getElementById('ad-'+slots[i]);if(d){d.setAttribute('data-ready','1')}}})();
""".strip()

# The settings blob a news site's front-end framework inlines into every page.
_CONFIG = json.dumps(
    {
        "ads": {
            f"slot{k}": {"sizes": [[300, 250], [728, 90]], "targeting": {"pos": k, "sec": "news"}}
            for k in range(40)
        },
        "features": {f"flag_{k}": k % 3 == 0 for k in range(120)},
        "i18n": {f"label_{k}": f"نص الواجهة رقم {k}" for k in range(60)},
    },
    ensure_ascii=False,
    separators=(",", ":"),
)
_ICON = (
    '<svg viewBox="0 0 24 24" width="20" height="20" aria-hidden="true"><path d="M12 2C6.48 2 '
    "2 6.48 2 12s4.48 10 10 10 10-4.48 10-10S17.52 2 12 2zm0 18c-4.41 0-8-3.59-8-8s3.59-8 8-8 8 "
    '3.59 8 8-3.59 8-8 8z"/></svg>'
)
_SHARE = "".join(
    f'<a href="#" class="share-{name}" title="{title}">{_ICON}<span>{title}</span></a>'
    for name, title in (
        ("fb", "فيسبوك"),
        ("tw", "تويتر"),
        ("wa", "واتساب"),
        ("tg", "تيليجرام"),
        ("mail", "بريد"),
        ("print", "طباعة"),
    )
)


def article_page(
    site: Site,
    feed: Feed,
    entry: Entry,
    related: Sequence[Entry],
    sections: Sequence[Feed],
) -> bytes:
    """An article page in a news template, in the site's encoding."""
    text = entry.text
    title = escape(text.title)
    when = entry.published.isoformat()
    url = f"{site.base_url}{entry.path}"
    description = escape(_summary(text, 160))
    # A mega-menu: each section with its sub-sections, as news sites nest them.
    nav = "".join(
        f'<li class="menu"><a href="{site.base_url}/{f.section}/">{escape(f.section_title)}</a>'
        '<ul class="sub">'
        + "".join(
            f'<li><a href="{site.base_url}/{f.section}/{k}/">{escape(f.section_title)} {k}</a></li>'
            for k in range(8)
        )
        + "</ul></li>"
        for f in sections
    )
    related_items = "".join(
        f'<li><a href="{site.base_url}{r.path}">{escape(r.text.title)}</a></li>'
        for r in related[:6]
    )
    # Sidebar teasers: picture, headline and standfirst of the site's other articles.
    teasers = "".join(
        f'<div class="teaser"><a href="{site.base_url}{r.path}">'
        f'<img src="{site.base_url}/img/{r.number}_s.jpg" alt="" loading="lazy" width="120">'
        f"<h3>{escape(r.text.title)}</h3></a><p>{escape(_summary(r.text, 120))}</p></div>"
        for r in related
    )
    ticker = " ● ".join(escape(r.text.title) for r in related[:4])
    body = "\n".join(f"<p>{escape(p)}</p>" for p in text.paragraphs)
    json_ld = json.dumps(
        {
            "@context": "https://schema.org",
            "@type": "NewsArticle",
            "headline": text.title,
            "datePublished": when,
            "dateModified": when,
            "author": {"@type": "Person", "name": entry.author},
            "publisher": {"@type": "Organization", "name": site.title},
            "mainEntityOfPage": url,
        },
        ensure_ascii=False,
    ).replace("</", "<\\/")
    footer_columns = "".join(
        "<ul>"
        + "".join(
            f'<li><a href="{site.base_url}/page/{c}{k}">رابط {k} من القسم {c}</a></li>'
            for k in range(10)
        )
        + "</ul>"
        for c in range(4)
    )
    page = f"""<!DOCTYPE html>
<html lang="ar" dir="rtl">
<head>
<meta charset="{site.encoding}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} | {escape(site.title)}</title>
<meta name="description" content="{description}">
<meta name="keywords" content="{escape(feed.section_title)}، أخبار، {escape(site.title)}">
<meta name="author" content="{escape(entry.author)}">
<link rel="canonical" href="{url}">
<meta property="og:site_name" content="{escape(site.title)}">
<meta property="og:type" content="article">
<meta property="og:title" content="{title}">
<meta property="og:description" content="{description}">
<meta property="og:url" content="{url}">
<meta property="og:image" content="{site.base_url}/img/{entry.number}.jpg">
<meta property="article:published_time" content="{when}">
<meta property="article:modified_time" content="{when}">
<meta property="article:section" content="{escape(feed.section_title)}">
<meta name="twitter:card" content="summary_large_image">
<meta name="twitter:title" content="{title}">
<link rel="stylesheet" href="{site.base_url}/static/main.css">
<style>{_STYLE}</style>
<script type="application/ld+json">{json_ld}</script>
<script>{_SCRIPT}</script>
<script>window.__CONFIG__={_CONFIG}</script>
</head>
<body>
<div class="top">{entry.published:%Y-%m-%d} | <a href="{site.base_url}/weather">الطقس</a> |
<a href="{site.base_url}/prayer">مواقيت الصلاة</a> | <a href="{site.base_url}/en">English</a></div>
<header><div class="logo"><a href="{site.base_url}/">{escape(site.title)}</a></div>
<nav><ul><li><a href="{site.base_url}/">الرئيسية</a></li>{nav}
<li><a href="{site.base_url}/video">فيديو</a></li><li><a href="{site.base_url}/photos">صور</a></li>
</ul></nav></header>
<div class="ticker"><strong>عاجل:</strong> {ticker}</div>
<div id="ad-top" class="ad">إعلان</div>
<main>
<article>
<div class="breadcrumb"><a href="{site.base_url}/">الرئيسية</a> »
<a href="{site.base_url}/{feed.section}/">{escape(feed.section_title)}</a></div>
<h1>{title}</h1>
<div class="byline">بقلم <span class="author">{escape(entry.author)}</span> —
<time datetime="{when}">{entry.published:%Y-%m-%d %H:%M}</time></div>
<div class="share">{_SHARE}</div>
<figure><img src="{site.base_url}/img/{entry.number}.jpg" alt="{title}" width="800" height="450">
<figcaption>صورة من الأرشيف</figcaption></figure>
<div class="article-body">
{body}
</div>
<div class="tags">الكلمات الدالة: <a href="#">{escape(feed.section_title)}</a>
<a href="#">أخبار</a><a href="#">تقارير</a></div>
<section class="related"><h2>أخبار ذات صلة</h2><ul>{related_items}</ul></section>
<section class="comments"><h2>التعليقات</h2><p>لا توجد تعليقات بعد. كن أول من يعلق.</p>
<form action="{site.base_url}/comment" method="post"><textarea name="c"></textarea>
<button>أرسل</button></form></section>
</article>
<aside><h2>الأكثر قراءة</h2><ol>{related_items}</ol>
<h2>آخر الأخبار</h2>{teasers}
<div id="ad-side" class="ad">إعلان</div>
<h2>النشرة البريدية</h2><form action="{site.base_url}/newsletter" method="post">
<input type="email" name="email" placeholder="بريدك الإلكتروني"><button>اشترك</button></form>
</aside>
</main>
<div id="ad-bottom" class="ad">إعلان</div>
<footer><div class="cols">{footer_columns}</div>
<p>جميع الحقوق محفوظة © {escape(site.title)} {entry.published:%Y}</p></footer>
<script src="{site.base_url}/static/app.js" defer></script>
</body>
</html>
"""
    return encode(page, site.encoding)


def rss_feed(site: Site, feed: Feed, entries: Sequence[Entry], now: datetime) -> bytes:
    items = "".join(
        f"""<item>
<title>{escape(e.text.title)}</title>
<link>{escape(entry_link(site, e))}</link>
<guid isPermaLink="false">{site.name}-{e.number}</guid>
<pubDate>{format_datetime(e.published)}</pubDate>
<category>{escape(feed.section_title)}</category>
<dc:creator>{escape(e.author)}</dc:creator>
<description>{escape(_summary(e.text))}</description>
</item>
"""
        for e in entries
    )
    document = f"""<?xml version="1.0" encoding="{site.encoding}"?>
<rss version="2.0" xmlns:dc="http://purl.org/dc/elements/1.1/" \
xmlns:atom="http://www.w3.org/2005/Atom">
<channel>
<title>{escape(site.title)} - {escape(feed.section_title)}</title>
<link>{site.base_url}/{feed.section}/</link>
<atom:link href="{site.base_url}{feed.path}" rel="self" type="application/rss+xml"/>
<description>آخر أخبار {escape(feed.section_title)}</description>
<language>ar</language>
<lastBuildDate>{format_datetime(now)}</lastBuildDate>
<ttl>5</ttl>
{items}</channel>
</rss>
"""
    return encode(document, site.encoding)


def atom_feed(site: Site, feed: Feed, entries: Sequence[Entry], now: datetime) -> bytes:
    items = "".join(
        f"""<entry>
<title>{escape(e.text.title)}</title>
<link rel="alternate" type="text/html" href="{escape(entry_link(site, e))}"/>
<id>tag:{site.name}.example,{e.published:%Y-%m-%d}:{e.number}</id>
<published>{e.published.isoformat()}</published>
<updated>{e.published.isoformat()}</updated>
<author><name>{escape(e.author)}</name></author>
<category term="{escape(feed.section)}" label="{escape(feed.section_title)}"/>
<summary type="text">{escape(_summary(e.text))}</summary>
</entry>
"""
        for e in entries
    )
    document = f"""<?xml version="1.0" encoding="{site.encoding}"?>
<feed xmlns="http://www.w3.org/2005/Atom" xml:lang="ar">
<title>{escape(site.title)} - {escape(feed.section_title)}</title>
<id>tag:{site.name}.example,2024:{feed.section}</id>
<link rel="self" href="{site.base_url}{feed.path}"/>
<link rel="alternate" type="text/html" href="{site.base_url}/{feed.section}/"/>
<updated>{now.isoformat()}</updated>
{items}</feed>
"""
    return encode(document, site.encoding)


def render_feed(site: Site, feed: Feed, entries: Sequence[Entry], now: datetime) -> bytes:
    return (atom_feed if feed.format == "atom" else rss_feed)(site, feed, entries, now)


def content_type(kind: str, encoding: str) -> str:
    base = {
        "rss": "application/rss+xml",
        "atom": "application/atom+xml",
        "html": "text/html",
        "text": "text/plain",
    }[kind]
    return f"{base}; charset={encoding}"


def utc(moment: float) -> datetime:
    return datetime.fromtimestamp(moment, UTC)
