"""``marsad run``, ``marsad crawl`` and ``marsad demo``."""

from __future__ import annotations

from pathlib import Path

import click

from marsad.cli.common import (
    emit_json,
    fail,
    json_option,
    open_config_store,
    refuse_unset_secrets,
    resolve_config,
    store_options,
)
from marsad.config import Config

_LOG_LEVELS = click.Choice(["DEBUG", "INFO", "WARNING", "ERROR"], case_sensitive=False)
_log_level_option = click.option("--log-level", type=_LOG_LEVELS, default="INFO", show_default=True)
# The formats of marsad.scheduler.logs.LOG_FORMATS (not imported here: it imports the formatter).
_log_format_option = click.option(
    "--log-format",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="text: one line a record, for people; json: one JSON object a line "
    "(time, level, logger, message), for a log pipeline. Times are UTC, ISO 8601.",
)


def _feeds_config(
    config_path: str | None,
    db_path: str | None,
    log_level: str,
    log_format: str,
    purpose: str,
    *,
    sends: bool | None = None,
) -> Config:
    """The config of a command that crawls, which needs feeds; logging set up for it."""
    from marsad.scheduler.logs import configure_logging

    config = resolve_config(config_path, db_path, sends=sends)
    if not config.feeds:
        fail(f"no [[feeds]] in the config: nothing to {purpose} (see marsad.example.toml)")
    configure_logging(log_level, log_format)
    return config


@click.command("run")
@click.option(
    "--role",
    type=click.Choice(["all", "scheduler", "fetcher", "writer"]),
    default="all",
    show_default=True,
    help="all: the whole daemon in this process (no Redis). scheduler, fetcher, writer: one "
    "role of a cluster on the Redis of [cluster] redis_url (see the README's deployment "
    "sketch): one writer (beside the store), one scheduler (beside the store, read only), "
    "any number of fetchers (anywhere; no store).",
)
@click.option(
    "--id",
    "ident",
    help="This fetcher's or scheduler's id in the cluster (default: host and process id).",
)
@store_options
@_log_level_option
@_log_format_option
def run_command(
    role: str,
    ident: str | None,
    config_path: str | None,
    db_path: str | None,
    log_level: str,
    log_format: str,
) -> None:
    """Run the daemon: poll every feed on its schedule, store, match and deliver alerts, and
    prune what [retention] says is old once a day.

    SIGTERM or SIGINT stops scheduling and lets in-flight crawls and deliveries finish, then
    exits 0; a second signal forces an immediate exit (alerts not yet sent stay queued).

    SIGHUP re-reads the config file (with the same --db): new, changed and removed feeds,
    rules, channels, [delivery], [alerts] and [retention] take effect without a restart;
    [store], [crawl] and [http] need one (the log says so). A config that does not load is reported
    in one line and the daemon goes on with the one it has.

    \b
    The daily prune's schedule (seconds; for tests and trials):
      MARSAD_PRUNE_FIRST  after the start (default 3600)
      MARSAD_PRUNE_EVERY  between two prunes (default 86400)
    """
    config = _feeds_config(config_path, db_path, log_level, log_format, "watch", sends=False)
    if role != "all" and config.cluster is None:
        where = f" in {config.source_path}" if config.source_path else ""
        fail(f"--role {role} needs a [cluster] section with redis_url{where}")
    # A fetcher has no store and sends nothing; the scheduler only reads the writer's store.
    if role in ("all", "writer"):
        refuse_unset_secrets(config)
        open_config_store(config).close()
    if role != "all":
        from marsad.scheduler.cluster.run import run_role

        raise SystemExit(run_role(config, role, ident=ident))
    from marsad.scheduler.daemon import run_daemon

    raise SystemExit(run_daemon(config, db_override=db_path))


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
@_log_level_option
@_log_format_option
def crawl_command(
    force: bool,
    config_path: str | None,
    db_path: str | None,
    as_json: bool,
    log_level: str,
    log_format: str,
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

    config = _feeds_config(config_path, db_path, log_level, log_format, "crawl")
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
