"""Derived data: what the application computes from stored articles with today's code.

Provenance, body hash, fingerprint and copy-detection index keys follow from an article's text
and title, by code that changes (the credit patterns, the fingerprint's parameters); what a
story merge moves is decided by the merge's code. So a migration never computes them: it
records, in ``derived_tasks``, that stored data needs them (0005 does when articles lack a
fingerprint, 0008 when merged stories still hold alerts), and :func:`run_derived_tasks` — run
by :func:`storage.db.open_store` after the migrations — does the work and clears the record.
With nothing recorded, that is one lookup in a table of no rows.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlite_utils import Database

from marsad.storage import articles as store
from marsad.storage import lsh
from marsad.storage.dedup import prepare_body
from marsad.storage.shingles import fill_shingles
from marsad.storage.transactions import write_transaction

# Articles computed per transaction: a task interrupted part-way resumes where it stopped,
# since it picks only the articles still without a fingerprint.
BATCH = 500


def recorded_tasks(db: Database) -> list[str]:
    return [row["name"] for row in db.query("SELECT name FROM derived_tasks ORDER BY name")]


def clear_task(db: Database, name: str) -> None:
    db.execute("DELETE FROM derived_tasks WHERE name = ?", [name])


def articles_without_fingerprint(db: Database, after: int, limit: int) -> list[dict[str, Any]]:
    """(id, title_norm, text) of up to ``limit`` articles with ids above ``after`` that have
    no fingerprint, in id order."""
    return list(
        db.query(
            "SELECT a.id, a.title_norm, a.text FROM articles a WHERE a.id > ? AND NOT EXISTS "
            "(SELECT 1 FROM fingerprints f WHERE f.article_id = a.id) ORDER BY a.id LIMIT ?",
            [after, limit],
        )
    )


def index_unindexed_articles(db: Database, batch: int = BATCH) -> int:
    """Give every article without a fingerprint its provenance, body hash, fingerprint and
    index keys, as ingesting it today would; return how many there were.

    The archive's keys end in ``lsh_bands``, where folds put them, leaving the small levels
    empty for the articles that arrive next."""
    done = last = 0
    while rows := articles_without_fingerprint(db, last, batch):
        with write_transaction(db):
            for row in rows:
                body = prepare_body(row["text"], row["title_norm"])
                store.set_body_derived(
                    db, row["id"], body_hash=body.body_hash, provenance=body.provenance_json()
                )
                lsh.index_article(db, row["id"], body.fingerprint)
        done += len(rows)
        last = rows[-1]["id"]
    if done:
        with write_transaction(db):
            recent, middle = lsh.level_counts(db)
            if recent:
                lsh.fold_recent(db)
            if recent or middle:
                lsh.fold_middle(db)
    return done


def repair_merged_stories(db: Database) -> int:
    """Finish the merges of earlier versions, which moved a merged story's articles but left
    its alerts, held-back alerts and quotes behind (so an alert sent later described an empty
    story) and let a story merge into one that had merged in turn: each merged story's are
    moved to the story holding its articles now, as a merge does today, and that story is
    recounted. How many merged stories there were."""
    with write_transaction(db):
        merged = store.merged_stories(db)
        for story_id, target in merged:
            store.merge_story(db, target, story_id)
        for target in sorted({target for _, target in merged}):
            store.refresh_story(db, target)
    return len(merged)


# Every task a migration may record, by the name it records.
TASKS: dict[str, Callable[[Database], object]] = {
    "fill_shingles": fill_shingles,
    "index_articles": index_unindexed_articles,
    "repair_merged_stories": repair_merged_stories,
}


def run_derived_tasks(db: Database) -> list[str]:
    """Run each recorded task and clear its record; the names of those run."""
    ran = []
    for name in recorded_tasks(db):
        TASKS[name](db)
        with write_transaction(db):
            clear_task(db, name)
        ran.append(name)
    return ran
