"""Fixtures of the cluster tests (#16): a real ``redis-server`` on a free loopback port.

The tests that need it skip, saying why, where ``redis-server`` is not on PATH (``.ci/run``
installs Debian's). The server is always killed at teardown.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cluster.harness import RedisServer


def _redis_binary() -> str:
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip(
            "redis-server is not on PATH: the cluster tests need a real Redis "
            "(apt-get install redis-server)"
        )
    return binary


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    """A Redis without persistence: what it holds dies with it."""
    server = RedisServer(_redis_binary(), tmp_path / "redis", aof=False)
    server.start()
    try:
        yield server
    finally:
        server.kill()


@pytest.fixture
def redis_aof(tmp_path: Path) -> Iterator[RedisServer]:
    """A Redis with an append-only file, for tests that stop it and start it again."""
    server = RedisServer(_redis_binary(), tmp_path / "redis", aof=True)
    server.start()
    try:
        yield server
    finally:
        server.kill()
