"""Looking inside the store: ``marsad search|stories|show|alerts|feeds|stats|schema|inspect``.

Every command reads through :mod:`storage.queries`, prints a rich table for people and, with
``--json``, plain JSON for scripts.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.table import Table
from rich.text import Text
from sqlite_utils import Database

from marsad.arabic.script import has_arabic
from marsad.cli.common import (
    emit_json,
    fail,
    json_option,
    open_config_store,
    resolve_config,
    stdout_is_terminal,
    store_options,
)
from marsad.config import Config
from marsad.inspect.metadata import datasette_metadata, schema_markdown
from marsad.storage import queries
from marsad.storage.db import open_store
from marsad.storage.outbox import requeue_alert
from marsad.storage.search import SearchSyntaxError, describe_sqlite_error, parse_query, snippet
from marsad.times import parse_when, to_iso, utc_now
from marsad.urls import canonical_url

# --- Times on the command line ----------------------------------------------------------------


def _when(option: str, text: str | None, *, end_of_day: bool = False) -> str | None:
    if text is None:
        return None
    try:
        return parse_when(text, datetime.now(UTC), end_of_day=end_of_day)
    except ValueError as exc:
        fail(f"{option}: {exc}")


def _open_existing(config_path: str | None, db_path: str | None) -> tuple[Config, Database]:
    """Open the configured store; a reading command must not create an empty one."""
    config = resolve_config(config_path, db_path)
    if not config.store_path.exists():
        fail(f"no store at {config.store_path}: run `marsad import` or `marsad run` first")
    return config, open_config_store(config)


# --- Human output ------------------------------------------------------------------------------


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


# --- marsad search ---------------------------------------------------------------------------


@click.command("search")
@click.argument("query")
@click.option("--source", help="Only articles from this outlet (exact name).")
@click.option("--since", help="Published at or after: today, 7d, 2024-05-01, ISO time.")
@click.option("--until", help="Published before (a date includes that whole day).")
@click.option("--rule", help="Only articles that matched this watch rule.")
@click.option("--limit", type=click.IntRange(1, 1000), default=20, show_default=True)
@store_options
@json_option
def search_command(
    query: str,
    source: str | None,
    since: str | None,
    until: str | None,
    rule: str | None,
    limit: int,
    config_path: str | None,
    db_path: str | None,
    as_json: bool,
) -> None:
    """Full-text search over the Arabic-normalised index, best match first.

    Hamza forms, harakat, tatweel and ة/ه are ignored, so «الانسحاب» finds «الإنسحاب» and
    «الانْسِحَاب». Words must all occur; "a phrase" (or «a phrase») must occur as written;
    word* matches a prefix; OR between two terms matches either.
    """
    try:
        parsed = parse_query(query)
    except SearchSyntaxError as exc:
        fail(f"search: {exc}")
    since_iso = _when("--since", since)
    until_iso = _when("--until", until, end_of_day=True)
    _, db = _open_existing(config_path, db_path)
    try:
        rows = queries.search_articles(
            db,
            parsed.fts(),
            source=source,
            since=since_iso,
            until=until_iso,
            rule=rule,
            limit=limit,
        )
    except sqlite3.Error as exc:
        fail(f"search: {describe_sqlite_error(exc)}")
    results = []
    for row in rows:
        found = snippet(row["text"] or row["title"], parsed.terms)
        result = {k: v for k, v in row.items() if k != "text"}
        result["snippet"] = found.text
        result["hits"] = [list(hit) for hit in found.hits]
        results.append(result)
    if as_json:
        emit_json(results)
        return
    _print_search(results, query)


def _print_search(results: list[dict[str, Any]], query: str) -> None:
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


# --- marsad stories / show -----------------------------------------------------------------------

_STORY_COLUMNS = [
    ("story_id", "story"),
    ("title", "title"),
    ("original_source", "original"),
    ("copy_count", "copies"),
    ("outlet_count", "outlets"),
    ("outlets", "carried by"),
    ("first_seen", "first seen"),
    ("last_seen", "last seen"),
    ("rules", "rules"),
]


@click.command("stories")
@click.option("--since", help="Last seen at or after: today, 7d, 2024-05-01, ISO time.")
@click.option("--rule", help="Only stories with an article that matched this watch rule.")
@click.option("--min-outlets", type=click.IntRange(1), default=1, show_default=True)
@click.option("--limit", type=click.IntRange(1, 1000), default=20, show_default=True)
@store_options
@json_option
def stories_command(
    since: str | None,
    rule: str | None,
    min_outlets: int,
    limit: int,
    config_path: str | None,
    db_path: str | None,
    as_json: bool,
) -> None:
    """Recent stories: the original, its copies and outlets, first and last seen, rules matched."""
    since_iso = _when("--since", since)
    _, db = _open_existing(config_path, db_path)
    rows = queries.list_stories(
        db, since=since_iso, rule=rule, min_outlets=min_outlets, limit=limit
    )
    if as_json:
        emit_json(rows)
    else:
        print_table(rows, _STORY_COLUMNS, title="Stories, latest first", empty="no stories")


@click.command("show")
@click.argument("target")
@click.option("--story", "is_story", is_flag=True, help="TARGET is a story id, not an article.")
@store_options
@json_option
def show_command(
    target: str, is_story: bool, config_path: str | None, db_path: str | None, as_json: bool
) -> None:
    """One article (by URL or id) or story (--story ID) in full, with its copies and alerts."""
    _, db = _open_existing(config_path, db_path)
    article: dict[str, Any] | None = None
    if is_story:
        story = queries.get_story(db, int(target)) if target.isdigit() else None
        if story is None:
            fail(f"no story {target}")
        if story["original_id"] is not None:
            article = queries.get_article(db, story["original_id"])
    else:
        if target.isdigit():
            article_id: int | None = int(target)
        else:
            article_id = queries.find_article_id(db, url=target, canonical_url=_canon(target))
        article = queries.get_article(db, article_id) if article_id is not None else None
        if article is None:
            fail(f"no article {target}")
        story = queries.get_story(db, article["story_id"])
        if story is None:
            fail(f"article {target} points at a missing story {article['story_id']}")
    story_id = story["story_id"]
    record = {
        "article": article,
        "story": story,
        "articles": queries.story_articles(db, story_id),
        "matches": queries.story_matches(db, story_id),
        "alerts": queries.story_alerts(db, story_id),
    }
    if as_json:
        emit_json(record)
        return
    _print_show(record)


def _canon(url: str) -> str:
    try:
        return canonical_url(url)
    except ValueError:
        return url


def _print_show(record: dict[str, Any]) -> None:
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
        record["articles"],
        [
            ("id", "id"),
            ("source", "source"),
            ("published", "published"),
            ("title", "title"),
            ("duplicate_of", "copy of"),
            ("similarity", "similarity"),
        ],
        title="Articles: the original and its copies",
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
    print_table(record["alerts"], _ALERT_COLUMNS, title="Alerts", empty="no alerts")


# --- marsad alerts ---------------------------------------------------------------------------

_ALERT_COLUMNS = [
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


@click.group("alerts", invoke_without_command=True)
@click.option(
    "--status", type=click.Choice(["pending", "sent", "dead"]), help="Only alerts in this state."
)
@click.option("--rule", help="Only alerts of this watch rule.")
@click.option("--channel", help="Only alerts for this channel.")
@click.option("--since", help="Queued at or after: today, 7d, 2024-05-01, ISO time.")
@click.option("--until", help="Queued before (a date includes that whole day).")
@click.option("--limit", type=click.IntRange(1, 10000), default=50, show_default=True)
@store_options
@json_option
@click.pass_context
def alerts_command(
    ctx: click.Context,
    status: str | None,
    rule: str | None,
    channel: str | None,
    since: str | None,
    until: str | None,
    limit: int,
    config_path: str | None,
    db_path: str | None,
    as_json: bool,
) -> None:
    """Alert history, newest first, with delivery state per channel: pending, sent, or dead
    (gave up) with the last error and the attempts made. `marsad alerts retry ID` re-queues."""
    if ctx.invoked_subcommand is not None:
        return
    since_iso = _when("--since", since)
    until_iso = _when("--until", until, end_of_day=True)
    _, db = _open_existing(config_path, db_path)
    rows = queries.list_alerts(
        db,
        status=status,
        rule=rule,
        channel=channel,
        since=since_iso,
        until=until_iso,
        limit=limit,
    )
    if as_json:
        emit_json(rows)
    else:
        print_table(rows, _ALERT_COLUMNS, title="Alerts, newest first", empty="no alerts")


@alerts_command.command("retry")
@click.argument("alert_id", type=int)
@store_options
@json_option
def alerts_retry_command(
    alert_id: int, config_path: str | None, db_path: str | None, as_json: bool
) -> None:
    """Re-queue alert ALERT_ID (dead or pending) for an immediate delivery attempt."""
    _, db = _open_existing(config_path, db_path)
    alert = queries.get_alert(db, alert_id)
    if alert is None:
        fail(f"no alert {alert_id}")
    if alert["status"] == "sent":
        fail(f"alert {alert_id} was already sent at {alert['sent_at']}; nothing to retry")
    with db.atomic():
        requeued = requeue_alert(db, alert_id, utc_now())
    if not requeued:
        fail(f"alert {alert_id} could not be re-queued")
    if as_json:
        emit_json({"alert_id": alert_id, "status": "pending", "previous_status": alert["status"]})
    else:
        click.echo(
            f"alert {alert_id} ({alert['rule']} → {alert['channel']}) re-queued; was "
            f"{alert['status']}; the delivery job will send it on its next pass"
        )


# --- marsad feeds / stats / schema -------------------------------------------------------------

_FEED_COLUMNS = [
    ("name", "feed"),
    ("state", "state"),
    ("last_fetch_at", "last fetch"),
    ("last_new_item_at", "last new item"),
    ("items_per_day", "items/day"),
    ("consecutive_failures", "failures"),
    ("last_error", "last error"),
    ("next_poll_at", "next poll"),
]


@click.command("feeds")
@click.option("--failing", is_flag=True, help="Only feeds whose last fetch failed.")
@store_options
@json_option
def feeds_command(
    failing: bool, config_path: str | None, db_path: str | None, as_json: bool
) -> None:
    """Every feed's health: last fetch, last new item, items per day, consecutive failures and
    the last error, next poll. Failing feeds first."""
    _, db = _open_existing(config_path, db_path)
    rows = queries.list_feed_health(db, failing_only=failing)
    if as_json:
        emit_json(rows)
    else:
        print_table(rows, _FEED_COLUMNS, title="Feeds", empty="no feeds")


@click.command("stats")
@click.option("--days", type=click.IntRange(1, 3650), default=14, show_default=True)
@store_options
@json_option
def stats_command(days: int, config_path: str | None, db_path: str | None, as_json: bool) -> None:
    """Totals over the store, and per-day counts (UTC) of articles, copies and alerts."""
    _, db = _open_existing(config_path, db_path)
    totals = queries.store_totals(db)
    start = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    per_day = queries.counts_per_day(db, to_iso(start - timedelta(days=days - 1)))
    if as_json:
        emit_json({"totals": totals, "per_day": per_day})
        return
    print_fields(totals, list(totals), title="Totals")
    print_table(
        per_day,
        [
            ("day", "day"),
            ("articles", "articles"),
            ("copies", "copies"),
            ("alerts", "alerts"),
            ("alerts_sent", "sent"),
        ],
        title=f"Per day, last {days} days",
        empty="nothing stored in that period",
    )


@click.command("schema")
def schema_command() -> None:
    """Print the store's schema as Markdown (the source of docs/schema.md)."""
    db = open_store(":memory:")
    click.echo(schema_markdown(db), nl=False)
    db.close()


# --- marsad inspect ------------------------------------------------------------------------


@click.command("inspect")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", type=click.IntRange(0, 65535), default=8001, show_default=True)
@store_options
def inspect_command(host: str, port: int, config_path: str | None, db_path: str | None) -> None:
    """Browse the store in Datasette, read-only, on http://HOST:PORT/.

    Tables and columns are described, foreign keys labelled, the search box is Arabic-aware and
    canned queries answer the usual questions (latest alerts, stories with the most outlets,
    failing feeds, search articles). Safe while `marsad run` writes to the store.
    """
    config, db = _open_existing(config_path, db_path)
    # Opening applied any pending migration (the views); Datasette gets its own connections.
    db.close()
    path = config.store_path.resolve()
    click.echo(f"marsad inspect: serving {path} read-only on http://{host}:{port}/", err=True)
    serve_store(path, host=host, port=port)


def build_datasette(path: Path) -> Any:
    """A Datasette over the store at ``path``, with marsad's metadata and plugin."""
    from datasette.app import Datasette
    from datasette.plugins import pm

    from marsad.inspect import plugin as inspect_plugin

    if not pm.is_registered(inspect_plugin):
        pm.register(inspect_plugin, name="marsad")
    # Not --immutable (-i): immutable=1 tells SQLite the file never changes, so it skips locks
    # and the WAL and would show a stale or torn view of a store the daemon is writing. A
    # mutable database in Datasette reads through file:...?mode=ro connections, which see
    # each committed write; the plugin adds PRAGMA query_only to any connection Datasette
    # opens on it, so nothing served here can write.
    return Datasette(
        [str(path)],
        metadata=datasette_metadata(path.stem),
        settings={"truncate_cells_html": 300, "facet_time_limit_ms": 400},
        cors=False,
    )


def serve_store(path: Path, *, host: str, port: int) -> None:
    import uvicorn

    datasette = build_datasette(path)
    asyncio.run(datasette.invoke_startup())
    uvicorn.run(datasette.app(), host=host, port=port, log_level="warning", lifespan="on")
