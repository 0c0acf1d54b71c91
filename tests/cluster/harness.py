"""Real processes for the cluster tests: redis-server, the roles of ``marsad run --role``, the
loopback web of bench/webfarm.py and a webhook sink; the store read read-only.

Every wait polls a condition with a deadline; a process that is still running at the end is
killed. Nothing leaves loopback.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PROJECT = Path(__file__).resolve().parents[2]
BENCH = PROJECT / "bench"
if str(BENCH) not in sys.path:
    sys.path.insert(0, str(BENCH))

from crawl_measure import Gaps, same_site_gaps  # noqa: E402  (bench/ on sys.path first)
from webfarm import FarmSpec, Request, WebFarm  # noqa: E402
from webfarm_content import WATCHED_WORD  # noqa: E402

__all__ = [
    "WATCHED_WORD",
    "Cluster",
    "FarmSpec",
    "Gaps",
    "RedisServer",
    "Request",
    "WebFarm",
    "same_site_gaps",
    "wait_for",
]

SECRET_ENV = "MARSAD_CLUSTER_TEST_SECRET"
# What each role logs once it is at work.
READY = {
    "writer": "marsad writer running",
    "scheduler": "marsad scheduler running",
    "fetcher": "taking jobs from",
}
POLL = 0.05
# The longest any one process is given to stop after SIGTERM before it is killed.
STOP_TIMEOUT = 30.0


def wait_for(condition: Callable[[], Any], timeout: float, what: str) -> Any:
    """``condition()`` once it is truthy (polled), or AssertionError after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout:g}s: {what} (last: {value!r})")
        time.sleep(POLL)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class RedisServer:
    """``redis-server`` on 127.0.0.1; ``aof``: an append-only file, so a restart keeps the
    streams (stopped with SIGTERM, Redis writes it out before it exits)."""

    def __init__(
        self, binary: str, workdir: Path, *, aof: bool, password: str | None = None
    ) -> None:
        self.binary = binary
        self.password = password
        self.workdir = workdir
        self.aof = aof
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None
        workdir.mkdir(parents=True, exist_ok=True)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 10.0) -> None:
        args = [
            self.binary,
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--dir",
            str(self.workdir),
            "--save",
            "",
            "--appendonly",
            "yes" if self.aof else "no",
            "--appendfsync",
            "always",
            "--daemonize",
            "no",
            *(["--requirepass", self.password] if self.password else []),
        ]
        log = (self.workdir / "redis.log").open("ab")
        self.process = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)
        log.close()
        wait_for(self.ping, timeout, f"redis-server on port {self.port} answers PING")

    def ping(self) -> bool:
        if self.process is not None and self.process.poll() is not None:
            raise AssertionError(f"redis-server exited with {self.process.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1.0) as sock:
                sock.sendall(b"PING\r\n")
                answer = sock.recv(64)
                # Asked for a password: it listens, which is all this asks.
                return answer.startswith(b"+PONG") or answer.startswith(b"-NOAUTH")
        except OSError:
            return False

    def stop(self, timeout: float = 10.0) -> int:
        """SIGTERM, as an operator or systemd stops it; its return code."""
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait(timeout)

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)

    def client(self) -> Any:
        import redis

        return redis.Redis(
            host="127.0.0.1", port=self.port, password=self.password, socket_timeout=5.0
        )


def _toml(value: object) -> str:
    return json.dumps(value, ensure_ascii=False)  # JSON strings and numbers are TOML


def write_config(
    path: Path,
    *,
    feeds: Sequence[dict[str, Any]],
    redis_url: str | None,
    sink_url: str,
    delay: float,
    every: float = 60.0,
    heartbeat: float = 0.4,
    fetcher_ttl: float = 4.0,
    password_env: str | None = None,
    store: Path | None = None,
    extra: str = "",
) -> Path:
    """A marsad.toml for the farm's feeds: one rule that matches part of the articles, a
    webhook to the sink, and ``[cluster]`` on ``redis_url`` (none when it is None)."""
    lines = [
        "[store]",
        f"path = {_toml(str(store or path.parent / 'marsad.db'))}",
        "",
        "[crawl]",
        'user_agent = "marsad-cluster-test/1.0"',
        'download_timeout = "10s"',
        "concurrency_per_domain = 1",
        f'delay = "{delay:g}s"',
        "max_articles_per_feed = 200",
        'allow_private = ["127.0.0.0/8"]',  # the farm is on loopback
        "",
        "[delivery]",
        'every = "1s"',
        'backoff_base = "1s"',
        'backoff_max = "2s"',
        "",
        "[alerts]",
        'window = "3d"',
        "",
        "[http]",
        'listen = "off"',
        "",
    ]
    if redis_url is not None:
        lines += [
            "[cluster]",
            f"redis_url = {_toml(redis_url)}",
            f'heartbeat = "{heartbeat:g}s"',
            f'fetcher_ttl = "{fetcher_ttl:g}s"',
            *([f"password_env = {_toml(password_env)}"] if password_env else []),
            "",
        ]
    for feed in feeds:
        lines += [
            "[[feeds]]",
            f"name = {_toml(feed['name'])}",
            f"url = {_toml(feed['url'])}",
            f'every = "{every:g}s"',
            f"source = {_toml(feed['source'])}",
            "adaptive = false",
            "",
        ]
    lines += [
        "[[rules]]",
        'name = "minister"',
        f"keywords = [{_toml(WATCHED_WORD)}]",
        'channels = ["sink"]',
        "",
        "[channels.sink]",
        'type = "webhook"',
        f"url = {_toml(sink_url + '/hook')}",
        f"secret_env = {_toml(SECRET_ENV)}",
        'timeout = "5s"',
        "",
        extra,
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def child_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MARSAD_")}
    env[SECRET_ENV] = "cluster-test-secret"
    env["PYTHONUNBUFFERED"] = "1"
    return env


def marsad_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "marsad", *args]


@dataclass
class Role:
    role: str
    name: str
    process: subprocess.Popen[bytes]
    log: Path

    def alive(self) -> bool:
        return self.process.poll() is None

    def text(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")


@dataclass
class Cluster:
    """The roles started for one test, each a ``marsad run --role`` subprocess logging to a
    file of its own in ``workdir``."""

    workdir: Path
    config: Path
    roles: list[Role] = field(default_factory=list)
    killed: list[Role] = field(default_factory=list)
    # Beside child_env(); None: the variable is not set for the roles.
    env: dict[str, str | None] = field(default_factory=dict)

    @property
    def db(self) -> Path:
        return self.config.parent / "marsad.db"

    def start(self, role: str, ident: str | None = None) -> Role:
        count = len(self.roles) + len(self.killed)
        name = f"{role}-{ident or count}-{count}"
        log = self.workdir / f"{name}.log"
        args = ["run", "--role", role, "--config", str(self.config)]
        if ident is not None:
            args += ["--id", ident]
        with log.open("wb") as out:
            process = subprocess.Popen(
                marsad_command(*args),
                stdout=out,
                stderr=subprocess.STDOUT,
                env={k: v for k, v in {**child_env(), **self.env}.items() if v is not None},
                cwd=self.workdir,
            )
        started = Role(role, name, process, log)
        self.roles.append(started)
        return started

    def kill9(self, role: Role) -> None:
        """SIGKILL: no clean-up at all, as a machine that dies. The role counts as gone (a
        restart is a new role)."""
        role.process.send_signal(signal.SIGKILL)
        role.process.wait(10)
        self.roles.remove(role)
        self.killed.append(role)

    def terminate(
        self, role: Role, timeout: float = STOP_TIMEOUT, *, signal_it: bool = True
    ) -> int:
        """SIGTERM and the graceful stop; the return code (killed after ``timeout``). One
        signal only: a second one forces the exit."""
        if role.process.poll() is not None:
            return role.process.returncode
        if signal_it:
            role.process.send_signal(signal.SIGTERM)
        try:
            return role.process.wait(timeout)
        except subprocess.TimeoutExpired:
            role.process.kill()
            role.process.wait(10)
            return -9

    def stop_all(self) -> dict[str, int]:
        """Every role still running stopped with SIGTERM (all signalled first, then waited for):
        the return code of each."""
        running = [r for r in self.roles if r.alive()]
        for role in running:
            role.process.send_signal(signal.SIGTERM)
        codes = {}
        for role in running:
            codes[role.name] = self.terminate(role, signal_it=False)
        return codes

    def kill_all(self) -> None:
        for role in self.roles:
            if role.alive():
                role.process.kill()
                role.process.wait(10)

    def logs(self) -> str:
        """Every role's log, for an assertion's message."""
        return "\n".join(f"==== {r.name}\n{r.text()[-4000:]}" for r in [*self.killed, *self.roles])

    def wait_ready(self, timeout: float = 120.0) -> None:
        """Every role running logged that it is at work (a busy machine takes seconds to
        start a Python process with Scrapy in it: deadlines of the trial start after this)."""

        def ready() -> bool:
            self.assert_alive()
            return all(READY[r.role] in r.text() for r in self.roles if r.alive())

        wait_for(ready, timeout, "every role at work\n" + self.logs())

    def assert_alive(self) -> None:
        dead = [f"{r.name} (rc {r.process.returncode})" for r in self.roles if not r.alive()]
        assert not dead, f"exited: {', '.join(dead)}\n{self.logs()}"

    # -- the store, read-only ------------------------------------------------------------------

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        if not self.db.exists():
            return []
        try:
            with contextlib.closing(
                sqlite3.connect(f"file:{self.db}?mode=ro", uri=True, timeout=10)
            ) as conn:
                return conn.execute(sql, params).fetchall()
        except sqlite3.OperationalError:  # not created yet, or being migrated
            return []

    def stored(self) -> int:
        rows = self.query("SELECT count(*) FROM articles")
        return int(rows[0][0]) if rows else 0

    def canonical_urls(self) -> Counter[str]:
        return Counter(url for (url,) in self.query("SELECT canonical_url FROM articles"))

    def urls(self) -> Counter[str]:
        return Counter(url for (url,) in self.query("SELECT url FROM articles"))

    def article_alerts(self) -> list[tuple[int, str, str, int, str, str]]:
        """(story, rule, channel, follow_up, idempotency key, status) of each article alert."""
        return [
            (int(s), str(r), str(c), int(f), str(k), str(st))
            for s, r, c, f, k, st in self.query(
                "SELECT story_id, rule, channel, follow_up, idempotency_key, status "
                "FROM alerts WHERE kind = 'article'"
            )
        ]

    def matched_stories(self) -> set[int]:
        """The stories of the articles a rule matched (each should have its one alert)."""
        return {
            int(s)
            for (s,) in self.query(
                "SELECT DISTINCT a.story_id FROM matches m JOIN articles a ON a.id = m.article_id"
            )
        }

    def unsent(self) -> int:
        rows = self.query("SELECT count(*) FROM alerts WHERE kind = 'article' AND status != 'sent'")
        return int(rows[0][0]) if rows else -1


@contextlib.contextmanager
def cluster_of(workdir: Path, config: Path) -> Iterator[Cluster]:
    """A :class:`Cluster` whose processes are stopped (SIGTERM, then killed) at the end."""
    cluster = Cluster(workdir, config)
    try:
        yield cluster
    finally:
        try:
            cluster.stop_all()
        finally:
            cluster.kill_all()


# Fetcher ids for a farm of 8 sites (127.88.0.10-17): the first two own 4 sites each, and the
# third, joining, takes 2 of them (rendezvous hashing is fixed by the names: checked in
# test_partition.py).
FIRST, SECOND, JOINING = "north", "south", "west"


def role_figures(redis: Any, role: str, ident: str) -> dict[str, Any]:
    """What a role's last heartbeat said (``P:role:<role>:<id>``), or {} when none is there."""
    raw = redis.get(f"marsad:role:{role}:{ident}")
    return dict(json.loads(raw)) if raw else {}


def farm_expectations(farm: WebFarm) -> set[str]:
    """The URL of every article the farm lists."""
    return {str(entry["url"]) for entry in farm.info["entries"]}
