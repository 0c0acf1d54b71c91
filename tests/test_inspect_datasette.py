"""`marsad inspect`'s Datasette, in-process: metadata, canned queries, Arabic-aware search,
right-to-left display and read-only connections. (The browser test drives the real server.)"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import pytest

from marsad.inspect.server import build_datasette
from tests.test_cli_inspect import build_store


@pytest.fixture(scope="module")
def datasette(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    directory = tmp_path_factory.mktemp("datasette")
    build_store(directory)
    ds = build_datasette((directory / "store.db").resolve())
    asyncio.run(ds.invoke_startup())
    yield ds
    for database in ds.databases.values():
        database.close()


def get(ds: Any, path: str) -> Any:
    return asyncio.run(ds.client.get(path))


def rows(ds: Any, path: str) -> list[dict[str, Any]]:
    route, _, query = path.partition("?")
    response = get(ds, f"{route}.json?{query}&_shape=array")
    assert response.status_code == 200, response.text
    result: list[dict[str, Any]] = response.json()
    return result


def test_front_page_and_descriptions(datasette: Any) -> None:
    front = get(datasette, "/")
    assert front.status_code == 200 and "marsad (مرصد)" in front.text
    table = get(datasette, "/store/alerts")
    assert "The outbox: one alert per story" in table.text
    assert "Stable key sent with every attempt" in table.text  # a column description


def test_foreign_keys_are_labelled(datasette: Any) -> None:
    page = get(datasette, "/store/alerts").text
    # The article link shows the article's title, not only its id.
    assert "الجيش يعلن الإنسحاب من المدينة" in page


def test_canned_queries(datasette: Any) -> None:
    alerts = rows(datasette, "/store/latest_alerts")
    assert len(alerts) == 4  # all queued today
    assert {a["outlets"] for a in alerts} >= {"النهار, الوطن"}
    assert rows(datasette, "/store/latest_alerts?since=2999-01-01") == []
    stories = rows(datasette, "/store/stories_with_most_outlets")
    assert stories[0]["outlet_count"] == 2
    assert [f["name"] for f in rows(datasette, "/store/failing_feeds")] == ["النهار"]


@pytest.mark.parametrize("query", ["الإنسحاب", "الانْسِحَاب", "الانسحاب"])
def test_search_canned_query_and_table_search(datasette: Any, query: str) -> None:
    found = rows(datasette, f"/store/search_articles?q={quote(query)}")
    assert {r["source"] for r in found} == {"الوطن", "النهار", "الشرق"}
    vocalised = next(r for r in found if r["source"] == "الشرق")
    assert "[الانْسِحَابِ]" in vocalised["snippet"]
    # The table's own search box goes through the same normalisation.
    table = rows(datasette, f"/store/articles?_search={quote(query)}&_col=source")
    assert sorted(r["source"] for r in table) == ["الشرق", "النهار", "الوطن"]


def test_malformed_search_says_why(datasette: Any) -> None:
    found = rows(datasette, f"/store/search_articles?q={quote(chr(34) + 'الانسحاب')}")
    assert found[0]["id"] is None and "unclosed quote" in found[0]["title"]
    assert rows(datasette, "/store/search_articles?q=") == []


def test_read_only(datasette: Any) -> None:
    db = datasette.get_database("store")

    async def write() -> None:
        await db.execute_write("DELETE FROM alerts")

    with pytest.raises(Exception, match=r"readonly|read-only|attempt to write"):
        asyncio.run(write())
    assert len(rows(datasette, "/store/alerts")) == 4


def test_right_to_left(datasette: Any) -> None:
    page = get(datasette, "/store/articles").text
    assert "/-/marsad-rtl.css" in page and "setAttribute('dir', 'auto')" in page
    css = get(datasette, "/-/marsad-rtl.css")
    assert css.status_code == 200 and "unicode-bidi: plaintext" in css.text


def test_database_is_not_immutable(datasette: Any) -> None:
    # Immutable would hide the daemon's writes; read-only mutable sees them.
    assert datasette.get_database("store").is_mutable
