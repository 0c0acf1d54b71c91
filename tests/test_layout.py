"""Dependencies flow one way: each room of marsad may import only the rooms below it.

Read from the source with ast (imports inside functions count too), so a new import that
breaks the layering fails here, not in a reader's head.
"""

from __future__ import annotations

import ast
import os
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# What each room may import besides itself. The front-ends (cli, demo, inspect) and the
# daemon sit on top; nothing imports them except the entry point (marsad/__main__.py).
BASE = {"marsad.times", "marsad.retry", "marsad.urls", "marsad.worker_exit", "marsad"}
ALLOWED: dict[str, set[str]] = {
    "marsad.times": set(),
    "marsad.worker_exit": set(),
    "marsad.retry": {"marsad.times"},
    "marsad.urls": set(),
    "marsad.arabic": set(),
    "marsad.storage": {"marsad.arabic", *BASE},
    "marsad.alerts": {"marsad.arabic", "marsad.storage", *BASE},
    "marsad.ingest": {"marsad.arabic", "marsad.storage", "marsad.alerts", *BASE},
    "marsad.crawler": {"marsad.arabic", "marsad.storage", "marsad.alerts", "marsad.ingest", *BASE},
    "marsad.config": {"marsad.storage", "marsad.alerts", "marsad.crawler", *BASE},
    # Cross-lingual matching (pure) and its worker; the store's side is storage.crosslingual.
    "marsad.crosslingual": {"marsad.arabic", "marsad.storage", *BASE},
    # The config file's [[feeds]] edited in place, and OPML in and out (marsad feeds).
    "marsad.feeds_file": {"marsad.config", "marsad.crawler", *BASE},
    "marsad.opml": {"marsad.crawler", "marsad.feeds_file", *BASE},
    "marsad.scheduler": {
        "marsad.storage",
        "marsad.alerts",
        # The cluster's writer stores what fetchers send as the crawl's pipeline does.
        "marsad.ingest",
        "marsad.crawler",
        "marsad.config",
        "marsad.crosslingual",
        *BASE,
    },
    "marsad.inspect": {"marsad.arabic", "marsad.storage", *BASE},
    "marsad.demo": {"marsad.alerts", "marsad.storage", "marsad.config", "marsad.scheduler", *BASE},
    "marsad.cli": {
        "marsad.arabic",
        "marsad.storage",
        "marsad.alerts",
        "marsad.ingest",
        "marsad.crawler",
        "marsad.config",
        "marsad.feeds_file",
        "marsad.opml",
        "marsad.scheduler",
        "marsad.inspect",
        "marsad.demo",
        "marsad.crosslingual",
        *BASE,
    },
}


def _module_files() -> dict[str, Path]:
    """Every module of the package by its dotted name, through the links in marsad/."""
    found: dict[str, Path] = {}
    paths = [
        Path(folder, name)
        for folder, _, names in os.walk(ROOT / "marsad", followlinks=True)
        for name in names
        if name.endswith(".py")
    ]
    for path in sorted(paths):
        parts = path.relative_to(ROOT).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = path
    return found


def _room(module: str) -> str | None:
    rooms = sorted(ALLOWED, key=len, reverse=True)
    return next((r for r in rooms if module == r or module.startswith(r + ".")), None)


def _imports(path: Path, module: str) -> set[str]:
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            out.add(base)
    return {name for name in out if name == "marsad" or name.startswith("marsad.")}


def test_every_room_imports_only_the_rooms_below_it() -> None:
    breaches: dict[str, list[str]] = defaultdict(list)
    modules = _module_files()
    assert "marsad.crawler.spiders.feeds" in modules  # the links are followed
    for module, path in modules.items():
        room = _room(module)
        if room is None:  # marsad/__init__.py and the entry point
            continue
        for target in _imports(path, module):
            target_room = _room(target) or target
            if target_room != room and target_room not in ALLOWED[room]:
                breaches[module].append(target)
    assert dict(breaches) == {}


def test_every_module_belongs_to_a_room() -> None:
    unplaced = [m for m in _module_files() if _room(m) is None]
    assert sorted(unplaced) == ["marsad", "marsad.__main__"]
