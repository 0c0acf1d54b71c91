"""``marsad import``, ``marsad match`` and ``marsad export``."""

from __future__ import annotations

import os
import sys
from dataclasses import asdict
from pathlib import Path

import click

from marsad.alerts.match_lines import SkippedLine, match_lines
from marsad.alerts.matching import compile_rules
from marsad.alerts.rules import RuleError, load_rules_file
from marsad.cli.common import (
    emit_json,
    fail,
    json_option,
    open_config_store,
    report_warnings,
    resolve_config,
    store_options,
)
from marsad.ingest.importer import IMPORT_BATCH, ImportCounts, ImportStopped, import_file
from marsad.ingest.jsonl import LineError
from marsad.storage.export import WRITERS, export_articles
from marsad.storage.transactions import StoreBusy

NO_ALERTS_REASON = "imported with --no-alerts"


@click.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--workers",
    type=click.IntRange(min=0, max=64),
    default=lambda: min(2, os.cpu_count() or 1) - 1,
    show_default="1 on a machine with more than one core, else 0",
    help="Processes that normalise and fingerprint articles ahead of the writer (0: none).",
)
@click.option(
    "--no-alerts",
    is_flag=True,
    help="Queue no alert: an archive is history. Matches are still stored, and the alerts "
    "held back are listed by `marsad alerts --suppressed`.",
)
@click.option(
    "--batch",
    type=click.IntRange(min=1, max=100_000),
    default=IMPORT_BATCH,
    show_default=True,
    help="Articles per commit: a killed import keeps every whole batch it committed.",
)
@store_options
@json_option
def import_command(
    file: Path,
    workers: int,
    no_alerts: bool,
    batch: int,
    config_path: str | None,
    db_path: str | None,
    as_json: bool,
) -> None:
    """Ingest articles from FILE (.jsonl or .jsonl.gz) without fetching.

    One JSON object a line with url, source, title, text, published (ISO-8601 or RFC 2822).
    Each goes through the same normalise → dedup → store → match → alert path as a crawled
    article; alerts are raised only for articles published within [alerts] window (3 days by
    default). Bad lines are reported with their line number and skipped.
    """
    config = resolve_config(config_path, db_path)
    report_warnings()
    db = open_config_store(config)

    def report(error: LineError) -> None:
        click.echo(f"{file}:{error.line}: skipped: {error.message}", err=True)

    try:
        counts = import_file(
            db,
            file,
            compile_rules(config.rules, alerts=config.alerts),
            workers=workers,
            on_bad_line=report,
            hold_alerts=NO_ALERTS_REASON if no_alerts else None,
            batch=batch,
        )
    except ImportStopped as stopped:
        fail(f"{file}:{stopped.line}: {_why_stopped(stopped)}; {_committed(stopped.counts)}")
    if as_json:
        emit_json(asdict(counts))
    else:
        held = f", {counts.suppressed} held back" if counts.suppressed else ""
        click.echo(
            f"imported {counts.new} new, {counts.copy} copies, {counts.known} already "
            f"stored, {counts.bad} bad lines; {counts.alerts} alerts queued{held} "
            f"→ {config.store_path}"
        )
        if counts.suppressed:
            click.echo("  the alerts held back: marsad alerts --suppressed", err=True)


def _why_stopped(stopped: ImportStopped) -> str:
    if isinstance(stopped.cause, StoreBusy):
        return f"import stopped: {stopped.cause}"
    if isinstance(stopped.cause, OSError | EOFError):
        return f"cannot read: {stopped.cause}"
    return f"import stopped: the store failed: {stopped.cause}"


def _committed(counts: ImportCounts) -> str:
    return (
        f"{counts.stored} articles stored and {counts.known} already held were committed before "
        "(run the import again to go on: the articles stored are recognised)"
    )


@click.command("match")
@click.option(
    "--rules",
    "rules_file",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="TOML file with [[rules]] tables (a full marsad.toml is accepted too).",
)
def match_command(rules_file: Path) -> None:
    """Match rules against JSON lines on stdin, without a store.

    Reads {"id", "title", "text"} per line; writes one line per input:
    {"id", "matches": [{"rule", "keyword", "field", "start", "end", "surface"}]}.
    Offsets are character offsets into the original title or text.
    """
    try:
        index = compile_rules(load_rules_file(rules_file))
    except RuleError as exc:
        fail(str(exc))
    for result in match_lines(index, sys.stdin):
        if isinstance(result, SkippedLine):
            click.echo(f"stdin:{result.line}: skipped: {result.reason}", err=True)
        else:
            emit_json(result)


@click.command("export")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(sorted(WRITERS)),
    default="jsonl",
    show_default=True,
    help="jsonl: one JSON object a line; csv: UTF-8 with a BOM, for spreadsheets.",
)
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write here instead of stdout.",
)
@store_options
def export_command(
    fmt: str, output: Path | None, config_path: str | None, db_path: str | None
) -> None:
    """Write every stored article, oldest first: url, title, text, source, published, story_id,
    duplicate_of (empty for an original) and more."""
    config = resolve_config(config_path, db_path)
    db = open_config_store(config)
    # newline="": the csv writer ends its lines itself.
    target = output.open("w", encoding="utf-8", newline="") if output else sys.stdout
    try:
        export_articles(db, target, fmt)
    finally:
        if output:
            target.close()
