"""Looking inside the store: ``marsad search|stories|show|alerts|stats|schema|inspect``.

Each command is a few lines over :mod:`marsad.storage.inspection` or :mod:`marsad.storage.queries`:
a rich table for people (:mod:`marsad.cli.output`) and, with ``--json``, plain JSON for scripts.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import click

from marsad.alerts.digest import digest_period_label
from marsad.cli.common import (
    emit_json,
    fail,
    json_option,
    open_existing_store,
    store_options,
)
from marsad.cli.output import (
    ALERT_COLUMNS,
    HEALTH_ALERT_COLUMNS,
    SUPPRESSION_COLUMNS,
    print_fields,
    print_search,
    print_show,
    print_table,
)
from marsad.storage import inspection, queries
from marsad.storage.suppressions import list_suppressions
from marsad.times import parse_when, utc_now

_SINCE = "today, 7d, 2024-05-01, ISO time"


def _when(option: str, text: str | None, *, end_of_day: bool = False) -> str | None:
    if text is None:
        return None
    try:
        return parse_when(text, datetime.now(UTC), end_of_day=end_of_day)
    except ValueError as exc:
        fail(f"{option}: {exc}")


@click.command("search")
@click.argument("query")
@click.option("--source", help="Only articles from this outlet (exact name).")
@click.option("--since", help=f"Published at or after: {_SINCE}.")
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
    «الانْسِحَاب». An Arabic word finds every form a watch rule with that keyword matches
    (مسجد finds المساجد, انسحاب finds انسحبت and ينسحبون); exact:word finds the word as
    written. Words must all occur; "a phrase" (or «a phrase») must occur as written; word*
    matches a prefix; OR between two terms matches either.
    """
    since_iso = _when("--since", since)
    until_iso = _when("--until", until, end_of_day=True)
    _, db = open_existing_store(config_path, db_path)
    try:
        results = inspection.search(
            db, query, source=source, since=since_iso, until=until_iso, rule=rule, limit=limit
        )
    except inspection.InspectionError as exc:
        fail(f"search: {exc}")
    if as_json:
        emit_json(results)
    else:
        print_search(results, query)


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
@click.option("--since", help=f"Last seen at or after: {_SINCE}.")
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
    _, db = open_existing_store(config_path, db_path)
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
    _, db = open_existing_store(config_path, db_path)
    try:
        record = inspection.show(db, target, is_story=is_story)
    except inspection.InspectionError as exc:
        fail(str(exc))
    if as_json:
        emit_json(record)
    else:
        print_show(record)
        article = record["article"]
        if article and article.get("pruned_at"):
            click.echo(
                f"The body of article {article['id']} was pruned on {article['pruned_at']} "
                "([retention] bodies): its title, URL, story, matches and alerts are kept."
            )


@click.group("alerts", invoke_without_command=True)
@click.option(
    "--status",
    type=click.Choice(["pending", "held", "sent", "dead"]),
    help="Only alerts in this state (held: waiting for their channel's digest).",
)
@click.option(
    "--suppressed",
    is_flag=True,
    help="The alerts held back instead: rules that fired on an article older than [alerts] "
    "window, or imported with --no-alerts, and why.",
)
@click.option(
    "--health",
    is_flag=True,
    help="The health alerts instead: feeds failing, silent or recovered, channels failing, "
    "dead letters ([health] channels).",
)
@click.option("--rule", help="Only alerts of this watch rule.")
@click.option("--channel", help="Only alerts for this channel.")
@click.option("--since", help=f"Queued at or after: {_SINCE}.")
@click.option("--until", help="Queued before (a date includes that whole day).")
@click.option("--limit", type=click.IntRange(1, 10000), default=50, show_default=True)
@store_options
@json_option
@click.pass_context
def alerts_command(
    ctx: click.Context,
    status: str | None,
    suppressed: bool,
    health: bool,
    rule: str | None,
    channel: str | None,
    since: str | None,
    until: str | None,
    limit: int,
    config_path: str | None,
    db_path: str | None,
    as_json: bool,
) -> None:
    """Alert history, newest first, with delivery state per channel: pending, held for the
    channel's digest, sent (alone or in digest N), or dead (gave up) with the last error and
    the attempts made; then the digests queued (channel, period, stories and alerts carried).
    `marsad alerts retry ID` re-queues. With --suppressed, the alerts that were held back and
    why; with --health, the source- and delivery-health alerts."""
    if ctx.invoked_subcommand is not None:
        return
    since_iso = _when("--since", since)
    until_iso = _when("--until", until, end_of_day=True)
    if suppressed and status:
        fail("--suppressed lists alerts never queued: they have no --status")
    if health and (suppressed or rule):
        fail("--health lists health alerts: they have no rule and are never held back")
    _, db = open_existing_store(config_path, db_path)
    if health:
        told = queries.list_health_alerts(
            db, status=status, channel=channel, since=since_iso, until=until_iso, limit=limit
        )
        if as_json:
            emit_json(told)
        else:
            print_table(
                told,
                HEALTH_ALERT_COLUMNS,
                title="Health alerts, newest first",
                empty="no health alert",
            )
        return
    if suppressed:
        held = list_suppressions(
            db, rule=rule, channel=channel, since=since_iso, until=until_iso, limit=limit
        )
        if as_json:
            emit_json(held)
        else:
            print_table(
                held,
                SUPPRESSION_COLUMNS,
                title="Alerts held back, newest first",
                empty="no alert was held back",
            )
        return
    # Article alerts as the alert_deliveries view has them (a sqlite3 user reads the same;
    # digest_id says which digest carries one), digests marked by their kind.
    rows = [
        row
        for row in queries.list_alerts(
            db,
            status=status,
            rule=rule,
            channel=channel,
            since=since_iso,
            until=until_iso,
            limit=limit,
        )
    ]
    # A digest is no one rule's: --rule leaves them out.
    digests = (
        []
        if rule is not None
        else [
            {"kind": "digest", **row, "period": _period(row)}
            for row in queries.list_digests(
                db, status=status, channel=channel, since=since_iso, until=until_iso, limit=limit
            )
        ]
    )
    newest = sorted(
        [*rows, *digests], key=lambda r: (r["created_at"], r["alert_id"]), reverse=True
    )[:limit]
    if as_json:
        emit_json(newest)
        return
    shown = [{**row, "delivery": _delivery(row)} for row in newest if "kind" not in row]
    shown_digests = [row for row in newest if row.get("kind") == "digest"]
    print_table(
        shown,
        _ALERT_COLUMNS,
        title="Alerts, newest first",
        empty="no article alerts" if shown_digests else "no alerts",
    )
    if shown_digests:
        print_table(shown_digests, _DIGEST_COLUMNS, title="Digests, newest first")


# The alerts table, with how each went out (or will) when its channel sends digests.
_ALERT_COLUMNS = [*ALERT_COLUMNS[:5], ("delivery", "delivery"), *ALERT_COLUMNS[5:]]
_DIGEST_COLUMNS = [
    ("alert_id", "id"),
    ("created_at", "queued"),
    ("channel", "channel"),
    ("digest_id", "digest"),
    ("period", "period"),
    ("story_count", "stories"),
    ("alert_count", "alerts"),
    ("status", "status"),
    ("attempts", "attempts"),
    ("last_error", "last error"),
]


def _delivery(row: dict[str, Any]) -> str | None:
    """``in digest N`` for an alert carried by a digest (sent in it, or to be), ``held for the
    next digest`` for one waiting for its period to end; None for an alert sent alone."""
    if row.get("digest_id") is not None:
        return f"in digest {row['digest_id']}"
    if row.get("status") == "held":
        return "held for the next digest"
    return None


def _period(row: dict[str, Any]) -> str:
    """The digest's period as the schedule's zone reads its clocks."""
    period = {"start": row["period_start"], "end": row["period_end"]}
    return digest_period_label({"schedule": row["schedule"], "period": period})


@alerts_command.command("retry")
@click.argument("alert_id", type=int)
@store_options
@json_option
def alerts_retry_command(
    alert_id: int, config_path: str | None, db_path: str | None, as_json: bool
) -> None:
    """Re-queue alert ALERT_ID (dead or pending) for an immediate delivery attempt."""
    _, db = open_existing_store(config_path, db_path)
    try:
        alert = inspection.retry_alert(db, alert_id, utc_now())
    except inspection.InspectionError as exc:
        fail(str(exc))
    if as_json:
        emit_json({"alert_id": alert_id, "status": "pending", "previous_status": alert["status"]})
    else:
        click.echo(
            f"alert {alert_id} ({alert['rule']} → {alert['channel']}) re-queued; was "
            f"{alert['status']}; the delivery job will send it on its next pass"
        )


_DAY_COLUMNS = [
    ("day", "day"),
    ("articles", "articles"),
    ("copies", "copies"),
    ("alerts", "alerts"),
    ("alerts_sent", "sent"),
]


@click.command("stats")
@click.option("--days", type=click.IntRange(1, 3650), default=14, show_default=True)
@store_options
@json_option
def stats_command(days: int, config_path: str | None, db_path: str | None, as_json: bool) -> None:
    """Totals over the store, and per-day counts (UTC) of articles, copies and alerts."""
    _, db = open_existing_store(config_path, db_path)
    result = inspection.stats(db, days=days, now=datetime.now(UTC))
    if as_json:
        emit_json(result)
        return
    print_fields(result["totals"], list(result["totals"]), title="Totals")
    print_table(
        result["per_day"],
        _DAY_COLUMNS,
        title=f"Per day, last {days} days",
        empty="nothing stored in that period",
    )


@click.command("schema")
def schema_command() -> None:
    """Print the store's schema as Markdown (the source of docs/schema.md)."""
    from marsad.inspect.metadata import schema_markdown
    from marsad.storage.db import open_store

    db = open_store(":memory:")
    click.echo(schema_markdown(db), nl=False)
    db.close()


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
    from marsad.inspect.server import serve_store

    config, db = open_existing_store(config_path, db_path)
    # Opening applied any pending migration (the views); Datasette gets its own connections.
    db.close()
    path = config.store_path.resolve()
    click.echo(f"marsad inspect: serving {path} read-only on http://{host}:{port}/", err=True)
    serve_store(path, host=host, port=port)
