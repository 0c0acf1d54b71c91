"""``marsad import``, ``marsad match`` and ``marsad export``."""

from __future__ import annotations

import json
import os
import sys
import tomllib
from collections.abc import Iterator, Sequence
from itertools import islice
from pathlib import Path

import click
from sqlite_utils import Database

from marsad.alerts.matching import match_article
from marsad.alerts.rules import Rule, RuleError, parse_rules
from marsad.cli.common import (
    emit_json,
    fail,
    json_option,
    open_config_store,
    resolve_config,
    store_options,
)
from marsad.ingest import PreparedArticle, ingest_article
from marsad.ingest.ahead import prepared_ahead
from marsad.ingest.jsonl import LineError, open_jsonl, read_articles
from marsad.storage.articles import iter_articles_for_export
from marsad.storage.models import NewArticle

# Articles per commit. Each commit rewrites every page of the copy-detection index's small
# level it touched, so fewer, larger commits write less (at 1M stored, 2,000 gave 479 and
# 552/s against 384 and 514/s for 500, paired runs).
IMPORT_BATCH = 2_000


@click.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--workers",
    type=click.IntRange(min=0),
    default=lambda: min(2, os.cpu_count() or 1) - 1,
    show_default="1 on a machine with more than one core, else 0",
    help="Processes that normalise and fingerprint articles ahead of the writer (0: none).",
)
@store_options
@json_option
def import_command(
    file: Path, workers: int, config_path: str | None, db_path: str | None, as_json: bool
) -> None:
    """Ingest articles from FILE (.jsonl or .jsonl.gz) without fetching.

    One JSON object a line with url, source, title, text, published (ISO-8601 or RFC 2822).
    Each goes through the same normalise → dedup → store → match → alert path as a crawled
    article. Bad lines are reported with their line number and skipped.
    """
    config = resolve_config(config_path, db_path)
    db = open_config_store(config)
    counts = {"new": 0, "copy": 0, "known": 0, "bad": 0, "alerts": 0}
    try:
        with open_jsonl(file) as stream:
            items = prepared_ahead(read_articles(stream), workers)
            while _import_some(db, items, IMPORT_BATCH, config.rules, counts, file):
                pass
    except (OSError, EOFError) as exc:
        fail(f"{file}: cannot read: {exc}")
    if as_json:
        emit_json(counts)
    else:
        click.echo(
            f"imported {counts['new']} new, {counts['copy']} copies, {counts['known']} already "
            f"stored, {counts['bad']} bad lines; {counts['alerts']} alerts queued "
            f"→ {config.store_path}"
        )


def _import_some(
    db: Database,
    items: Iterator[tuple[NewArticle | LineError, PreparedArticle | None]],
    size: int,
    rules: Sequence[Rule],
    counts: dict[str, int],
    file: Path,
) -> bool:
    """Ingest up to ``size`` items in one commit; False once ``items`` is exhausted.

    One commit for many articles spares rewriting the same pages each time; each article is
    still its own savepoint inside it, so an alert is never kept without its article. Items are
    taken one at a time, so only the articles in flight are held in memory. A read error (a
    file cut short) is raised after what was read before it is committed.
    """
    taken = 0
    error: OSError | EOFError | None = None
    with db.atomic():
        try:
            for item, prepared in islice(items, size):
                taken += 1
                if isinstance(item, LineError):
                    counts["bad"] += 1
                    click.echo(f"{file}:{item.line}: skipped: {item.message}", err=True)
                    continue
                result = ingest_article(db, item, rules, prepared=prepared)
                counts[result.status] += 1
                counts["alerts"] += result.alerts_queued
        except (OSError, EOFError) as exc:
            error = exc
    if error is not None:
        raise error
    return taken == size


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
        document = tomllib.loads(rules_file.read_text(encoding="utf-8"))
        rules = parse_rules(document.get("rules"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        fail(f"{rules_file}: invalid TOML: {exc}")
    except RuleError as exc:
        fail(f"{rules_file}: {exc}")
    for number, raw in enumerate(sys.stdin, start=1):
        if not raw.strip():
            continue
        try:
            record = json.loads(raw)
            if not isinstance(record, dict):
                raise ValueError("expected a JSON object")
            title = record.get("title") or ""
            text = record.get("text") or ""
            if not isinstance(title, str) or not isinstance(text, str):
                raise ValueError("title and text must be strings")
        except ValueError as exc:
            click.echo(f"stdin:{number}: skipped: {exc}", err=True)
            continue
        found = match_article(rules, title, text)
        emit_json(
            {
                "id": record.get("id"),
                "matches": [
                    {
                        "rule": m.rule,
                        "keyword": m.keyword,
                        "field": m.field,
                        "start": m.start,
                        "end": m.end,
                        "surface": m.surface,
                    }
                    for m in found
                ],
            }
        )


@click.command("export")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["jsonl"]),
    default="jsonl",
    show_default=True,
    help="Output format.",
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
    """Write every stored article as one JSON line: url, title, text, source, published,
    story_id, duplicate_of (null for an original) and more."""
    config = resolve_config(config_path, db_path)
    db = open_config_store(config)
    target = output.open("w", encoding="utf-8") if output else sys.stdout
    try:
        for row in iter_articles_for_export(db):
            target.write(json.dumps(row, ensure_ascii=False) + "\n")
    finally:
        if output:
            target.close()
