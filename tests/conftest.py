"""Shared test helpers: where ../shared is, and stores that close themselves."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path

import pytest
from sqlite_utils import Database

from marsad.alerts.matching import Match, compile_rules
from marsad.alerts.rules import Rule
from marsad.storage.db import open_store

SHARED = Path(__file__).resolve().parents[1].parent / "shared"


def shared_path(*parts: str) -> Path:
    """A file under ../shared, or skip the test with the reason when this clone has none."""
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"{path} not found: ../shared/ (project data) is not beside this checkout")
    return path


@pytest.fixture
def store() -> Iterator[Database]:
    db = open_store(":memory:")
    yield db
    db.close()


def match_rules(rules: Iterable[Rule], title: str, text: str) -> list[Match]:
    """Compile ``rules`` and match one article: what a test of one case needs."""
    return compile_rules(rules).match(title, text)
