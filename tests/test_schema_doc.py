"""docs/schema.md is generated (`marsad schema`) and must match the migrated schema."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner
from sqlite_utils import Database

from marsad.cli import cli
from marsad.inspect.metadata import COLUMNS, TABLES, schema_markdown
from marsad.storage.queries import schema_objects, table_columns

DOC = Path(__file__).resolve().parents[1] / "docs" / "schema.md"


def test_schema_doc_is_current(store: Database) -> None:
    expected = schema_markdown(store)
    assert DOC.read_text(encoding="utf-8") == expected, (
        "docs/schema.md is stale: regenerate it with `marsad schema > docs/schema.md` "
        "(and describe any new column in marsad/inspect/metadata.py)"
    )


def test_schema_command_prints_the_doc() -> None:
    result = CliRunner().invoke(cli, ["schema"])
    assert result.exit_code == 0
    assert result.stdout == DOC.read_text(encoding="utf-8")


def test_foundation_and_views_are_described(store: Database) -> None:
    # Every table and view of the schema, and each of their columns, has a description; and
    # nothing described is missing from the schema (a rename would leave a stale description).
    present = {obj["name"] for obj in schema_objects(store)}
    assert present == set(TABLES), "describe new tables in marsad/inspect/metadata.py"
    for name in present - {"articles_fts"}:
        columns = {c["name"] for c in table_columns(store, name)}
        assert set(COLUMNS[name]) == columns, f"{name}: columns and descriptions differ"
