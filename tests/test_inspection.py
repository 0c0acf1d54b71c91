"""marsad.storage.inspection: the answers the inspection commands print, as library calls."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlite_utils import Database

from marsad.storage import inspection
from marsad.storage.db import open_store
from tests.test_cli_inspect import build_store


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Database]:
    directory: Path = tmp_path_factory.mktemp("inspection")
    build_store(directory)
    store = open_store(directory / "store.db")
    yield store
    store.close()


def test_search_gives_snippets_in_the_original_spelling(db: Database) -> None:
    results = inspection.search(db, "الانسحاب")
    assert {r["source"] for r in results} == {"الوطن", "النهار", "الشرق"}
    vocalised = next(r for r in results if r["source"] == "الشرق")
    start, end = vocalised["hits"][0]
    assert vocalised["snippet"][start:end] == "الانْسِحَابِ"
    assert "text" not in vocalised


def test_search_errors_say_what_is_wrong(db: Database) -> None:
    with pytest.raises(inspection.InspectionError, match="quote"):
        inspection.search(db, '"unclosed')


def test_show_by_url_spelling_and_by_story(db: Database) -> None:
    by_url = inspection.show(db, "HTTPS://alnahar.example/a/77?utm_source=x")
    assert by_url["article"]["source"] == "النهار"
    assert by_url["article"]["duplicate_of"] == 1
    assert [a["source"] for a in by_url["articles"]] == ["الوطن", "النهار"]
    by_story = inspection.show(db, str(by_url["story"]["story_id"]), is_story=True)
    assert by_story["article"]["id"] == 1 and by_story["alerts"] == by_url["alerts"]
    with pytest.raises(inspection.InspectionError, match="no article nowhere"):
        inspection.show(db, "nowhere")
    with pytest.raises(inspection.InspectionError, match="no story 999"):
        inspection.show(db, "999", is_story=True)


def test_retry_alert_refuses_a_sent_one_and_requeues_a_dead_one(db: Database) -> None:
    with pytest.raises(inspection.InspectionError, match="already sent"):
        inspection.retry_alert(db, 1, "2024-05-04T00:00:00Z")
    before = inspection.retry_alert(db, 2, "2024-05-04T00:00:00Z")
    assert before["status"] == "dead"
    assert inspection.show(db, "1")["alerts"][1]["status"] == "pending"
    with pytest.raises(inspection.InspectionError, match="no alert 99"):
        inspection.retry_alert(db, 99, "2024-05-04T00:00:00Z")


def test_stats_counts_what_was_stored_per_day(db: Database) -> None:
    now = datetime.now(UTC)
    result = inspection.stats(db, days=3, now=now)
    assert result["totals"]["articles"] == 5
    (day,) = result["per_day"]  # the import stored everything at once
    assert (day["articles"], day["copies"]) == (5, 1)
    assert inspection.stats(db, days=1, now=now.replace(year=now.year + 1))["per_day"] == []
