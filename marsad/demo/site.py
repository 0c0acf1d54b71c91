"""Rendering the demo outlets as a small web site: feeds (RSS 2.0 / Atom) and article pages.

Pure: content in, ``{path: Page}`` out. :mod:`scheduler.demo` serves it on loopback.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from email.utils import format_datetime
from html import escape

from marsad.demo.content import DemoArticle, DemoOutlet


@dataclass(frozen=True)
class Page:
    body: bytes
    content_type: str


def render_site(outlets: tuple[DemoOutlet, ...], base_url: str) -> dict[str, Page]:
    pages: dict[str, Page] = {
        "/robots.txt": Page(b"User-agent: *\nDisallow: /private/\n", "text/plain"),
    }
    for outlet in outlets:
        charset = f"; charset={outlet.encoding}" if outlet.declare_charset else ""
        for article in outlet.articles:
            html = _article_html(outlet, article)
            pages[f"/{outlet.name}/{article.slug}.html"] = Page(
                html.encode(outlet.encoding), f"text/html{charset}"
            )
        feed = (_atom if outlet.kind == "atom" else _rss)(outlet, base_url)
        feed_type = "application/atom+xml" if outlet.kind == "atom" else "application/rss+xml"
        pages[feed_path(outlet)] = Page(feed.encode(outlet.encoding), f"{feed_type}{charset}")
    return pages


def feed_path(outlet: DemoOutlet) -> str:
    return f"/{outlet.name}/feed.{'atom' if outlet.kind == 'atom' else 'xml'}"


def _article_url(outlet: DemoOutlet, article: DemoArticle, base_url: str) -> str:
    return f"{base_url}/{outlet.name}/{article.slug}.html"


def _article_html(outlet: DemoOutlet, article: DemoArticle) -> str:
    meta_charset = f'<meta charset="{outlet.encoding}">' if outlet.declare_charset else ""
    paragraphs = "\n".join(f"<p>{escape(p)}</p>" for p in article.paragraphs)
    author = f'<meta name="author" content="{escape(article.author)}">' if article.author else ""
    return f"""<!DOCTYPE html>
<html lang="ar" dir="rtl">
<head>{meta_charset}
<title>{escape(article.title)} | {escape(outlet.title)}</title>
{author}
<meta property="article:published_time" content="{article.published}">
</head>
<body>
<header><nav><a href="/">{escape(outlet.title)}</a> | <a href="/">الرئيسية</a></nav></header>
<article>
<h1>{escape(article.title)}</h1>
<time datetime="{article.published}">{article.published[:10]}</time>
{paragraphs}
</article>
<footer>جميع الحقوق محفوظة لـ{escape(outlet.title)}</footer>
</body>
</html>
"""


def _rss(outlet: DemoOutlet, base_url: str) -> str:
    items = []
    for article in outlet.articles:
        url = _article_url(outlet, article, base_url)
        date = format_datetime(datetime.fromisoformat(article.published))
        items.append(
            f"""  <item>
    <title>{escape(article.title)}</title>
    <link>{url}</link>
    <guid isPermaLink="false">{outlet.name}-{article.slug}</guid>
    <pubDate>{date}</pubDate>
    <description>{escape(article.paragraphs[0])}</description>
  </item>"""
        )
    return f"""<?xml version="1.0" encoding="{outlet.encoding}"?>
<rss version="2.0">
<channel>
  <title>{escape(outlet.title)}</title>
  <link>{base_url}/{outlet.name}/</link>
  <description>{escape(outlet.title)}</description>
  <language>ar</language>
{chr(10).join(items)}
</channel>
</rss>
"""


def _atom(outlet: DemoOutlet, base_url: str) -> str:
    entries = []
    for article in outlet.articles:
        url = _article_url(outlet, article, base_url)
        entries.append(
            f"""  <entry>
    <title>{escape(article.title)}</title>
    <link href="{url}"/>
    <id>tag:{outlet.name}.example,2020:{article.slug}</id>
    <updated>{article.published}</updated>
    <summary>{escape(article.paragraphs[0])}</summary>
  </entry>"""
        )
    newest = max(a.published for a in outlet.articles)
    return f"""<?xml version="1.0" encoding="{outlet.encoding}"?>
<feed xmlns="http://www.w3.org/2005/Atom" xml:lang="ar">
  <title>{escape(outlet.title)}</title>
  <id>tag:{outlet.name}.example,2020:feed</id>
  <updated>{newest}</updated>
  <link href="{base_url}/{outlet.name}/"/>
{chr(10).join(entries)}
</feed>
"""
