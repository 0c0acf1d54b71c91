"""``marsad rules explain RULE URL|ID``: why a rule does or does not match a stored article, and
why it did or did not alert, on articles written for it (exact output, text and JSON)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from marsad.cli import cli
from marsad.storage.db import open_store

CONFIG = """
[store]
path = "store.db"

[[rules]]
name = "pullout"
any = ["انسحاب", "إخلاء"]
all = ["القاعدة"]
none = ["مناورة"]
near = 5
channels = ["ops"]

[[rules]]
name = "alpha-only"
keywords = ["انسحاب"]
sources = ["Alpha"]
channels = ["ops"]

[[rules]]
name = "spreading"
keywords = ["انسحاب"]
breaking = { outlets = 3, within = "2h" }
channels = ["ops"]

[channels.ops]
type = "webhook"
url = "http://127.0.0.1:9/hook"
"""
# Rules not in the config: one naming a channel it does not define, one added after the
# articles were stored.
LATER = """
[[rules]]
name = "elsewhere"
keywords = ["انسحاب"]
channels = ["chat"]

[[rules]]
name = "later"
keywords = ["القاعدة"]
channels = ["ops"]
"""
WITHDRAWAL = (
    "أعلن التحالف انسحابه من القاعدة الجوية بعد سنوات من الوجود فيها وسط ترقب كبير في المنطقة كلها."
)


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    workdir = tmp_path_factory.mktemp("explain")
    (workdir / "marsad.toml").write_text(CONFIG, encoding="utf-8")
    (workdir / "later.toml").write_text(LATER, encoding="utf-8")
    # Within the default 3-day alert window.
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:00:00Z")
    lines = [
        ("https://alpha.example/1", "Alpha", "انسحاب من القاعدة", WITHDRAWAL, now),
        ("https://beta.example/1", "Beta", "انسحاب من القاعدة", WITHDRAWAL, now),
        (
            "https://gamma.example/old",
            "Gamma",
            "خبر قديم",
            "تم إخلاء القاعدة في ذلك العام بعد قرار مفاجئ من القيادة العامة للقوات.",
            "2020-01-01T10:00:00Z",
        ),
        (
            "https://delta.example/far",
            "Delta",
            "تقرير",
            "بدأ الانسحاب اليوم وسط ترقب كبير في المدينة كلها قبل الوصول إلى القاعدة الكبرى.",
            now,
        ),
        (
            "https://eps.example/drill",
            "Eps",
            "مناورة",
            "تدريب على إخلاء القاعدة ضمن مناورة عسكرية واسعة.",
            now,
        ),
        ("https://zeta.example/x", "Zeta", "خبر", "أعلن الجيش الانسحاب من المدينة الساحلية.", now),
    ]
    records = [
        {"url": u, "source": s, "title": t, "text": x, "published": p} for u, s, t, x, p in lines
    ]
    path = workdir / "lines.jsonl"
    path.write_text(
        "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8"
    )
    result = CliRunner().invoke(
        cli, ["import", str(path), "--config", str(workdir / "marsad.toml")]
    )
    assert result.exit_code == 0, result.output
    return workdir


def explained(store: Path, *args: str) -> list[str]:
    result = CliRunner().invoke(
        cli, ["rules", "explain", *args, "--config", str(store / "marsad.toml")]
    )
    assert result.exit_code == 0, result.output
    return result.stdout.splitlines()


def created_at(store: Path, alert_id: int) -> str:
    db = open_store(store / "store.db")
    return str(
        next(db.query("SELECT created_at FROM alerts WHERE id = ?", [alert_id]))["created_at"]
    )


def test_a_match_that_alerted(store: Path) -> None:
    assert explained(store, "pullout", "https://alpha.example/1") == [
        "rule 'pullout' matches article 1 (story 1): انسحاب من القاعدة",
        "  Alpha  https://alpha.example/1",
        "any: 1 of 2 keywords hit, 1 needed: انسحاب",
        "  any hit: انسحاب → انسحاب [core] title 0-6, word 0",
        "  any hit: انسحاب → انسحابه [core] body 13-20, word 2",
        "  all hit: القاعدة → القاعدة [core] title 10-17, word 2",
        "  all hit: القاعدة → القاعدة [core] body 24-31, word 4",
        "near 5: the closest hits are 1 word apart (title)",
        f"alert on ops: alerted: pending since {created_at(store, 1)}",
    ]


def test_a_copy_of_an_alerted_story(store: Path) -> None:
    assert explained(store, "pullout", "2")[-1] == (
        "alert on ops: not alerted: a copy: story 1 was alerted already, by article 1 "
        f"(alert 1, pending since {created_at(store, 1)})"
    )


def test_outside_the_alert_window(store: Path) -> None:
    assert explained(store, "pullout", "https://gamma.example/old") == [
        "rule 'pullout' matches article 3 (story 2): خبر قديم",
        "  Gamma  https://gamma.example/old",
        "any: 1 of 2 keywords hit, 1 needed: إخلاء",
        "  any hit: إخلاء → إخلاء [core] body 3-8, word 1",
        "  all hit: القاعدة → القاعدة [core] body 9-16, word 2",
        "near 5: the closest hits are 0 words apart (body)",
        "alert on ops: not alerted: held back when stored: published 2020-01-01T10:00:00Z, "
        "older than the 3d alert window",
    ]


def test_hits_too_far_apart_for_near(store: Path) -> None:
    assert explained(store, "pullout", "4") == [
        "rule 'pullout' does not match article 4 (story 3): تقرير",
        "  Delta  https://delta.example/far",
        "  because: `near` 5: the closest hits are 10 words apart, too far",
        "any: 1 of 2 keywords hit, 1 needed: انسحاب",
        "  any hit: انسحاب → الانسحاب [core] body 4-12, word 1",
        "  all hit: القاعدة → القاعدة [core] body 64-71, word 12",
        "near 5: the closest hits are 10 words apart (body)",
    ]


def test_a_none_keyword_vetoes(store: Path) -> None:
    assert explained(store, "pullout", "5") == [
        "rule 'pullout' does not match article 5 (story 4): مناورة",
        "  Eps  https://eps.example/drill",
        "  because: vetoed by `none`: مناورة",
        "any: 1 of 2 keywords hit, 1 needed: إخلاء",
        "  any hit: إخلاء → إخلاء [core] body 10-15, word 2",
        "  all hit: القاعدة → القاعدة [core] body 16-23, word 3",
        "  none veto: مناورة → مناورة [core] title 0-6, word 0",
        "  none veto: مناورة → مناورة [core] body 28-34, word 5",
        "near 5: the closest hits are 0 words apart (body)",
    ]


def test_an_all_keyword_missing(store: Path) -> None:
    assert explained(store, "pullout", "https://zeta.example/x") == [
        "rule 'pullout' does not match article 6 (story 5): خبر",
        "  Zeta  https://zeta.example/x",
        "  because: `all` keyword missing: القاعدة",
        "any: 1 of 2 keywords hit, 1 needed: انسحاب",
        "  any hit: انسحاب → الانسحاب [core] body 11-19, word 2",
        "  all missing: القاعدة",
        "near 5: no set of hits satisfies the rule in one field",
    ]


def test_outside_the_rules_scope(store: Path) -> None:
    outside = "source 'Beta' (host beta.example), not one of sources: Alpha"
    assert explained(store, "alpha-only", "https://beta.example/1") == [
        "rule 'alpha-only' does not match article 2 (story 1): انسحاب من القاعدة",
        "  Beta  https://beta.example/1",
        f"  because: outside the rule's scope: {outside}",
        "any: 1 of 1 keywords hit, 1 needed: انسحاب",
        "  any hit: انسحاب → انسحاب [core] title 0-6, word 0",
        "  any hit: انسحاب → انسحابه [core] body 13-20, word 2",
        f"scope (sources Alpha): outside: {outside}",
    ]
    assert explained(store, "alpha-only", "1")[-2:] == [
        "scope (sources Alpha): inside: Alpha, no feed, language ar",
        f"alert on ops: alerted: pending since {created_at(store, 2)}",
    ]


def test_a_breaking_rule_waiting_for_its_story_to_spread(store: Path) -> None:
    assert explained(store, "spreading", "1")[-1] == (
        "alert on ops: not alerted: a breaking rule (3 outlets within 2h): the story has 2 "
        "outlets within 2h of its first article (2 in all)"
    )


def test_a_channel_missing_and_a_rule_not_in_force_when_stored(store: Path) -> None:
    later = ["--rules", str(store / "later.toml")]
    assert explained(store, "elsewhere", "1", *later)[-1] == (
        "alert on chat: not alerted: no channel of this name in the config"
    )
    db = open_store(store / "store.db")
    fetched = next(db.query("SELECT fetched_at FROM articles WHERE id = 3"))["fetched_at"]
    assert explained(store, "later", "3", *later)[-1] == (
        f"alert on ops: not alerted: no match was recorded when it was stored ({fetched}): "
        "the rule as it is now was not in force then (rules apply to articles as they arrive)"
    )


def test_json(store: Path) -> None:
    result = CliRunner().invoke(
        cli,
        ["rules", "explain", "pullout", "4", "--json", "--config", str(store / "marsad.toml")],
    )
    assert result.exit_code == 0, result.output
    report: dict[str, Any] = json.loads(result.stdout)
    assert (report["matches"], report["because"]) == (
        False,
        ["`near` 5: the closest hits are 10 words apart, too far"],
    )
    assert report["nearness"] == {"near": 5, "closest": 10, "field": "body"}
    assert report["hits"][1] == {
        "group": "all",
        "keyword": "القاعدة",
        "field": "body",
        "start": 64,
        "end": 71,
        "first": 12,
        "last": 12,
        "surface": "القاعدة",
        "form": "core",
        "counted": True,
    }
    assert (report["missing_all"], report["vetoed"], report["channels"]) == ([], [], [])


def test_an_unknown_article_or_rule_is_one_line(store: Path) -> None:
    config = ["--config", str(store / "marsad.toml")]
    missing = CliRunner().invoke(cli, ["rules", "explain", "pullout", "99", *config])
    assert missing.exit_code == 2
    assert (
        missing.stderr == "marsad: no stored article '99' (give its URL or its id: marsad search)\n"
    )
    unknown = CliRunner().invoke(cli, ["rules", "explain", "nope", "1", *config])
    assert unknown.exit_code == 2
    assert unknown.stderr == (
        "marsad: no rule named 'nope' (defined: pullout, alpha-only, spreading)\n"
    )


def test_a_breaking_rule_once_its_story_spread(tmp_path: Path) -> None:
    # Imported with times of its own: no alert window.
    config_text = CONFIG.replace(
        'path = "store.db"\n', 'path = "store.db"\n\n[alerts]\nwindow = "off"\n'
    )
    (tmp_path / "marsad.toml").write_text(config_text, encoding="utf-8")
    records = [
        {
            "url": f"https://{o}.example/1",
            "source": o,
            "title": "انسحاب",
            "text": WITHDRAWAL,
            "published": f"2026-03-01T0{h}:00:00Z",
        }
        for o, h in (("a", 8), ("b", 8), ("c", 9))
    ]
    path = tmp_path / "lines.jsonl"
    path.write_text(
        "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8"
    )
    config = ["--config", str(tmp_path / "marsad.toml")]
    assert CliRunner().invoke(cli, ["import", str(path), *config]).exit_code == 0
    alert_id = next(
        open_store(tmp_path / "store.db").query("SELECT id FROM alerts WHERE rule = 'spreading'")
    )["id"]
    assert explained(tmp_path, "spreading", "3")[-1] == (
        f"alert on ops: alerted: pending since {created_at(tmp_path, alert_id)}"
    )
    assert explained(tmp_path, "spreading", "1")[-1] == (
        "alert on ops: not alerted: the story's breaking alert was raised by article 3 "
        f"(alert {alert_id}, pending since {created_at(tmp_path, alert_id)})"
    )
