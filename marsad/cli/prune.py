"""``marsad prune``: forget what ``[retention]`` says is old, in short batches."""

from __future__ import annotations

import signal
from typing import TYPE_CHECKING, Any

import click

from marsad.cli.common import emit_json, fail, json_option, open_existing_store, store_options
from marsad.times import format_duration, parse_duration, utc_now

if TYPE_CHECKING:
    from types import FrameType

    from marsad.storage.retention import PruneReport, Retention

INTERRUPTED_EXIT_CODE = 130


@click.command("prune")
@click.option("--dry-run", is_flag=True, help="Say what would be removed; change nothing.")
@click.option(
    "--budget",
    metavar="DURATION",
    help="Start no batch after this long (30s, 10m); the next run prunes what is left. "
    "Default: until nothing is due.",
)
@store_options
@json_option
def prune_command(
    dry_run: bool, budget: str | None, config_path: str | None, db_path: str | None, as_json: bool
) -> None:
    """Remove what [retention] says is old: article bodies (story by story, once a story has
    had no new article for `bodies`), sightings, delivery attempts and fetch history.

    Stories, every article's title, URL, source, dates, story and provenance, watch-rule
    matches and alerts are kept: `marsad show URL`, `stories` and a search on titles find a
    story after its bodies are pruned; a pruned article is no longer a copy-detection
    candidate. Safe beside `marsad run`: each batch holds the store's write lock for about a
    tenth of a second, with a pause between batches. SIGINT or SIGTERM stops it after the
    batch in flight (exit 130); what it committed stays.
    """
    from marsad.storage.retention import prune_due

    seconds = None
    if budget is not None:
        try:
            seconds = parse_duration(budget, low=1.0, high=7 * 86400.0)
        except ValueError as exc:
            fail(f"--budget: {exc}")
    config, db = open_existing_store(config_path, db_path)
    stop: list[str] = []

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.append(signal.Signals(signum).name)

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        report = prune_due(
            db,
            config.retention,
            utc_now(),
            budget=seconds,
            dry_run=dry_run,
            should_stop=lambda: bool(stop),
        )
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        db.close()
    if as_json:
        emit_json({**report.as_dict(), "interrupted": stop[0] if stop else None})
    else:
        for line in describe(report, config.retention):
            click.echo(line)
    if stop:
        click.echo(f"{stop[0]}: stopped after the batch in flight", err=True)
        raise SystemExit(INTERRUPTED_EXIT_CODE)


def describe(report: PruneReport, retention: Retention) -> list[str]:
    """The report for people: one line per kind, then the batches."""
    would = "would be " if report.dry_run else ""
    lines = []

    def kept(kind: str) -> str | None:
        if report.before[kind] is None:
            return f"kept for ever (retention.{kind} = off)"
        return None

    def period(kind: str) -> str:
        seconds: Any = getattr(retention, kind)
        return f"older than {format_duration(seconds)}, before {report.before[kind]}"

    index = (
        f", {_n(report.index_rows, 'copy-detection index row')}"
        if report.index_rows is not None
        else " and their copy-detection index rows"
    )
    lines.append(
        "bodies: "
        + (
            kept("bodies")
            or f"{_n(report.articles, 'article')} of {_n(report.stories, 'story', 'stories')} "
            f"{would}emptied (stories quiet {period('bodies')}): {_size(report.text_bytes)} of "
            f"text, {_n(report.fingerprints, 'fingerprint')}, "
            f"{_n(report.shingle_sets, 'shingle set')}{index}"
        )
    )
    lines.append(
        "sightings: "
        + (kept("sightings") or f"{report.sightings:,} {would}removed ({period('sightings')})")
    )
    lines.append(
        "deliveries: "
        + (
            kept("deliveries")
            or f"{_n(report.deliveries, 'attempt')} {would}removed ({period('deliveries')}; each "
            "alert's last attempt and final state stay)"
        )
    )
    lines.append(
        "fetch history: "
        + (
            kept("fetch_history")
            or f"{_n(report.fetch_history, 'entry', 'entries')} of retired feeds {would}removed "
            f"({period('fetch_history')})"
        )
    )
    if report.profiles:
        lines.append(
            f"cross-lingual profiles: {_n(report.profiles, 'profile')} {would}removed "
            "(articles out of [crosslingual] window)"
        )
    if report.dry_run:
        lines.append("dry run: nothing was changed")
    else:
        rate = report.articles / report.elapsed if report.elapsed else 0.0
        lines.append(
            f"{report.batches:,} batches in {report.elapsed:.1f}s ({rate:,.0f} articles/s); "
            f"the longest held the write lock {report.longest_batch:.3f}s"
        )
        if not report.complete:
            lines.append("more is due: the budget ran out or it was stopped; run it again")
    if report.free_bytes:
        lines.append(
            f"{_size(report.free_bytes)} free inside the store file: new articles reuse it; "
            "VACUUM (with the daemon stopped) gives it back to the disk"
        )
    return lines


def _n(count: int, singular: str, plural: str | None = None) -> str:
    return f"{count:,} {singular if count == 1 else plural or singular + 's'}"


def _size(count: int) -> str:
    for unit, size in (("GB", 1 << 30), ("MB", 1 << 20), ("KB", 1 << 10)):
        if count >= size:
            return f"{count / size:.1f} {unit}"
    return f"{count} bytes"
