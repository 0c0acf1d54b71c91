"""What every ``marsad`` command shares: ``--config``, ``--db``, ``--json`` and error reporting."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import click
from sqlite_utils import Database

from marsad.config import Config, ConfigError, config_from_document, load_config
from marsad.storage.db import open_store

F = TypeVar("F", bound=Callable[..., Any])

DEFAULT_CONFIG = "marsad.toml"


def store_options(func: F) -> F:
    """Add ``--config`` and ``--db`` to a command."""
    func = click.option(
        "--db",
        "db_path",
        type=click.Path(dir_okay=False),
        help="SQLite store to use (overrides [store] path of the config).",
    )(func)
    func = click.option(
        "--config",
        "config_path",
        type=click.Path(dir_okay=False),
        envvar="MARSAD_CONFIG",
        help=f"Config file (default: ./{DEFAULT_CONFIG} if present; env MARSAD_CONFIG).",
    )(func)
    return func


def json_option(func: F) -> F:
    return click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")(func)


def resolve_config(config_path: str | None, db_path: str | None) -> Config:
    """Load the named config, or ./marsad.toml, or an empty one; exit with a clear message."""
    try:
        if config_path:
            return load_config(config_path, db_override=db_path)
        if Path(DEFAULT_CONFIG).exists():
            return load_config(DEFAULT_CONFIG, db_override=db_path)
        return config_from_document({}, db_override=db_path or "marsad.db")
    except ConfigError as exc:
        fail(f"config error: {exc}")


def open_config_store(config: Config) -> Database:
    try:
        return open_store(config.store_path)
    except Exception as exc:  # sqlite3 errors carry no path: add it
        fail(f"cannot open store {config.store_path}: {exc}")


def open_existing_store(config_path: str | None, db_path: str | None) -> tuple[Config, Database]:
    """Open the configured store; a reading command must not create an empty one."""
    config = resolve_config(config_path, db_path)
    if not config.store_path.exists():
        fail(f"no store at {config.store_path}: run `marsad import` or `marsad run` first")
    return config, open_config_store(config)


def fail(message: str, code: int = 2) -> NoReturn:
    click.echo(f"marsad: {message}", err=True)
    sys.exit(code)


def emit_json(value: Any) -> None:
    click.echo(json.dumps(value, ensure_ascii=False))


def stdout_is_terminal() -> bool:
    return sys.stdout.isatty() and os.environ.get("TERM") != "dumb"
