"""``marsad deliver``: one delivery pass."""

from __future__ import annotations

import click

from marsad.cli.common import resolve_config, store_options


@click.command("deliver")
@store_options
def deliver_command(config_path: str | None, db_path: str | None) -> None:
    """Send the alerts that are due now (one pass), then exit."""
    import asyncio

    from marsad.alerts.delivery import deliver_due
    from marsad.cli.common import open_config_store

    config = resolve_config(config_path, db_path)
    db = open_config_store(config)
    report = asyncio.run(deliver_due(db, config.channels, config.delivery))
    click.echo(f"{report.sent} sent, {report.retried} to retry, {report.dead} dead")
    for error in report.errors:
        click.echo(f"  {error}", err=True)
