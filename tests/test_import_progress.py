"""`marsad import` says how far it is: after each line the importer tells its caller; the CLI
shows a bar on a terminal and a line now and then otherwise."""

from __future__ import annotations

import gzip
import io
from pathlib import Path

from marsad.alerts.matching import compile_rules
from marsad.cli.articles import ProgressLines, import_progress
from marsad.ingest.importer import ImportProgress, describe_progress, import_file
from marsad.storage.db import open_store
from tests.test_import_lines import good


def write_lines(path: Path, count: int, *, bad_at: int | None = None) -> Path:
    lines = ["{not json" if n == bad_at else good(n) for n in range(1, count + 1)]
    data = ("\n".join(lines) + "\n").encode("utf-8")
    path.write_bytes(gzip.compress(data) if path.suffix == ".gz" else data)
    return path


def progress_of(path: Path, tmp_path: Path) -> list[ImportProgress]:
    seen: list[ImportProgress] = []
    db = open_store(tmp_path / "store.db")
    try:
        import_file(db, path, compile_rules(()), batch=4, on_progress=seen.append)
    finally:
        db.close()
    return seen


def test_the_importer_reports_every_line_with_how_far_into_the_file(tmp_path: Path) -> None:
    path = write_lines(tmp_path / "a.jsonl", 10, bad_at=5)
    seen = progress_of(path, tmp_path)
    assert [p.line for p in seen] == list(range(1, 11))
    assert all(p.total_bytes == path.stat().st_size for p in seen)
    assert all(p.read_bytes is not None and 0 < p.read_bytes <= p.total_bytes for p in seen)
    last = seen[-1]
    assert (last.stored, last.known, last.bad) == (9, 0, 1)
    assert last.fraction == 1.0
    # Counts never go back, across the batches' commits.
    assert [p.stored + p.bad for p in seen] == list(range(1, 11))


def test_a_gzip_files_progress_is_through_its_compressed_bytes(tmp_path: Path) -> None:
    path = write_lines(tmp_path / "a.jsonl.gz", 6)
    seen = progress_of(path, tmp_path)
    assert [p.line for p in seen] == list(range(1, 7))
    assert all(p.total_bytes == path.stat().st_size for p in seen)
    assert seen[-1].fraction == 1.0 and seen[-1].stored == 6


def test_off_a_terminal_a_line_comes_every_so_often() -> None:
    out = io.StringIO()
    now = [0.0]
    lines = ProgressLines(out, every=10.0, clock=lambda: now[0])
    for second in range(1, 26):
        now[0] = float(second)
        lines.update(ImportProgress(second * 100, second * 1024, 25 * 1024, second * 90, 5, 1))
    assert out.getvalue().splitlines() == [
        "import: line 1,000 (40% of 25.0 KB): 900 stored, 5 already held, 1 bad; 100 lines/s",
        "import: line 2,000 (80% of 25.0 KB): 1,800 stored, 5 already held, 1 bad; 100 lines/s",
    ]


def test_a_pipe_has_no_share_to_show() -> None:
    line = describe_progress(ImportProgress(500, None, None, 480, 10, 10), 5.0)
    assert line == "import: line 500: 480 stored, 10 already held, 10 bad; 100 lines/s"


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_on_a_terminal_a_bar_is_drawn(tmp_path: Path) -> None:
    out = Terminal()
    with import_progress(tmp_path / "big.jsonl", stream=out) as update:
        update(ImportProgress(50, 512, 1024, 48, 1, 1))
        update(ImportProgress(100, 1024, 1024, 97, 2, 1))
    drawn = out.getvalue()
    assert "import big.jsonl" in drawn
    assert "100%" in drawn and "97 stored, 2 held, 1 bad" in drawn
    not_a_terminal = io.StringIO()
    with import_progress(tmp_path / "big.jsonl", stream=not_a_terminal) as update:
        update(ImportProgress(100, 1024, 1024, 97, 2, 1))
    assert not_a_terminal.getvalue() == ""  # nothing before its first 10 s
