"""``marsad feeds``: every feed's health."""

from __future__ import annotations

import click

from marsad.cli.common import emit_json, json_option, open_existing_store, store_options
from marsad.cli.output import print_table
from marsad.storage import queries

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
    _, db = open_existing_store(config_path, db_path)
    rows = queries.list_feed_health(db, failing_only=failing)
    if as_json:
        emit_json(rows)
    else:
        print_table(rows, _FEED_COLUMNS, title="Feeds", empty="no feeds")
