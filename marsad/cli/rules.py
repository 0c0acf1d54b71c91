"""``marsad rules test``: what a rule would have fired on in the stored archive; ``marsad rules
forms``: every form a keyword matches, by class, to choose what to veto; ``marsad rules
explain``: why a rule did (not) fire on a stored article, and why it did (not) alert."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import click

from marsad.alerts.backtest import Backtest, backtest_store, match_record
from marsad.alerts.explain import Explanation, StoryCounts, explain
from marsad.alerts.matching import FormGroup, keyword_forms
from marsad.alerts.rules import Keyword, Rule, RuleError, check_rule_feeds, load_rules_file
from marsad.cli.common import (
    emit_json,
    fail,
    json_option,
    open_config_store,
    resolve_config,
    store_options,
)
from marsad.storage.explain import StoredArticle, find_stored_article, rule_record
from marsad.storage.followups import story_outlets, story_outlets_within
from marsad.times import parse_when
from marsad.urls import canonical_url

if TYPE_CHECKING:
    from sqlite_utils import Database

    from marsad.config import Config


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
    rule = _named_rule(rule_name, rules_file, config)
    start = _since(since, datetime.now(UTC))
    db = open_config_store(config)
    result = backtest_store(db, rule, since=start)
    if as_json:
        emit_json(result.to_dict(samples))
    else:
        _print(result, samples)


def _named_rule(name: str, rules_file: Path | None, config: Config) -> Rule:
    """The rule called ``name``, from ``rules_file`` if given, else from the config."""
    rules = _load_rules(rules_file, config) if rules_file else config.rules
    rule = next((r for r in rules if r.name == name), None)
    if rule is None:
        known = ", ".join(r.name for r in rules) or "none"
        fail(f"no rule named {name!r} (defined: {known})")
    return rule


def _load_rules(path: Path, config: Config) -> tuple[Rule, ...]:
    """The rules of a file; the feeds they are scoped to must be the config's (or the file's
    own, when it lists feeds: :func:`load_rules_file` checks those)."""
    try:
        rules = load_rules_file(path)
        if config.feeds:
            check_rule_feeds(rules, [f.name for f in config.feeds], where=f"{path}: rules")
    except RuleError as exc:
        fail(str(exc))
    return rules


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


@rules_group.command("explain")
@click.argument("rule_name")
@click.argument("article")
@click.option(
    "--rules",
    "rules_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Take the rule from this TOML file instead of the config.",
)
@store_options
@json_option
def explain_command(
    rule_name: str,
    article: str,
    rules_file: Path | None,
    config_path: str | None,
    db_path: str | None,
    as_json: bool,
) -> None:
    """Why rule RULE_NAME does or does not match the stored ARTICLE (its URL or id): each
    keyword's hits (the word as written, where, which form), the `all` keyword missing, the
    `none` that vetoed, how close the hits came for `near`, the rule's scope; and, channel by
    channel, why it did or did not alert."""
    config = resolve_config(config_path, db_path)
    rule = _named_rule(rule_name, rules_file, config)
    db = open_config_store(config)
    stored = _find_article(db, article)
    story = None
    if rule.breaking is not None:
        within = story_outlets_within(db, stored.story_id, [rule.breaking.within])
        story = StoryCounts(within.get(rule.breaking.within, 0), story_outlets(db, stored.story_id))
    result = explain(
        rule,
        stored,
        rule_record(db, stored, rule.name),
        channels=set(config.channels),
        story=story,
    )
    if as_json:
        emit_json(result.to_dict())
    else:
        for line in explanation_lines(result):
            click.echo(line)


def _find_article(db: Database, reference: str) -> StoredArticle:
    if reference.isdigit():
        found = find_stored_article(db, article_id=int(reference))
    else:
        try:
            url = canonical_url(reference)
        except ValueError:
            url = reference
        found = find_stored_article(db, canonical_url=url) or find_stored_article(
            db, canonical_url=reference
        )
    if found is None:
        fail(f"no stored article {reference!r} (give its URL or its id: marsad search)")
    return found


def explanation_lines(result: Explanation) -> list[str]:
    """The explanation as a person reads it, one line each."""
    verdict = "matches" if result.matches else "does not match"
    lines = [
        f"rule {result.rule!r} {verdict} article {result.article_id} "
        f"(story {result.story_id}): {result.title}",
        f"  {result.source}  {result.url}",
    ]
    for reason in result.because:
        lines.append(f"  because: {reason}")
    if result.any_count:
        lines.append(
            f"any: {len(result.any_found)} of {result.any_count} keywords hit, "
            f"{result.threshold} needed: {', '.join(result.any_found) or '-'}"
        )
    groups = (("any", "hit"), ("all", "hit"), ("none", "veto"))
    for group, what in groups:
        for hit in (h for h in result.hits if h.group == group):
            where = f"{hit.field} {hit.start}-{hit.end}, word {hit.first}"
            outside = "" if hit.counted else " (not counted: the rule does not look there)"
            lines.append(
                f"  {group} {what}: {hit.keyword} → {hit.surface} [{hit.form}] {where}{outside}"
            )
    for keyword in result.missing_all:
        lines.append(f"  all missing: {keyword}")
    if result.nearness is not None:
        near = result.nearness
        if near.closest is None:
            lines.append(f"near {near.near}: no set of hits satisfies the rule in one field")
        else:
            words = "word" if near.closest == 1 else "words"
            lines.append(
                f"near {near.near}: the closest hits are {near.closest} {words} apart "
                f"({near.field})"
            )
    if result.scope:
        scope = "; ".join(f"{key} {', '.join(values)}" for key, values in result.scope.items())
        if result.out_of_scope is None:
            feed = f"feed {result.feed}" if result.feed else "no feed"
            origin = f"{result.source}, {feed}, language {result.language or 'unknown'}"
            lines.append(f"scope ({scope}): inside: {origin}")
        else:
            lines.append(f"scope ({scope}): outside: {result.out_of_scope}")
    for outcome in result.channels:
        name = outcome.channel or "(no channel)"
        state = "alerted" if outcome.alerted else "not alerted"
        lines.append(f"alert on {name}: {state}: {outcome.reason}")
    lines.extend(f"  {line}" for line in result.follow_ups)
    lines.extend(f"note: {note}" for note in result.notes)
    return lines
