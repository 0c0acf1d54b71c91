"""``marsad run``, ``marsad crawl`` and ``marsad demo``."""

from __future__ import annotations

from pathlib import Path

import click

from marsad.cli.common import emit_json, fail, json_option, resolve_config, store_options
from marsad.config import Config

_LOG_LEVELS = click.Choice(["DEBUG", "INFO", "WARNING", "ERROR"], case_sensitive=False)


def _feeds_config(
    config_path: str | None, db_path: str | None, log_level: str, purpose: str
) -> Config:
    """The config of a command that crawls, which needs feeds; logging set up for it."""
    from marsad.scheduler.logs import configure_logging

    config = resolve_config(config_path, db_path)
    if not config.feeds:
        fail(f"no [[feeds]] in the config: nothing to {purpose} (see marsad.example.toml)")
    configure_logging(log_level)
    return config


@click.command("run")
@store_options
@click.option("--log-level", type=_LOG_LEVELS, default="INFO", show_default=True)
def run_command(config_path: str | None, db_path: str | None, log_level: str) -> None:
    """Run the daemon: poll every feed on its schedule, store, match and deliver alerts.

    SIGTERM or SIGINT stops scheduling and lets in-flight crawls and deliveries finish, then
    exits 0; a second signal forces an immediate exit (alerts not yet sent stay queued).
    """
    from marsad.scheduler.daemon import run_daemon

    raise SystemExit(run_daemon(_feeds_config(config_path, db_path, log_level, "watch")))


@click.command("crawl")
@click.option(
    "--once",
    is_flag=True,
    expose_value=False,
    help="Fetch every feed once and exit (what crawl always does).",
)
@click.option("--force", is_flag=True, help="Fetch the feeds that back off after failures too.")
@store_options
@json_option
@click.option("--log-level", type=_LOG_LEVELS, default="INFO", show_default=True)
def crawl_command(
    force: bool, config_path: str | None, db_path: str | None, as_json: bool, log_level: str
) -> None:
    """Fetch every feed once, store and match the new articles, deliver alerts, exit.

    Feeds that back off after failures are left alone unless --force is given. Feeds no longer
    in the config are retired (`marsad feeds` lists them, never as failing).

    \b
    Exit codes, for cron jobs and scripts:
      0  every feed was fetched (changed or unchanged) and every entry it
         lists is stored, or skipped with a reason (`marsad feeds entries`)
      1  every feed that was due failed
      2  usage or configuration error: nothing was fetched
      3  partial: some feeds failed, or some entries could not be stored
         (they are tried again on the next run)
      4  nothing was fetched: every feed backs off after failures
         (`--force` fetches them anyway; `marsad feeds reset NAME`)
    """
    from dataclasses import asdict

    from marsad.scheduler.daemon import crawl_once

    config = _feeds_config(config_path, db_path, log_level, "crawl")
    on_report = (lambda report: emit_json(asdict(report))) if as_json else None
    raise SystemExit(crawl_once(config, force=force, on_report=on_report))


@click.command("demo")
@click.option(
    "--dir",
    "workdir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("marsad-demo"),
    show_default=True,
    help="Where the demo's fresh store is written.",
)
def demo_command(workdir: Path) -> None:
    """Run one full cycle offline: serve sample Arabic feeds on loopback, crawl them into a fresh
    store, match the example rules, deliver alerts to a local webhook sink and print them."""
    from marsad.demo.run import run_demo

    raise SystemExit(run_demo(workdir))
