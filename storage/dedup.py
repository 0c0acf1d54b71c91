"""Deciding whether an incoming article is a copy of one the store already holds.

Layers from cheap to expensive; the first that decides wins. Today: the exact normalised-body
hash. (Same canonical URL and same GUID are caught before this, as the same article.)
"""

from __future__ import annotations

from sqlite_utils import Database

from storage.articles import find_original_by_body_hash
from storage.models import DuplicateVerdict


def find_duplicate(
    db: Database, *, title_norm: str, text_norm: str, body_hash: str
) -> DuplicateVerdict | None:
    found = find_original_by_body_hash(db, body_hash)
    if found is None:
        return None
    original_id, story_id = found
    return DuplicateVerdict(
        original_id=original_id,
        story_id=story_id,
        similarity=1.0,
        evidence={"layer": "body_hash"},
    )
