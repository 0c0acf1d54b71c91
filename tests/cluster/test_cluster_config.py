"""``[cluster]`` and ``marsad run --role`` at the edge (#16): a role without a cluster, a
password in the URL, the password from the environment."""

from __future__ import annotations

import shutil
import subprocess
from typing import TYPE_CHECKING

import pytest

from marsad.config import ConfigError, load_config
from tests.cluster.harness import (
    SECRET_ENV,
    RedisServer,
    child_env,
    cluster_of,
    marsad_command,
    wait_for,
    write_config,
)

if TYPE_CHECKING:
    from pathlib import Path

FEEDS = [{"name": "quiet", "url": "http://127.0.0.1:9/feed.xml", "source": "quiet"}]
PASSWORD_ENV = "CLUSTER_TEST_REDIS_PASSWORD"


def _cluster_toml(tmp_path: Path, table: str) -> Path:
    path = tmp_path / "marsad.toml"
    path.write_text(
        "[[feeds]]\nname = 'a'\nurl = 'https://example.org/rss'\n\n[cluster]\n" + table,
        encoding="utf-8",
    )
    return path


@pytest.mark.parametrize(
    "url",
    [
        "redis://127.0.0.1:6379/0",
        "rediss://marsad@redis.example.org:6380/1",  # a user name alone is no secret
        "unix:///run/redis/redis.sock",
    ],
)
def test_a_url_without_a_password_is_taken(tmp_path: Path, url: str) -> None:
    config = load_config(_cluster_toml(tmp_path, f"redis_url = '{url}'\n"))
    assert config.cluster is not None and config.cluster.redis_url == url


@pytest.mark.parametrize(
    "url",
    [
        "redis://:hunter2@127.0.0.1:6379/0",
        "redis://marsad:hunter2@127.0.0.1:6379/0",
        "rediss://default:hunter2@redis.example.org:6380/1",
        "unix://:hunter2@/run/redis/redis.sock",
        # redis-py takes a password from the query too (and it wins over password_env).
        "redis://127.0.0.1:6379/0?password=hunter2",
    ],
)
def test_a_password_in_the_url_is_a_config_error(tmp_path: Path, url: str) -> None:
    with pytest.raises(ConfigError, match=r"cluster\.redis_url: must not hold a password"):
        load_config(_cluster_toml(tmp_path, f"redis_url = '{url}'\n"))


def test_a_ttl_shorter_than_two_heartbeats_is_a_config_error(tmp_path: Path) -> None:
    table = "redis_url = 'redis://127.0.0.1/0'\nheartbeat = '2s'\nfetcher_ttl = '3s'\n"
    with pytest.raises(ConfigError, match=r"cluster\.fetcher_ttl: must be at least twice"):
        load_config(_cluster_toml(tmp_path, table))


def _run(
    config: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        marsad_command("run", "--config", str(config), *args),
        capture_output=True,
        text=True,
        timeout=120,
        env={**child_env(), **(env or {})},
    )


@pytest.mark.parametrize("role", ["fetcher", "writer"])
def test_a_role_without_a_cluster_exits_2_saying_so_in_one_line(tmp_path: Path, role: str) -> None:
    config = write_config(
        tmp_path / "marsad.toml",
        feeds=FEEDS,
        redis_url=None,
        sink_url="http://127.0.0.1:9",
        delay=0,
    )
    done = _run(config, "--role", role)
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert "[cluster]" in lines[0] and "redis_url" in lines[0]
    assert not (tmp_path / "marsad.db").exists(), "a role refused must not create the store"


def _redis_with_password(tmp_path: Path, password: str) -> RedisServer:
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("redis-server is not on PATH: the cluster tests need a real Redis")
    server = RedisServer(binary, tmp_path / "redis", aof=False, password=password)
    server.start()
    return server


def _password_config(tmp_path: Path, server: RedisServer) -> Path:
    """A config on ``server`` whose password is read from PASSWORD_ENV."""
    return write_config(
        tmp_path / "marsad.toml",
        feeds=FEEDS,
        redis_url=server.url,
        sink_url="http://127.0.0.1:9",
        delay=0.2,
        password_env=PASSWORD_ENV,
    )


def test_the_password_comes_from_the_environment(tmp_path: Path) -> None:
    server = _redis_with_password(tmp_path, "s3cret-for-test")
    try:
        config = _password_config(tmp_path, server)
        unset = _run(config, "--role", "fetcher", "--id", "f1")
        assert unset.returncode == 2
        assert PASSWORD_ENV in unset.stderr and "unset" in unset.stderr
        assert len(unset.stderr.strip().splitlines()) == 1, unset.stderr
        redis = server.client()
        with cluster_of(tmp_path, config) as cluster:
            cluster.env[PASSWORD_ENV] = "s3cret-for-test"
            fetcher = cluster.start("fetcher", "f1")
            wait_for(
                lambda: redis.zscore("marsad:fetchers", "f1") is not None or not fetcher.alive(),
                60,
                "the fetcher's heartbeat with the password",
            )
            cluster.assert_alive()
            assert cluster.terminate(fetcher) == 0, cluster.logs()
    finally:
        server.kill()


def test_a_wrong_password_exits_2_instead_of_waiting_for_ever(tmp_path: Path) -> None:
    server = _redis_with_password(tmp_path, "s3cret-for-test")
    try:
        config = _password_config(tmp_path, server)
        with cluster_of(tmp_path, config) as cluster:
            cluster.env[PASSWORD_ENV] = "not-the-password"
            fetcher = cluster.start("fetcher", "f1")
            # A password that Redis refuses will not work on the next attempt either.
            wait_for(lambda: not fetcher.alive(), 60, "the fetcher gives up\n" + cluster.logs())
            assert fetcher.process.returncode == 2, cluster.logs()
    finally:
        server.kill()


def test_a_fetcher_needs_no_store_and_no_channel_secret(tmp_path: Path) -> None:
    """A fetcher runs on a machine without the store: its [store] path leads nowhere there,
    and the channels' secrets are the writer's business."""
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("redis-server is not on PATH: the cluster tests need a real Redis")
    server = RedisServer(binary, tmp_path / "redis", aof=False)
    server.start()
    store = tmp_path / "not-on-this-machine" / "marsad.db"
    try:
        config = write_config(
            tmp_path / "marsad.toml",
            feeds=FEEDS,
            redis_url=server.url,
            sink_url="http://127.0.0.1:9",
            delay=0.2,
            store=store,
        )
        redis = server.client()
        with cluster_of(tmp_path, config) as cluster:
            cluster.env[SECRET_ENV] = None  # the webhook's secret is not set on this machine
            fetcher = cluster.start("fetcher", "f1")
            wait_for(
                lambda: redis.zscore("marsad:fetchers", "f1") is not None or not fetcher.alive(),
                60,
                "the fetcher's heartbeat",
            )
            cluster.assert_alive()
            assert cluster.terminate(fetcher) == 0, cluster.logs()
        assert not store.parent.exists()
    finally:
        server.kill()
