"""Writing every stored article out, one format per writer: JSON lines or CSV."""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Iterable, Mapping
from typing import IO, TYPE_CHECKING, Any

from marsad.storage.articles import iter_articles_for_export

if TYPE_CHECKING:
    from sqlite_utils import Database

EXPORT_COLUMNS = (
    "id",
    "url",
    "canonical_url",
    "guid",
    "source",
    "title",
    "text",
    "author",
    "published",
    "language",
    "extraction",
    "story_id",
    "duplicate_of",
    "similarity",
    "fetched_at",
)


def write_jsonl(rows: Iterable[Mapping[str, Any]], target: IO[str]) -> int:
    count = 0
    for row in rows:
        target.write(json.dumps(dict(row), ensure_ascii=False) + "\n")
        count += 1
    return count


def write_csv(rows: Iterable[Mapping[str, Any]], target: IO[str]) -> int:
    # Spreadsheets read UTF-8 Arabic only with a byte-order mark; RFC 4180 line ends.
    target.write("\ufeff")
    writer = csv.DictWriter(target, fieldnames=EXPORT_COLUMNS, lineterminator="\r\n")
    writer.writeheader()
    count = 0
    for row in rows:
        writer.writerow(row)
        count += 1
    return count


WRITERS: Mapping[str, Callable[[Iterable[Mapping[str, Any]], IO[str]], int]] = {
    "jsonl": write_jsonl,
    "csv": write_csv,
}


def export_articles(db: Database, target: IO[str], fmt: str = "jsonl") -> int:
    """Write every stored article to ``target`` in ``fmt`` (a key of :data:`WRITERS`), oldest
    first; return how many."""
    try:
        writer = WRITERS[fmt]
    except KeyError:
        raise ValueError(f"unknown export format {fmt!r} (known: {', '.join(WRITERS)})") from None
    return writer(iter_articles_for_export(db), target)
