"""``marsad feeds``: every feed's health; ``feeds entries``: what is not stored and why;
``feeds reset NAME``: start a feed afresh."""

from __future__ import annotations

import click

from marsad.cli.common import emit_json, fail, json_option, open_existing_store, store_options
from marsad.cli.output import print_table
from marsad.storage.feeds import feed_entry_rows, feed_health, reset_feed
from marsad.storage.transactions import write_transaction

_FEED_COLUMNS = [
    ("name", "feed"),
    ("state", "state"),
    ("last_fetch_at", "last fetch"),
    ("last_new_item_at", "last new item"),
    ("items_per_day", "items/day"),
    ("consecutive_failures", "failures"),
    ("entries_retrying", "retrying"),
    ("entries_skipped", "skipped"),
    ("entries_gave_up", "gave up"),
    ("last_error", "last error"),
    ("next_poll_at", "next poll"),
]
_ENTRY_COLUMNS = [
    ("feed", "feed"),
    ("state", "state"),
    ("attempts", "attempts"),
    ("url", "url"),
    ("reason", "reason"),
    ("first_seen_at", "first seen"),
    ("last_attempt_at", "last attempt"),
]


@click.group("feeds", invoke_without_command=True)
@click.option(
    "--failing",
    is_flag=True,
    help="Only feeds that need attention: failing, or with entries not stored.",
)
@store_options
@json_option
@click.pass_context
def feeds_command(
    ctx: click.Context, failing: bool, config_path: str | None, db_path: str | None, as_json: bool
) -> None:
    """Every feed's health: state, last fetch, last new item, items per day, consecutive
    failures, entries retrying / skipped / given up, the last error, next poll. Failing feeds
    first, retired ones (no longer in the config) last.

    A feed is "ok" only when its fetches work and every entry it lists is stored (or skipped
    with a reason); "incomplete" when some are still retrying or were given up.
    """
    if ctx.invoked_subcommand is not None:
        return
    _, db = open_existing_store(config_path, db_path)
    try:
        rows = feed_health(db, needing_attention=failing)
    finally:
        db.close()
    if as_json:
        emit_json(rows)
    else:
        print_table(rows, _FEED_COLUMNS, title="Feeds", empty="no feeds")


@feeds_command.command("entries")
@click.argument("name", required=False)
@store_options
@json_option
def entries_command(
    name: str | None, config_path: str | None, db_path: str | None, as_json: bool
) -> None:
    """The entries feeds list that are not stored, and why: retrying (tried again on later
    polls), skipped (cannot be used) or given up. All feeds, or the feed NAME."""
    _, db = open_existing_store(config_path, db_path)
    try:
        rows = feed_entry_rows(db, name)
    finally:
        db.close()
    if as_json:
        emit_json(rows)
    else:
        print_table(rows, _ENTRY_COLUMNS, title="Feed entries not stored", empty="none")


@feeds_command.command("reset")
@click.argument("name")
@store_options
def reset_command(name: str, config_path: str | None, db_path: str | None) -> None:
    """Start the feed NAME afresh: forget its failures and back-off (it is fetched on the next
    poll), its validators and body hash (fetched in full) and its entries not stored (all
    tried again). Its articles stay."""
    _, db = open_existing_store(config_path, db_path)
    try:
        with write_transaction(db):
            found = reset_feed(db, name)
    finally:
        db.close()
    if not found:
        fail(f"no feed named {name!r} in the store (`marsad feeds` lists them)", code=1)
    click.echo(f"feed {name!r} reset: fetched in full on its next poll")
