"""``marsad import``, ``marsad match`` and ``marsad export``."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path
from typing import TextIO

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
from marsad.ingest.importer import (
    IMPORT_BATCH,
    ImportCounts,
    ImportProgress,
    ImportStopped,
    describe_progress,
    import_file,
)
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

    from marsad.scheduler.crosslingual import after_import

    rules = compile_rules(config.rules, alerts=config.alerts)

    try:
        with import_progress(file) as on_progress:
            counts = import_file(
                db,
                file,
                rules,
                workers=workers,
                on_bad_line=report,
                hold_alerts=NO_ALERTS_REASON if no_alerts else None,
                batch=batch,
                on_progress=on_progress,
                # Cross-lingual linking of what was imported (bounded; the daemon or
                # `marsad link` checks what is left).
                after=after_import(config.crosslingual, None if no_alerts else rules),
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


# How often an import whose stderr is not a terminal (a log, cron's mail) says how far it is.
PROGRESS_LINE_SECONDS = 10.0


@contextmanager
def import_progress(
    file: Path, *, stream: TextIO | None = None, every: float = PROGRESS_LINE_SECONDS
) -> Iterator[Callable[[ImportProgress], None]]:
    """Where an import's progress goes, on stderr: a bar (rich) on a terminal, else a line
    every ``every`` seconds."""
    out = stream or sys.stderr
    if out.isatty():
        with _ProgressBar(file, out) as bar:
            yield bar.update
    else:
        yield ProgressLines(out, every).update


class ProgressLines:
    """A line (:func:`describe_progress`) at most every ``every`` seconds. Time is injected."""

    def __init__(
        self, out: TextIO, every: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.out = out
        self.every = every
        self.clock = clock
        self.started = clock()
        self.last = self.started

    def update(self, progress: ImportProgress) -> None:
        now = self.clock()
        if now - self.last >= self.every:
            self.last = now
            print(describe_progress(progress, now - self.started), file=self.out, flush=True)


class _ProgressBar:
    """rich's progress bar over the file's bytes (over its lines, for a pipe)."""

    def __init__(self, file: Path, out: TextIO) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            Progress,
            TaskProgressColumn,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self.progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            TaskProgressColumn(),
            TextColumn("{task.fields[counts]}"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=Console(file=out),
        )
        self.task = self.progress.add_task(f"import {file.name}", total=None, counts="")
        self._shown = 0.0
        self._last: ImportProgress | None = None

    def __enter__(self) -> _ProgressBar:
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._last is not None:
            self._show(self._last)
        self.progress.stop()

    def update(self, progress: ImportProgress) -> None:
        self._last = progress
        now = time.monotonic()
        if now - self._shown < 0.1:  # rich redraws on its own timer; this only feeds it
            return
        self._shown = now
        self._show(progress)

    def _show(self, progress: ImportProgress) -> None:
        counts = f"{progress.stored:,} stored, {progress.known:,} held, {progress.bad:,} bad"
        if progress.total_bytes and progress.read_bytes is not None:
            self.progress.update(
                self.task,
                completed=progress.read_bytes,
                total=progress.total_bytes,
                counts=counts,
            )
        else:
            self.progress.update(self.task, completed=progress.line, counts=counts)


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
