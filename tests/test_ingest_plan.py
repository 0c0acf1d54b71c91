"""The ingest plan is decided without a store: verdict, matches with their snippets, alerts."""

from __future__ import annotations

from dataclasses import replace

import pytest

from marsad.alerts.config import AlertsConfig
from marsad.alerts.matching import Match, compile_rules, snippet
from marsad.alerts.payload import AlertDraft, Quote, build_payload, quote
from marsad.alerts.rules import Rule
from marsad.ingest.lookup import Known
from marsad.ingest.plan import (
    PlannedAlert,
    SightingPlan,
    alert_hold,
    plan_article,
    plan_sighting,
)
from marsad.ingest.prepare import prepare_article
from marsad.storage.models import DuplicateVerdict, NewArticle

NOW = "2024-05-01T08:00:00Z"
TITLE = "انسحاب القوات"
TEXT = "أعلن التحالف الانسحاب من القاعدة الجوية بعد سنوات من الوجود فيها."
ARTICLE = NewArticle(
    url="https://a.example/1?utm=x",
    canonical_url="https://a.example/1",
    source="a",
    title=TITLE,
    text=TEXT,
    published="2024-05-01T07:00:00Z",
    feed_id=3,
)
RULES = compile_rules(
    (
        Rule("withdrawal", ("انسحاب",), ("ops", "desk")),
        Rule("base", ("القاعدة",), ("ops",)),
        Rule("quiet", ("هدنة",), ("ops",)),
    )
)


def test_a_known_article_is_a_sighting() -> None:
    plan = plan_sighting(ARTICLE, Known(article_id=7, reason="guid"), NOW)
    assert plan == SightingPlan(7, 3, "https://a.example/1?utm=x", "guid", NOW)


def test_a_new_article_plan_holds_its_matches_snippets_and_alerts() -> None:
    plan = plan_article(ARTICLE, prepare_article(ARTICLE), None, RULES, NOW)
    assert plan.verdict is None and plan.fetched_at == NOW
    assert [(m.rule, m.field, m.surface) for m in plan.matches] == [
        ("withdrawal", "title", "انسحاب"),
        ("withdrawal", "body", "الانسحاب"),
        ("base", "body", "القاعدة"),
    ]
    # Each snippet is cut once, from the field the match is in.
    title_hit, body_hit = plan.quotes[0], plan.quotes[1]
    assert title_hit.snippet == snippet(TITLE, title_hit.match.start, title_hit.match.end)
    assert body_hit.snippet == snippet(TEXT, body_hit.match.start, body_hit.match.end)
    # One alert per rule and channel, the rule's channels in order; a rule that did not fire
    # has none. The channels of a rule share one draft holding that rule's quotes only.
    assert [(a.draft.rule, a.channel) for a in plan.alerts] == [
        ("withdrawal", "ops"),
        ("withdrawal", "desk"),
        ("base", "ops"),
    ]
    assert plan.alerts[0].draft is plan.alerts[1].draft
    assert plan.alerts[0].draft.quotes == plan.quotes[:2]
    assert plan.alerts[2].draft.quotes == plan.quotes[2:]


def test_a_copy_plan_carries_its_verdict() -> None:
    verdict = DuplicateVerdict(original_id=4, story_id=2, similarity=1.0, evidence={"matched": 4})
    plan = plan_article(ARTICLE, prepare_article(ARTICLE), verdict, compile_rules(()), NOW)
    assert plan.verdict == verdict
    assert plan.quotes == plan.alerts == ()


def test_the_payload_gets_its_ids_at_write_time() -> None:
    match = Match("withdrawal", "انسحاب", "title", 0, 6, "انسحاب")
    draft = AlertDraft("withdrawal", ARTICLE, (Quote(match, "انسحاب القوات"),))
    assert build_payload(draft, article_id=11, story_id=5) == {
        "rule": "withdrawal",
        "article": {
            "id": 11,
            "story_id": 5,
            "title": TITLE,
            "url": "https://a.example/1?utm=x",
            "source": "a",
            "published": "2024-05-01T07:00:00Z",
            "author": None,
            "language": None,
        },
        "matches": [
            {
                "keyword": "انسحاب",
                "field": "title",
                "surface": "انسحاب",
                "start": 0,
                "end": 6,
                "snippet": "انسحاب القوات",
            }
        ],
    }


def test_quotes_are_cut_from_the_field_of_each_match() -> None:
    in_title = Match("r", "k", "title", 0, 6, "انسحاب")
    in_body = Match("r", "k", "body", 14, 22, "الانسحاب")
    assert quote([in_title, in_body], TITLE, TEXT) == (
        Quote(in_title, snippet(TITLE, 0, 6)),
        Quote(in_body, snippet(TEXT, 14, 22)),
    )


def test_planned_alerts_compare_by_value() -> None:
    draft = AlertDraft("r", ARTICLE, ())
    assert PlannedAlert("ops", draft) == PlannedAlert("ops", AlertDraft("r", ARTICLE, ()))


WINDOWED = compile_rules(RULES.rules, alerts=AlertsConfig(window=3 * 86400))


def aged(published: str | None) -> NewArticle:
    return replace(ARTICLE, published=published)


@pytest.mark.parametrize(
    ("published", "held"),
    [
        # Published within the window before `now`: news, raised.
        ("2024-04-28T08:00:00Z", None),
        ("2024-05-01T07:00:00Z", None),
        # Older: history (an archive imported, a feed listing old items again), held back.
        (
            "2024-04-28T07:59:59Z",
            "published 2024-04-28T07:59:59Z, older than the 3d alert window",
        ),
        ("2019-01-01T00:00:00Z", "published 2019-01-01T00:00:00Z, older than the 3d alert window"),
        # No date: raised (an outlet that gives none is still watched), and a date ahead of the
        # clock (a wrong time zone) too.
        (None, None),
        ("2024-05-02T00:00:00Z", None),
    ],
)
def test_alerts_of_an_article_older_than_the_window_are_held_back_with_the_reason(
    published: str | None, held: str | None
) -> None:
    article = aged(published)
    assert alert_hold(article, WINDOWED.alerts, NOW) == held
    plan = plan_article(article, prepare_article(article), None, WINDOWED, NOW)
    # Every planned alert carries the decision; the matches are planned all the same.
    assert [(a.channel, a.suppressed) for a in plan.alerts] == [
        ("ops", held),
        ("desk", held),
        ("ops", held),
    ]
    assert len(plan.matches) == 3


def test_without_a_window_every_age_is_raised_and_a_given_reason_holds_all_back() -> None:
    old = aged("2001-01-01T00:00:00Z")
    assert alert_hold(old, RULES.alerts, NOW) is None
    raised = plan_article(old, prepare_article(old), None, RULES, NOW)
    assert {a.suppressed for a in raised.alerts} == {None}
    reason = "imported with --no-alerts"
    held = plan_article(ARTICLE, prepare_article(ARTICLE), None, WINDOWED, NOW, hold_alerts=reason)
    assert {a.suppressed for a in held.alerts} == {reason}
    assert len(held.matches) == 3
