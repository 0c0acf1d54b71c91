"""Building and serving the Datasette front-end over a store, read-only."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from marsad.inspect.metadata import datasette_metadata


def build_datasette(path: Path) -> Any:
    """A Datasette over the store at ``path``, with marsad's metadata and plugin."""
    from datasette.app import Datasette
    from datasette.plugins import pm

    from marsad.inspect import plugin

    if not pm.is_registered(plugin):
        pm.register(plugin, name="marsad")
    # Not --immutable (-i): immutable=1 tells SQLite the file never changes, so it skips locks
    # and the WAL and would show a stale or torn view of a store the daemon is writing. A
    # mutable database in Datasette reads through file:...?mode=ro connections, which see
    # each committed write; the plugin adds PRAGMA query_only to any connection Datasette
    # opens on it, so nothing served here can write.
    return Datasette(
        [str(path)],
        metadata=datasette_metadata(path.stem),
        settings={"truncate_cells_html": 300, "facet_time_limit_ms": 400},
        cors=False,
    )


def serve_store(path: Path, *, host: str, port: int) -> None:
    """Serve the store at ``path`` on ``host:port`` until interrupted."""
    import uvicorn

    datasette = build_datasette(path)
    asyncio.run(datasette.invoke_startup())
    uvicorn.run(datasette.app(), host=host, port=port, log_level="warning", lifespan="on")
