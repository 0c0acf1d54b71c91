"""``marsad deliver``: send every alert that is due, then say what is left."""

from __future__ import annotations

from dataclasses import asdict
from typing import TYPE_CHECKING

import click

from marsad.cli.common import emit_json, json_option, resolve_config, store_options

if TYPE_CHECKING:
    from marsad.alerts.delivery import DrainReport
    from marsad.storage.outbox import Backlog

INTERRUPTED_EXIT_CODE = 130


@click.command("deliver")
@store_options
@click.option(
    "--limit",
    type=click.IntRange(min=1),
    default=None,
    help="Send at most this many alerts, then stop (default: every alert due).",
)
@json_option
def deliver_command(
    config_path: str | None, db_path: str | None, limit: int | None, as_json: bool
) -> None:
    """Send every alert that is due now, then exit.

    Alerts go out a few at a time per channel (webhooks over connections kept open for the
    run). Safe beside `marsad run` and other `marsad deliver` runs on one store: each alert is
    claimed before it is sent, so it is sent once. Alerts that come due while it runs (a retry
    whose time has come, an alert a crawl queued) are sent by a further pass, up to 100 passes;
    an alert waiting for a retry at a later time is left to a later run.

    It prints what it sent, then what is left: alerts still due (when --limit or the bound on
    passes stopped it), alerts held by another delivery (being sent by it now, or claimed by one
    that died: the next run after the time shown sends them) and alerts waiting for a retry (the
    next at the time shown). Failed attempts are listed on stderr.

    Channels with a digest first get the digest of each period that has ended (their alerts
    wait for it), sent with the rest.

    Exits 0, or 130 when stopped by SIGINT or SIGTERM: it claims nothing more and lets the sends
    in flight finish. A second signal stops at once; an alert cut off mid-send is sent again
    once its claim lapses.
    """
    import asyncio
    import os
    import signal
    from datetime import UTC, datetime

    from marsad.alerts.delivery import DRAIN_MAX_PASSES, open_delivery
    from marsad.cli.common import open_config_store
    from marsad.scheduler.digests import close_due_digests

    config = resolve_config(config_path, db_path)
    db = open_config_store(config)
    interrupted: list[str] = []

    async def deliver() -> DrainReport:
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()

        def on_signal(signum: int) -> None:
            interrupted.append(signal.Signals(signum).name)
            if len(interrupted) == 1:
                click.echo(
                    f"{interrupted[0]}: finishing the sends in flight (again to stop at once)",
                    err=True,
                )
                stop.set()
                return
            click.echo(
                f"{interrupted[-1]} again: stopping; alerts cut off mid-send are sent again once "
                "their claims lapse",
                err=True,
            )
            # At once: an e-mail send in its thread would otherwise be waited for.
            os._exit(INTERRUPTED_EXIT_CODE)

        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, on_signal, signum)
        # Periods of digest channels that have ended become digests first, sent in this run.
        close_due_digests(db, config.channels, datetime.now(UTC))
        async with open_delivery(config.channels, config.delivery) as session:
            # The first pass takes everything due at the start, as one pass always did; later
            # passes only what came due meanwhile.
            return await session.drain(
                db, limit=limit, pass_limit=None, max_passes=DRAIN_MAX_PASSES, stop=stop
            )

    try:
        report = asyncio.run(deliver())
    finally:
        db.close()
    if as_json:
        emit_json(
            {
                "sent": report.sent,
                "retried": report.retried,
                "dead": report.dead,
                "lost": report.lost,
                "passes": report.passes,
                "ended": report.ended,
                "left": asdict(report.backlog) if report.backlog is not None else None,
                "errors": report.errors,
                "interrupted": interrupted[0] if interrupted else None,
            }
        )
        if interrupted:
            raise SystemExit(INTERRUPTED_EXIT_CODE)
        return
    click.echo(f"{report.sent} sent, {report.retried} to retry, {report.dead} dead")
    if report.backlog is not None:
        click.echo(describe_backlog(report.backlog))
    for error in report.errors:
        click.echo(f"  {error}", err=True)
    if interrupted:
        raise SystemExit(INTERRUPTED_EXIT_CODE)


def describe_backlog(backlog: Backlog) -> str:
    """``left: 0 due, 3 held by another delivery (until …), 2 waiting for a retry (next at …)``"""
    held = f"{backlog.held} held by another delivery"
    if backlog.held:
        held += f" (until {backlog.held_until})"
    waiting = f"{backlog.waiting} waiting for a retry"
    if backlog.waiting:
        waiting += f" (next at {backlog.next_attempt_at})"
    return f"left: {backlog.due} due, {held}, {waiting}"
