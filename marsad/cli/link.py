"""``marsad link``: the cross-lingual linking pass, by hand (#17)."""

from __future__ import annotations

import click

from marsad.cli.common import (
    emit_json,
    fail,
    json_option,
    open_existing_store,
    report_warnings,
    store_options,
)
from marsad.times import parse_duration


@click.command("link")
@click.option(
    "--limit",
    type=click.IntRange(min=1),
    help="Check at most this many articles (default: every unchecked one of the window).",
)
@click.option(
    "--budget",
    metavar="DURATION",
    help="Start no batch after this long (30s, 10m); the next run checks what is left.",
)
@store_options
@json_option
def link_command(
    limit: int | None,
    budget: str | None,
    config_path: str | None,
    db_path: str | None,
    as_json: bool,
) -> None:
    """Link Arabic machine translations to the non-Arabic articles they were translated from.

    Checks the articles of [crosslingual] window not checked yet (the daemon does every few
    seconds, `marsad crawl` and `marsad import` at their end): each is profiled and compared
    with the window's articles in the other language; a translation joins its original's
    story, with its provenance (`marsad show ID`). With enabled = "auto" nothing is computed
    until the window holds a non-Arabic article.
    """
    from marsad.alerts.matching import compile_rules
    from marsad.scheduler.crosslingual import link_now
    from marsad.storage.crosslingual import count_links, count_profiles

    seconds = None
    if budget is not None:
        try:
            seconds = parse_duration(budget, low=1.0, high=7 * 86400.0)
        except ValueError as exc:
            fail(f"--budget: {exc}")
    report_warnings()
    config, db = open_existing_store(config_path, db_path)
    try:
        rules = compile_rules(config.rules, alerts=config.alerts)
        report = link_now(db, config.crosslingual, seconds=seconds, limit=limit, rules=rules)
        profiles = count_profiles(db)
        links = count_links(db)
    finally:
        db.close()
    if as_json:
        emit_json({**report.as_dict(), "profiles": profiles, "links_stored": links})
        return
    click.echo(report.summary())
    for link in report.links:
        click.echo(
            f"  article {link['translation_id']} translated from article "
            f"{link['original_id']} (score {link['score']}): story {link['merged_story_id']} "
            f"joined story {link['story_id']}"
        )
    if report.active or profiles:
        held = ", ".join(f"{n:,} {language}" for language, n in sorted(profiles.items()))
        click.echo(f"profiles in the window: {held or 'none'}; {links:,} translations linked")
