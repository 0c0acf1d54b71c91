"""`marsad rules test`: a rule run over a store filled through `marsad import`."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from click.testing import CliRunner

from marsad.cli import cli

CONFIG = """
[store]
path = "store.db"

[[rules]]
name = "withdrawal"
keywords = ["انسحاب"]

[[rules]]
name = "k1-pullout"
all = ["K1", "انسحاب"]
near = 6
"""


def _articles(today: str) -> list[dict[str, str]]:
    return [
        {
            "url": "https://a.example/1",
            "source": "a.example",
            "title": "القوات تنسحب من قاعدة كي 1",
            "text": "أكملت القوات انسحابها من قاعدة K-1 الجوية صباح اليوم.",
            "published": "2024-03-02T08:00:00Z",
        },
        {
            # The same story, re-posted word for word by another outlet.
            "url": "https://b.example/9",
            "source": "b.example",
            "title": "القوات تنسحب من قاعدة كي 1",
            "text": "أكملت القوات انسحابها من قاعدة K-1 الجوية صباح اليوم.",
            "published": "2024-03-02T09:30:00Z",
        },
        {
            "url": "https://a.example/2",
            "source": "a.example",
            "title": "سحب الدخان فوق المدينة",
            "text": "غطت سحب الدخان سماء المدينة بعد الحريق، ولم يسجل أي انسحاب للسكان.",
            "published": today,
        },
        {
            "url": "https://a.example/3",
            "source": "a.example",
            "title": "افتتاح معرض الكتاب",
            "text": "افتتح المعرض أبوابه للزوار وسط إقبال كبير.",
            "published": "2024-01-15T10:00:00Z",
        },
    ]


def _store(tmp_path: Path) -> tuple[CliRunner, Path]:
    today = (datetime.now(UTC) - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    feed = tmp_path / "articles.jsonl"
    feed.write_text(
        "".join(json.dumps(a, ensure_ascii=False) + "\n" for a in _articles(today)),
        encoding="utf-8",
    )
    config = tmp_path / "marsad.toml"
    config.write_text(CONFIG, encoding="utf-8")
    runner = CliRunner()
    result = runner.invoke(cli, ["import", "--config", str(config), "--json", str(feed)])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["new"] + json.loads(result.output)["copy"] == 4
    return runner, config


def test_backtest_counts_articles_and_stories_with_samples(tmp_path: Path) -> None:
    runner, config = _store(tmp_path)
    result = runner.invoke(
        cli,
        ["rules", "test", "withdrawal", "--since", "2024-02-01", "--config", str(config), "--json"],
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert (report["rule"], report["scanned"]) == ("withdrawal", 3)
    # Both copies of the K1 story and the smoke story (which says انسحاب once in the body).
    assert (report["articles"], report["stories"]) == (3, 2)
    first = report["samples"][0]
    assert first["source"] == "a.example" and first["date"] >= "2024-03"
    surfaces = {m["surface"] for s in report["samples"] for m in s["matches"]}
    assert {"تنسحب", "انسحابها", "انسحاب"} <= surfaces
    assert "سحب" not in surfaces
    snippet = next(m["snippet"] for m in first["matches"] if m["surface"] == "انسحاب")
    assert "[انسحاب]" in snippet


def test_backtest_since_a_duration_and_the_rule_logic(tmp_path: Path) -> None:
    runner, config = _store(tmp_path)
    recent = runner.invoke(
        cli, ["rules", "test", "withdrawal", "--since", "30d", "--config", str(config), "--json"]
    )
    assert recent.exit_code == 0, recent.output
    assert json.loads(recent.output)["articles"] == 1  # only yesterday's article is that recent

    both = runner.invoke(
        cli, ["rules", "test", "k1-pullout", "--since", "2000-01-01", "--config", str(config)]
    )
    assert both.exit_code == 0, both.output
    assert "would have fired on 2 of 4 articles (1 stories)" in both.output
    assert "K1 → K-1 (body)" in both.output


def test_backtest_of_a_rule_not_yet_enabled_and_errors(tmp_path: Path) -> None:
    runner, config = _store(tmp_path)
    draft = tmp_path / "draft.toml"
    draft.write_text(
        '[[rules]]\nname = "smoke"\nkeywords = [{ keyword = "سحابة", forms = ["سحب"] }]\n',
        encoding="utf-8",
    )
    args = ["rules", "test", "smoke", "--rules", str(draft), "--since", "2000-01-01"]
    tried = runner.invoke(cli, [*args, "--config", str(config), "--json"])
    assert tried.exit_code == 0, tried.output
    assert json.loads(tried.output)["articles"] == 1

    missing = runner.invoke(cli, ["rules", "test", "nope", "--config", str(config)])
    assert missing.exit_code == 2
    assert "no rule named 'nope'" in missing.output and "withdrawal" in missing.output
    bad = runner.invoke(
        cli, ["rules", "test", "withdrawal", "--since", "lately", "--config", str(config)]
    )
    assert bad.exit_code == 2 and "--since" in bad.output


def test_rules_test_shows_which_form_each_hit_is(tmp_path: Path) -> None:
    runner, config = _store(tmp_path)
    result = runner.invoke(
        cli, ["rules", "test", "withdrawal", "--since", "2000-01-01", "--config", str(config)]
    )
    assert result.exit_code == 0, result.output
    # A derived form says which it is; the keyword's own forms say nothing more.
    assert "انسحاب → تنسحب (title, present)" in result.output
    assert "انسحاب → انسحابها (body):" in result.output
    report = runner.invoke(
        cli,
        ["rules", "test", "withdrawal", "--since", "2000-01-01", "--config", str(config), "--json"],
    )
    forms = {
        (m["surface"], m["form"])
        for s in json.loads(report.output)["samples"]
        for m in s["matches"]
    }
    assert {("تنسحب", "present"), ("انسحابها", "core")} <= forms


def test_rules_forms_lists_every_form_by_class() -> None:
    runner = CliRunner()
    shown = runner.invoke(cli, ["rules", "forms", "مسجد"])
    assert shown.exit_code == 0, shown.output
    assert shown.output.startswith("مسجد: core, plural — ")
    assert "plural (مفعل → مفاعل): مساجد [broken-plural]" in shown.output
    assert " مساجدهم " in shown.output or shown.output.rstrip().endswith("مساجدهما")

    every = runner.invoke(cli, ["rules", "forms", "مسجد", "--all"]).output.split()
    assert {"والمساجد", "بمسجدها", "للمسجد"} <= set(every)
    vetoed = runner.invoke(cli, ["rules", "forms", "مسجد", "--none", "مساجد", "--all"])
    assert "والمساجد" not in vetoed.output.split() and "للمسجد" in vetoed.output.split()

    three = runner.invoke(cli, ["rules", "forms", "سجن", "--json"])
    assert {c["form"] for c in json.loads(three.output)["classes"]} == {"core", "plural"}
    opted = runner.invoke(cli, ["rules", "forms", "سجن", "--verbs", "--json"])
    classes = {c["form"] for c in json.loads(opted.output)["classes"]}
    assert {"past", "present", "participle"} <= classes
    none = runner.invoke(cli, ["rules", "forms", "انسحاب", "--no-verbs", "--json"])
    assert {c["form"] for c in json.loads(none.output)["classes"]} == {"core"}

    exact = runner.invoke(cli, ["rules", "forms", "حماس", "--exact", "--all"])
    assert exact.output.split() == ["حماس"]
    refused = runner.invoke(cli, ["rules", "forms", "حماس", "--exact", "--verbs"])
    assert refused.exit_code == 2 and "exact keyword has no forms" in refused.output
