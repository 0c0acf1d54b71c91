"""What every ``marsad`` command shares: ``--config``, ``--db``, ``--json`` and error reporting."""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import click
from click.core import ParameterSource
from sqlite_utils import Database

from marsad.config import Config, ConfigError, config_from_document, load_config
from marsad.storage.db import open_store

F = TypeVar("F", bound=Callable[..., Any])

DEFAULT_CONFIG = "marsad.toml"
# The commands that send alerts. Each refuses to start while a channel's secret is unset (rather
# than start and let that channel's alerts wait, or die, later) and checks its store first, since
# the daemon opens the store itself. The commands that only read the store need no secret.
SENDING_COMMANDS = frozenset({"run", "crawl", "deliver"})


def store_options(func: F) -> F:
    """Add ``--config`` and ``--db`` to a command (given before the command, they apply too:
    ``marsad --db x.db search ...``)."""
    func = click.option(
        "--db",
        "db_path",
        # A directory is refused when the store is opened, in the one line every store error gets.
        type=click.Path(),
        callback=inherited,
        help="SQLite store to use (overrides [store] path of the config).",
    )(func)
    func = click.option(
        "--config",
        "config_path",
        type=click.Path(dir_okay=False),
        envvar="MARSAD_CONFIG",
        callback=inherited,
        help=f"Config file (default: ./{DEFAULT_CONFIG} if present; env MARSAD_CONFIG).",
    )(func)
    return func


def json_option(func: F) -> F:
    return click.option(
        "--json", "as_json", is_flag=True, callback=inherited, help="Print JSON for scripts."
    )(func)


# The options every command that has them also takes before its name (``marsad --db x search``),
# by parameter name.
GLOBAL_OPTIONS = {"config_path": "--config", "db_path": "--db", "as_json": "--json"}


def global_options(func: F) -> F:
    """``--config``, ``--db`` and ``--json`` on the ``marsad`` group, for the command after."""
    func = click.option(
        "--json", "as_json", is_flag=True, help="Print JSON (commands that report something)."
    )(func)
    func = click.option("--db", "db_path", type=click.Path(), help="SQLite store to use.")(func)
    func = click.option(
        "--config",
        "config_path",
        type=click.Path(dir_okay=False),
        help=f"Config file (default: ./{DEFAULT_CONFIG} if present; env MARSAD_CONFIG).",
    )(func)
    return func


def inherited(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
    """An option's value: as given after the command, else as given before it (to ``marsad`` or
    an enclosing group), else its own (environment variable, default)."""
    name = param.name
    if name is None or ctx.get_parameter_source(name) is ParameterSource.COMMANDLINE:
        return value
    parent = ctx.parent
    while parent is not None:
        if name in parent.params and parent.get_parameter_source(name) is (
            ParameterSource.COMMANDLINE
        ):
            return parent.params[name]
        parent = parent.parent
    return value


def refuse_misplaced_options(ctx: click.Context) -> None:
    """Exit with a usage error when an option given before the command does not apply to it
    (``marsad --db x demo``), rather than ignore it. A group's subcommands decide for
    themselves."""
    if ctx.invoked_subcommand is None or not isinstance(ctx.command, click.Group):
        return
    command = ctx.command.get_command(ctx, ctx.invoked_subcommand)
    if command is None or isinstance(command, click.Group):
        return
    accepted = {param.name for param in command.params}
    for name, flag in GLOBAL_OPTIONS.items():
        if ctx.get_parameter_source(name) is ParameterSource.COMMANDLINE and name not in accepted:
            ctx.fail(f"{flag} does not apply to `marsad {ctx.invoked_subcommand}`")


def resolve_config(
    config_path: str | None, db_path: str | None, *, sends: bool | None = None
) -> Config:
    """Load the named config, or ./marsad.toml, or an empty one; exit with a clear message.

    For a command that sends alerts (:data:`SENDING_COMMANDS`, or ``sends``: a cluster's fetcher
    and scheduler do not) also refuse an unset secret and a store that cannot be opened, before
    anything starts."""
    try:
        if config_path:
            config = load_config(config_path, db_override=db_path)
        elif Path(DEFAULT_CONFIG).exists():
            config = load_config(DEFAULT_CONFIG, db_override=db_path)
        else:
            config = config_from_document({}, db_override=db_path or "marsad.db")
    except ConfigError as exc:
        fail(f"config error: {exc}")
    if sends is None:
        sends = _running_command() in SENDING_COMMANDS
    if sends:
        refuse_unset_secrets(config)
        open_config_store(config).close()
    return config


def _running_command() -> str | None:
    context = click.get_current_context(silent=True)
    return context.command.name if context is not None else None


def refuse_unset_secrets(config: Config) -> None:
    """Exit naming the first channel whose secret variable was unset when the config was read:
    started anyway, its alerts could never be sent (never unsigned, never without login)."""
    where = f"{config.source_path}: " if config.source_path else ""
    for channel in config.channels.values():
        for variable in channel.unset_variables():
            fail(
                f"config error: {where}channels.{channel.name}: environment variable {variable} "
                "is not set; set it, or remove the channel, to start"
            )


def open_config_store(config: Config) -> Database:
    """The configured store, opened and up to date; one line naming the path if it cannot be."""
    path = config.store_path
    if path.is_dir():
        fail(f"cannot open store {path}: it is a directory (--db names the store's file)")
    try:
        return open_store(path)
    except sqlite3.DatabaseError as exc:
        fail(f"cannot open store {path}: {_store_problem(exc)}")
    except OSError as exc:
        fail(f"cannot open store {path}: {exc.strerror or exc}")


def _store_problem(exc: sqlite3.DatabaseError) -> str:
    """sqlite3's message, with what it means here; its errors carry no path."""
    message = str(exc)
    if "file is not a database" in message:
        return "not an SQLite database (is --db the right file?)"
    if "unable to open" in message or "readonly" in message or "read-only" in message:
        return f"{message} (can marsad create and write files there?)"
    return message


def open_existing_store(config_path: str | None, db_path: str | None) -> tuple[Config, Database]:
    """Open the configured store; a reading command must not create an empty one."""
    config = resolve_config(config_path, db_path)
    if not config.store_path.exists():
        fail(f"no store at {config.store_path}: run `marsad import` or `marsad run` first")
    return config, open_config_store(config)


def report_warnings() -> None:
    """Show marsad's warnings (such as waiting for another writer's lock) as ``marsad: …``
    lines on stderr, for a command that sets up no logging of its own."""
    logger = logging.getLogger("marsad")
    if not logger.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("marsad: %(message)s"))
        logger.addHandler(handler)
        logger.setLevel(logging.WARNING)


def fail(message: str, code: int = 2) -> NoReturn:
    click.echo(f"marsad: {message}", err=True)
    sys.exit(code)


def emit_json(value: Any) -> None:
    click.echo(json.dumps(value, ensure_ascii=False))


def stdout_is_terminal() -> bool:
    return sys.stdout.isatty() and os.environ.get("TERM") != "dumb"
