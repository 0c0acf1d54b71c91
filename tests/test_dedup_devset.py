"""Copy detection on the dedup dev set (../shared/data/dedup-dev, read at run time, never copied).

Imports stream.jsonl.gz in order through `marsad import`, then judges every labelled pair: a
`dup` pair must end in one story, a `distinct` pair in two. Prints the table per kind (run with
``pytest -s tests/test_dedup_devset.py`` to see it).
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
from click.testing import CliRunner

from marsad.cli import cli
from marsad.storage.db import open_store
from tests.conftest import shared_path

PRECISION_BAR = 0.99
RECALL_BAR = 0.97


@pytest.mark.slow
def test_devset_precision_and_recall(tmp_path: Path) -> None:
    stream = shared_path("data", "dedup-dev", "stream.jsonl.gz")
    pairs_file = shared_path("data", "dedup-dev", "pairs.jsonl")
    db_path = tmp_path / "dev.db"
    done = CliRunner().invoke(cli, ["import", str(stream), "--db", str(db_path)])
    assert done.exit_code == 0, done.output

    db = open_store(db_path)
    story = {row["url"]: row["story_id"] for row in db.query("SELECT url, story_id FROM articles")}
    db.close()
    tally: Counter[tuple[str, str, bool]] = Counter()
    for line in pairs_file.read_text(encoding="utf-8").splitlines():
        pair = json.loads(line)
        same = story[pair["url_a"]] == story[pair["url_b"]]
        tally[(pair["kind"], pair["label"], same)] += 1

    true_pos = sum(n for (_, label, same), n in tally.items() if label == "dup" and same)
    false_neg = sum(n for (_, label, same), n in tally.items() if label == "dup" and not same)
    false_pos = sum(n for (_, label, same), n in tally.items() if label == "distinct" and same)
    precision = true_pos / max(1, true_pos + false_pos)
    recall = true_pos / max(1, true_pos + false_neg)

    print(f"\n{'kind':<24} {'label':<9} {'pairs':>6} {'correct':>8} {'share':>6}")
    for kind, label in sorted({(k, lab) for k, lab, _ in tally}):
        right = tally[(kind, label, label == "dup")]
        wrong = tally[(kind, label, label != "dup")]
        total = right + wrong
        print(f"{kind:<24} {label:<9} {total:>6} {right:>8} {right / total:>6.3f}")
    print(f"precision {precision:.4f} (bar {PRECISION_BAR})")
    print(f"recall {recall:.4f} (bar {RECALL_BAR})")
    assert precision >= PRECISION_BAR
    assert recall >= RECALL_BAR
