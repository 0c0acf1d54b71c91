"""The ``marsad`` command line."""

from __future__ import annotations

import click

from marsad.cli.articles import export_command, import_command, match_command
from marsad.cli.common import global_options, refuse_misplaced_options
from marsad.cli.daemon import crawl_command, demo_command, run_command
from marsad.cli.deliver import deliver_command
from marsad.cli.feeds import feeds_command
from marsad.cli.inspect import (
    alerts_command,
    inspect_command,
    schema_command,
    search_command,
    show_command,
    stats_command,
    stories_command,
)
from marsad.cli.link import link_command
from marsad.cli.prune import prune_command
from marsad.cli.rules import rules_group
from marsad.cli.status import status_command


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="marsad")
@global_options
@click.pass_context
def cli(ctx: click.Context, config_path: str | None, db_path: str | None, as_json: bool) -> None:
    """marsad (مرصد): watch Arabic news feeds, store and de-duplicate articles, and alert on
    Arabic-aware watch rules.

    Start with `marsad demo` (offline), then write a marsad.toml (see marsad.example.toml) and
    run `marsad run`. --config, --db and --json go before the command or after it.
    """
    # The values are read by the command itself (marsad.cli.common.inherited).
    refuse_misplaced_options(ctx)


cli.add_command(import_command)
cli.add_command(match_command)
cli.add_command(export_command)
cli.add_command(run_command)
cli.add_command(crawl_command)
cli.add_command(deliver_command)
cli.add_command(demo_command)
# Further command modules register here, one line each.
cli.add_command(rules_group)
cli.add_command(search_command)
cli.add_command(stories_command)
cli.add_command(show_command)
cli.add_command(alerts_command)
cli.add_command(feeds_command)
cli.add_command(stats_command)
cli.add_command(schema_command)
cli.add_command(inspect_command)
cli.add_command(prune_command)
cli.add_command(status_command)
cli.add_command(link_command)


def main() -> None:
    cli()
