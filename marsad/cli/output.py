"""Printing for people: rich tables that keep Arabic readable, and the layouts of ``search`` and
``show``. Off a terminal lines stay long, since wrapped Arabic is hard to read."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from marsad.arabic.script import has_arabic
from marsad.cli.common import stdout_is_terminal

ALERT_COLUMNS = [
    ("alert_id", "id"),
    ("created_at", "queued"),
    ("rule", "rule"),
    ("channel", "channel"),
    ("status", "status"),
    ("attempts", "attempts"),
    ("last_error", "last error"),
    ("title", "title"),
    ("source", "source"),
    ("outlets", "carried by"),
]

HEALTH_ALERT_COLUMNS = [
    ("alert_id", "id"),
    ("created_at", "queued"),
    ("subject", "about"),
    ("name", "name"),
    ("event", "event"),
    ("since", "since"),
    ("channel", "channel"),
    ("status", "status"),
    ("attempts", "attempts"),
    ("detail", "detail"),
]

SUPPRESSION_COLUMNS = [
    ("created_at", "held back"),
    ("rule", "rule"),
    ("channel", "channel"),
    ("reason", "why"),
    ("article_id", "article"),
    ("published", "published"),
    ("title", "title"),
    ("source", "source"),
    ("story_id", "story"),
    # The alert a later, fresh copy of the story raised after all, if one did.
    ("raised_by", "raised later by alert"),
]


def _console() -> Console:
    # Off a terminal (a pipe, a file, a test) keep lines long: wrapped Arabic is hard to read.
    if stdout_is_terminal():
        return Console(highlight=False)
    return Console(highlight=False, width=200, no_color=True)


def _cell(value: Any) -> Text:
    if value is None:
        return Text("")
    if isinstance(value, float):
        return Text(f"{value:g}")
    return Text(str(value))


def print_table(
    rows: Sequence[dict[str, Any]],
    columns: Sequence[tuple[str, str]],
    *,
    title: str | None = None,
    empty: str = "nothing to show",
) -> None:
    """Rows as a table. A column holding Arabic is right-aligned, so it reads from its start;
    every value stays in its own cell, so no right-to-left run spills into its neighbours."""
    console = _console()
    if not rows:
        console.print(Text(empty))
        return
    table = Table(title=title, show_lines=False, header_style="bold")
    for key, header in columns:
        rtl = any(has_arabic(str(row.get(key) or "")) for row in rows)
        table.add_column(header, justify="right" if rtl else "left", overflow="fold")
    for row in rows:
        table.add_row(*[_cell(row.get(key)) for key, _ in columns])
    console.print(table)


def print_fields(record: dict[str, Any], keys: Iterable[str], *, title: str) -> None:
    console = _console()
    table = Table(title=title, show_header=False, box=None)
    table.add_column("field", style="bold")
    table.add_column("value", overflow="fold")
    for key in keys:
        table.add_row(key, _cell(record.get(key)))
    console.print(table)


def print_search(results: list[dict[str, Any]], query: str) -> None:
    console = _console()
    if not results:
        console.print(Text(f"no article matches {query}"))
        return
    table = Table(title=f"{len(results)} result(s) for {query}", show_lines=True)
    table.add_column("id")
    table.add_column("source")
    table.add_column("published")
    table.add_column("story", justify="right")
    table.add_column("title / snippet", justify="right", overflow="fold")
    for r in results:
        text = Text(r["title"], style="bold")
        text.append("\n")
        offset = len(text)
        text.append(r["snippet"])
        for start, end in r["hits"]:
            text.stylize("reverse", offset + start, offset + end)
        outlets = r["outlet_count"]
        story = f"{r['story_id']} ({outlets} outlet{'s' if outlets != 1 else ''})"
        table.add_row(str(r["id"]), r["source"], r["published"] or "", story, text)
    console.print(table)


def translation_lines(record: dict[str, Any]) -> list[str]:
    """Cross-lingual provenance (#17), a line per link: "translated from <url>" with its score,
    the paragraphs matched and the anchors both share."""
    lines = []
    article = record.get("article") or {}
    for link in record.get("translations") or []:
        evidence = link.get("evidence") or {}
        paragraphs = len(evidence.get("paragraphs") or [])
        shared = " ".join(evidence.get("anchors_shared") or []) or "none"
        who = (
            ""
            if link["translation_id"] == article.get("id")
            else f"article {link['translation_id']} ({link['translation_source']}) "
        )
        lines.append(
            f"{who}translated from {link['original_url']} (article {link['original_id']}, "
            f"{link['original_source']}): score {link['score']:.2f}, {paragraphs} paragraphs "
            f"matched, shared anchors: {shared}"
        )
    return lines


def _copy_or_translation(row: dict[str, Any]) -> dict[str, Any]:
    """A story's article as its row shows it: a translation is a copy "translated" of its
    original, with the cross-lingual score."""
    if row.get("duplicate_of") is not None or row.get("translation_of") is None:
        return row
    return {
        **row,
        "duplicate_of": f"{row['translation_of']} (translated)",
        "similarity": row.get("translation_score"),
    }


def print_show(record: dict[str, Any]) -> None:
    console = _console()
    article = record["article"]
    if article:
        print_fields(
            article,
            ["id", "title", "source", "url", "published", "author", "story_id", "duplicate_of"],
            title=f"Article {article['id']}",
        )
        console.print(Text(article["text"], justify="right"))
        console.print()
    print_fields(
        record["story"],
        ["story_id", "title", "article_count", "outlet_count", "outlets", "first_seen", "rules"],
        title=f"Story {record['story']['story_id']}",
    )
    print_table(
        [_copy_or_translation(row) for row in record["articles"]],
        [
            ("id", "id"),
            ("source", "source"),
            ("published", "published"),
            ("title", "title"),
            ("duplicate_of", "copy of"),
            ("similarity", "similarity"),
        ],
        title="Articles: the original, its copies and translations",
    )
    print_table(
        record["matches"],
        [
            ("article_id", "article"),
            ("rule", "rule"),
            ("keyword", "keyword"),
            ("surface", "as written"),
            ("snippet", "snippet"),
        ],
        title="Watch-rule matches",
        empty="no watch rule matched",
    )
    print_table(record["alerts"], ALERT_COLUMNS, title="Alerts", empty="no alerts")
    # A roundup joins one story and quotes others; merged stories name the one they became.
    if record.get("merged_from"):
        merged = ", ".join(str(story_id) for story_id in record["merged_from"])
        console.print(f"Stories merged into this one: {merged}")
    if record.get("also_quotes"):
        print_table(
            record["also_quotes"],
            [("story_id", "story"), ("title", "title"), ("similarity", "share quoted")],
            title="Also quotes (stories left separate)",
        )
    for line in translation_lines(record):
        console.print(line)
    if record.get("quoted_by"):
        print_table(
            record["quoted_by"],
            [
                ("article_id", "article"),
                ("story_id", "in story"),
                ("source", "source"),
                ("title", "title"),
                ("similarity", "share quoted"),
            ],
            title="Quoted by articles of other stories",
        )
