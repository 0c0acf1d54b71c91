"""Backtesting a watch rule: what it would have fired on in the stored archive.

``marsad rules test`` is a thin command over :func:`backtest_store`; the matching is the same
compiled index the daemon uses, so a backtest answers exactly what the rule would have done.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from marsad.alerts.matching import Match, compile_rules, field_text, marked_snippet
from marsad.alerts.rules import Origin
from marsad.storage.backtest import ArchivedArticle, iter_articles_since
from marsad.storage.origins import article_origins
from marsad.storage.suppressions import suppressed_articles

if TYPE_CHECKING:
    from sqlite_utils import Database

    from marsad.alerts.rules import Rule


@dataclass(frozen=True)
class Backtest:
    rule: str
    since: str
    scanned: int
    fired: list[tuple[ArchivedArticle, list[Match]]]
    # The articles fired on whose alert of this rule was held back when they were stored
    # (older than the alert window, imported with --no-alerts): `marsad alerts --suppressed`.
    held_back: frozenset[int] = frozenset()
    # Articles whose text the rule matches but that come from outside its scope (another
    # feed, source or language): not fired on.
    out_of_scope: int = 0

    @property
    def stories(self) -> int:
        return len({article.story_id for article, _ in self.fired})

    def to_dict(self, samples: int) -> dict[str, Any]:
        """The counts and the first ``samples`` articles it fired on, for JSON."""
        return {
            "rule": self.rule,
            "since": self.since,
            "scanned": self.scanned,
            "articles": len(self.fired),
            "stories": self.stories,
            "held_back": len(self.held_back),
            "out_of_scope": self.out_of_scope,
            "samples": [
                {
                    "article_id": article.id,
                    "story_id": article.story_id,
                    "title": article.title,
                    "source": article.source,
                    "url": article.url,
                    "date": article.date,
                    "held_back": article.id in self.held_back,
                    "matches": [match_record(article, m) for m in found],
                }
                for article, found in self.fired[:samples]
            ],
        }


def backtest(rule: Rule, articles: Iterable[ArchivedArticle], *, since: str) -> Backtest:
    """Match one rule against ``articles``."""
    index = compile_rules((rule,))
    scanned = 0
    fired: list[tuple[ArchivedArticle, list[Match]]] = []
    for article in articles:
        scanned += 1
        found = index.match(article.title, article.text)
        if found:
            fired.append((article, found))
    return Backtest(rule=rule.name, since=since, scanned=scanned, fired=fired)


def backtest_store(db: Database, rule: Rule, *, since: str) -> Backtest:
    """Match one rule against the stored articles dated at or after ``since``, and say which
    of those it fired on had their alert of this rule held back. A scoped rule fires only on
    the articles from within its scope (their origins are read for the few its text matched)."""
    result = backtest(rule, iter_articles_since(db, since), since=since)
    if rule.scope:
        origins = article_origins(db, (article.id for article, _ in result.fired))
        inside = []
        for article, found in result.fired:
            stored = origins[article.id]
            origin = Origin.of(
                stored.source,
                stored.url,
                feed=stored.feed,
                language=stored.language,
                text=f"{article.title}\n{article.text}",
            )
            if rule.scope.excludes(origin) is None:
                inside.append((article, found))
        result = replace(result, fired=inside, out_of_scope=len(result.fired) - len(inside))
    fired_ids = [article.id for article, _ in result.fired]
    return replace(result, held_back=frozenset(suppressed_articles(db, rule.name, fired_ids)))


def match_record(article: ArchivedArticle, m: Match) -> dict[str, Any]:
    """One match, with a snippet that marks the matched words."""
    source = field_text(article.title, article.text, m.field)
    return {
        "keyword": m.keyword,
        "field": m.field,
        "surface": m.surface,
        "form": m.form,
        "start": m.start,
        "end": m.end,
        "snippet": marked_snippet(source, m.start, m.end),
    }
