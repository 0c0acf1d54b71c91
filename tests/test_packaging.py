"""The installed package: one import name, marsad, and no code reaching around it."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# The owner's rooms at the top of the repository, reached as marsad.<room> (marsad/ links).
ROOMS = ("alerts", "crawler", "scheduler", "storage")


def _package_sources() -> list[Path]:
    files = [p for p in (ROOT / "marsad").rglob("*.py") if not p.is_symlink()]
    for room in ROOMS:
        files.extend((ROOT / room).rglob("*.py"))
    return files


@pytest.mark.slow
def test_the_wheel_adds_exactly_one_top_level_package(tmp_path: Path) -> None:
    # Built from a copy, links kept as links, so the build leaves nothing in the checkout.
    source = tmp_path / "source"
    skip = shutil.ignore_patterns(".*", "build", "*.egg-info", "__pycache__", "marsad-demo")
    shutil.copytree(ROOT, source, symlinks=True, ignore=skip)
    pip = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q"]
    subprocess.run([*pip, "-w", str(tmp_path), str(source)], check=True, timeout=300)
    (wheel,) = tmp_path.glob("marsad-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    top = {name.split("/")[0] for name in names if not name.split("/")[0].endswith(".dist-info")}
    assert top == {"marsad"}
    # Every room is inside, not just the links.
    for room in ROOMS:
        assert f"marsad/{room}/__init__.py" in names
    assert "marsad/crawler/spiders/feeds.py" in names
    assert "marsad/py.typed" in names
    assert "marsad/scheduler/marsad.service" in names  # the systemd unit the README installs


def test_every_room_is_linked_into_the_package() -> None:
    for room in ROOMS:
        link = ROOT / "marsad" / room
        assert link.is_symlink(), f"marsad/{room} must be a link to ../{room}"
        assert link.resolve() == (ROOT / room).resolve()


def test_no_module_imports_a_room_by_its_bare_name() -> None:
    bare = {*ROOMS, "arabic"}
    offenders = []
    for path in _package_sources():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            else:
                continue
            offenders += [f"{path}:{node.lineno}" for n in names if n.split(".")[0] in bare]
    assert offenders == []
