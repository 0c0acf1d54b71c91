"""``marsad rules test``: what a rule would have fired on in the stored archive; ``marsad rules
forms``: every form a keyword matches, by class, to choose what to veto."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import click

from marsad.alerts.backtest import Backtest, backtest_store, match_record
from marsad.alerts.matching import FormGroup, keyword_forms
from marsad.alerts.rules import Keyword, Rule, RuleError, load_rules_file
from marsad.cli.common import (
    emit_json,
    fail,
    json_option,
    open_config_store,
    resolve_config,
    store_options,
)
from marsad.times import parse_when


@click.group("rules")
def rules_group() -> None:
    """Watch rules: try them on the stored archive before enabling them."""


@rules_group.command("test")
@click.argument("rule_name")
@click.option(
    "--since",
    default="30d",
    show_default=True,
    help="How far back: a duration (30d, 12h) or a date (2024-01-31), against the articles' "
    "published date (or fetch time when they have none).",
)
@click.option(
    "--rules",
    "rules_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Take the rule from this TOML file instead of the config (a rule not yet enabled).",
)
@click.option("--samples", default=5, show_default=True, type=click.IntRange(min=0))
@store_options
@json_option
def test_command(
    rule_name: str,
    since: str,
    rules_file: Path | None,
    samples: int,
    config_path: str | None,
    db_path: str | None,
    as_json: bool,
) -> None:
    """Run rule RULE_NAME over the stored articles and report how many articles (and stories)
    it would have fired on, with samples of what matched."""
    config = resolve_config(config_path, db_path)
    rules = _load_rules(rules_file) if rules_file else config.rules
    rule = next((r for r in rules if r.name == rule_name), None)
    if rule is None:
        known = ", ".join(r.name for r in rules) or "none"
        fail(f"no rule named {rule_name!r} (defined: {known})")
    start = _since(since, datetime.now(UTC))
    db = open_config_store(config)
    result = backtest_store(db, rule, since=start)
    if as_json:
        emit_json(result.to_dict(samples))
    else:
        _print(result, samples)


def _load_rules(path: Path) -> tuple[Rule, ...]:
    try:
        return load_rules_file(path)
    except RuleError as exc:
        fail(str(exc))


def _since(value: str, now: datetime) -> str:
    try:
        return parse_when(value, now)
    except ValueError as exc:
        fail(f"--since: {exc}")


def _print(result: Backtest, samples: int) -> None:
    click.echo(
        f"rule {result.rule!r} since {result.since}: would have fired on "
        f"{len(result.fired)} of {result.scanned} articles ({result.stories} stories)"
    )
    if result.out_of_scope:
        click.echo(
            f"{result.out_of_scope} more articles match its words but are outside its scope "
            "(feeds, sources, languages)"
        )
    if result.held_back:
        click.echo(
            f"its alerts for {len(result.held_back)} of them were held back when they were "
            f"stored: marsad alerts --suppressed --rule {result.rule}"
        )
    for article, found in result.fired[:samples]:
        held = "  [alert held back]" if article.id in result.held_back else ""
        click.echo(f"\n{article.date}  {article.source}  {article.title}{held}")
        for m in found:
            hit = match_record(article, m)
            # A derived form says which: the hit an analyst may want to veto.
            where = m.field if m.form == "core" else f"{m.field}, {m.form}"
            click.echo(f"  {m.keyword} → {m.surface} ({where}): {hit['snippet']}")


@rules_group.command("forms")
@click.argument("keyword")
@click.option(
    "--verbs/--no-verbs",
    default=None,
    help="Derive verbs even where not safe by default (a three-letter masdar), or none at all: "
    "the keyword's `verbs = true/false`.",
)
@click.option(
    "--plurals/--no-plurals",
    default=None,
    help="The same for broken plurals: the keyword's `plurals = true/false`.",
)
@click.option(
    "--none",
    "vetoed",
    multiple=True,
    metavar="WORD",
    help="A form not to count (the keyword's `none`); give it again for each.",
)
@click.option("--exact", is_flag=True, help="The keyword's `exact = true`: no forms at all.")
@click.option(
    "--all", "every", is_flag=True, help="Every written form, clitics included, one a line."
)
@json_option
def forms_command(
    keyword: str,
    verbs: bool | None,
    plurals: bool | None,
    vetoed: tuple[str, ...],
    exact: bool,
    every: bool,
    as_json: bool,
) -> None:
    """Every form KEYWORD matches in a rule, grouped by class (core, plural, past, present,
    participle, nisba), so that one can be vetoed with the keyword's `none`.

    Words are shown as they are matched: a hamza on ؤ or ئ as ء, ى as ي, ة kept."""
    if exact and (verbs or plurals or vetoed):
        fail("--exact: an exact keyword has no forms to derive or veto")
    groups = keyword_forms(
        Keyword(keyword.strip(), exact=exact, verbs=verbs, plurals=plurals, none=vetoed)
    )
    if as_json:
        emit_json(
            {
                "keyword": keyword,
                "classes": [
                    {
                        "form": g.form,
                        "pattern": g.pattern,
                        "core": g.core,
                        "kind": g.kind,
                        "clitics": list(g.clitics),
                        "words": list(g.words),
                    }
                    for g in groups
                ],
            }
        )
    elif every:
        for word in sorted({w for g in groups for w in g.written()}):
            click.echo(word)
    else:
        _print_forms(keyword, groups)


def _print_forms(keyword: str, groups: list[FormGroup]) -> None:
    written = len({w for g in groups for w in g.written()})
    classes = list(dict.fromkeys(g.form for g in groups))
    click.echo(f"{keyword}: {', '.join(classes)} — {written:,} written forms")
    for g in groups:
        how = f" ({g.pattern})" if g.pattern else ""
        click.echo(f"\n{g.form}{how}: {g.core} [{g.kind}]")
        front = " ".join(c or "-" for c in g.clitics)
        click.echo(f"  in front ('-' nothing): {front}")
        click.echo(f"  {' '.join(g.words)}")
