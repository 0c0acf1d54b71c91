"""The crawl benchmark's loopback web: many news sites, each on its own 127.x.y.z address.

    python bench/webfarm.py SPEC.json      # run by :class:`WebFarm`, in a process of its own

It runs in its own process so that its CPU is not counted as the crawler's. One asyncio loop
serves every site (HTTP/1.1, keep-alive, gzip, ETag and Last-Modified with 304s); each site
has its own robots.txt, several feeds (RSS 2.0, Atom; windows-1256 on one site in five) and its
article pages (:mod:`webfarm_content`). Every request is logged with a monotonic timestamp
(``time.monotonic`` is the system-wide CLOCK_MONOTONIC, so the benchmark's own timestamps compare
with it), the site, what was asked for and the answer. On command it publishes new entries at a
known rate, recording each one's publish time.

The benchmark talks to it on stdin/stdout, one JSON object a line: the farm prints ``ready``
with its sites, feeds and entries once it listens, then answers each command
(``flush``, ``counts``, ``publish``, ``quit``) with one line.
"""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import json
import os
import random
import select
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from email.utils import format_datetime
from pathlib import Path
from types import TracebackType
from typing import Any, TextIO

sys.path.insert(0, str(Path(__file__).resolve().parent))

from webfarm_content import (
    ROBOTS,
    Entry,
    Feed,
    Site,
    TextPool,
    article_page,
    content_type,
    entry_path,
    load_pool,
    make_feeds,
    make_site,
    render_feed,
    site_address,
    utc,
)

AUTHORS = (
    "سارة العتيبي",
    "محمد الغامدي",
    "فاطمة الزهراني",
    "خالد الشمري",
    "نورة القحطاني",
    "وكالات",
)
# The longest header block a request may send; a client that sends more is not a crawler.
MAX_HEAD = 64 * 1024
COMMAND_TIMEOUT = 60.0
START_TIMEOUT = 180.0


@dataclass(frozen=True)
class FarmSpec:
    sites: int
    feeds: int
    initial: int  # entries listed from the start, dealt round the feeds
    extra: int = 0  # entries kept ready to publish later
    window: int = 50  # entries a feed lists, newest first
    seed: int = 1
    age_hours: float = 12.0  # initial entries were published within this many hours
    generate: bool = False  # made-up text even when the dev stream is there
    project: str = str(Path(__file__).resolve().parents[1])


@dataclass(frozen=True)
class Request:
    t: float  # monotonic, when the request's head had arrived
    site: int
    kind: str  # robots, feed, article, other
    ref: int  # the feed's index for a feed, the entry's number for an article, else -1
    status: int
    size: int


@dataclass(frozen=True)
class Published:
    number: int
    feed: int
    site: int
    path: str
    url: str
    t: float  # monotonic
    wall: float  # time.time()


# -- the server (in its own process) -----------------------------------------------------------


@dataclass
class _Resource:
    body: bytes
    gz: bytes
    content_type: str
    etag: str
    last_modified: str
    kind: str
    ref: int


def _resource(body: bytes, ctype: str, kind: str, ref: int, modified: float) -> _Resource:
    etag = f'"{hashlib.blake2b(body, digest_size=8).hexdigest()}"'
    return _Resource(
        body,
        gzip.compress(body, compresslevel=6, mtime=0),
        ctype,
        etag,
        format_datetime(utc(modified), usegmt=True),
        kind,
        ref,
    )


@dataclass
class _SiteState:
    site: Site
    feeds: list[Feed]
    pages: dict[str, _Resource] = field(default_factory=dict)
    feed_by_path: dict[str, Feed] = field(default_factory=dict)
    entries: list[Entry] = field(default_factory=list)


class Farm:
    def __init__(self, spec: FarmSpec, ports: list[int], log_dir: Path) -> None:
        self.spec = spec
        self.rng = random.Random(spec.seed)
        self.pool: TextPool = load_pool(
            Path(spec.project),
            seed=spec.seed,
            needed=spec.initial + spec.extra,
            generate=spec.generate,
        )
        self.sites = [
            _SiteState(make_site(i, port), []) for i, port in enumerate(ports[: spec.sites])
        ]
        self.feeds = make_feeds(spec.sites, spec.feeds)
        for feed in self.feeds:
            state = self.sites[feed.site]
            state.feeds.append(feed)
            state.feed_by_path[feed.path] = feed
        self.feed_entries: list[list[Entry]] = [[] for _ in self.feeds]
        self.feed_cache: dict[int, _Resource] = {}
        self.feed_modified: list[float] = [time.time()] * len(self.feeds)
        self.next_number = 100_000
        self.requests: list[tuple[float, int, str, int, int, int]] = []
        self.requests_total = 0
        self.feeds_polled: set[int] = set()
        self.pages_fetched = 0
        self.published: list[Published] = []
        self.published_total = 0
        self.publishing = False
        self.request_log = (log_dir / "requests.tsv").open("a", encoding="utf-8")
        self.publish_log = (log_dir / "published.jsonl").open("a", encoding="utf-8")
        self.robots = _resource(ROBOTS, "text/plain; charset=utf-8", "robots", -1, time.time())
        now = time.time()
        initial = sorted(
            (now - self.rng.uniform(60, spec.age_hours * 3600) for _ in range(spec.initial)),
        )
        self.initial_entries = [
            self._add(i % len(self.feeds), moment) for i, moment in enumerate(initial)
        ]

    def _add(self, feed_index: int, moment: float) -> Entry:
        feed = self.feeds[feed_index]
        state = self.sites[feed.site]
        number = self.next_number
        self.next_number += 1
        published = utc(moment)
        entry = Entry(
            number=number,
            feed=feed_index,
            text=self.pool.text(number - 100_000),
            published=published,
            path=entry_path(feed, number, published),
            author=self.rng.choice(AUTHORS),
        )
        related = state.entries[-20:][::-1]
        body = article_page(state.site, feed, entry, related, state.feeds)
        ctype = content_type("html", state.site.encoding)
        state.pages[entry.path] = _resource(body, ctype, "article", number, moment)
        state.entries.append(entry)
        self.feed_entries[feed_index].append(entry)
        self.feed_cache.pop(feed_index, None)
        self.feed_modified[feed_index] = moment
        return entry

    def feed_resource(self, feed: Feed) -> _Resource:
        cached = self.feed_cache.get(feed.index)
        if cached is None:
            site = self.sites[feed.site].site
            listed = self.feed_entries[feed.index][-self.spec.window :][::-1]
            modified = self.feed_modified[feed.index]
            body = render_feed(site, feed, listed, utc(modified))
            ctype = content_type(feed.format, site.encoding)
            cached = _resource(body, ctype, "feed", feed.index, modified)
            self.feed_cache[feed.index] = cached
        return cached

    def answer(self, site_index: int, head: bytes) -> tuple[bytes, bool]:
        """The response to one request head, and whether to keep the connection."""
        t = time.monotonic()
        lines = head.decode("latin-1").split("\r\n")
        try:
            method, target, version = lines[0].split(" ", 2)
        except ValueError:
            return (
                b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                False,
            )
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        state = self.sites[site_index]
        path = target.split("?", 1)[0]
        resource: _Resource | None
        if path == "/robots.txt":
            resource = self.robots
        elif path in state.feed_by_path:
            resource = self.feed_resource(state.feed_by_path[path])
        else:
            resource = state.pages.get(path)
        keep = headers.get("connection", "").lower() != "close" and version == "HTTP/1.1"
        connection = b"keep-alive" if keep else b"close"
        if resource is None or method not in ("GET", "HEAD"):
            self._log(t, site_index, "other", -1, 404, 0)
            return (
                b"HTTP/1.1 404 Not Found\r\nContent-Type: text/plain\r\nContent-Length: 9\r\n"
                b"Connection: " + connection + b"\r\n\r\nnot found",
                keep,
            )
        if resource.kind == "feed":
            self.feeds_polled.add(resource.ref)
        elif resource.kind == "article":
            self.pages_fetched += 1
        common = (
            (
                f"Date: {format_datetime(utc(time.time()), usegmt=True)}\r\nServer: webfarm\r\n"
                f"ETag: {resource.etag}\r\nLast-Modified: {resource.last_modified}\r\n"
                "Cache-Control: max-age=60\r\nVary: Accept-Encoding\r\n"
            ).encode()
            + b"Connection: "
            + connection
            + b"\r\n"
        )
        etags = headers.get("if-none-match")
        since = headers.get("if-modified-since")
        if (etags and resource.etag in etags) or (not etags and since == resource.last_modified):
            self._log(t, site_index, resource.kind, resource.ref, 304, 0)
            return b"HTTP/1.1 304 Not Modified\r\n" + common + b"\r\n", keep
        gz = "gzip" in headers.get("accept-encoding", "")
        body = resource.gz if gz else resource.body
        self._log(t, site_index, resource.kind, resource.ref, 200, len(body))
        head_out = (
            b"HTTP/1.1 200 OK\r\n"
            + common
            + f"Content-Type: {resource.content_type}\r\nContent-Length: {len(body)}\r\n".encode()
            + (b"Content-Encoding: gzip\r\n" if gz else b"")
            + b"\r\n"
        )
        return (head_out if method == "HEAD" else head_out + body), keep

    def _log(self, t: float, site: int, kind: str, ref: int, status: int, size: int) -> None:
        self.requests.append((t, site, kind, ref, status, size))
        self.requests_total += 1

    def publish_one(self) -> Published:
        feed_index = self.rng.randrange(len(self.feeds))
        wall = time.time()
        entry = self._add(feed_index, wall)
        feed = self.feeds[feed_index]
        site = self.sites[feed.site].site
        record = Published(
            entry.number,
            feed_index,
            feed.site,
            entry.path,
            f"{site.base_url}{entry.path}",
            time.monotonic(),
            wall,
        )
        self.published.append(record)
        self.published_total += 1
        return record

    async def publish(self, rate: float, count: int) -> None:
        loop = asyncio.get_running_loop()
        start = loop.time()
        self.publishing = True
        try:
            for k in range(count):
                await asyncio.sleep(max(0.0, start + k / rate - loop.time()))
                self.publish_one()
        finally:
            self.publishing = False

    def flush(self) -> None:
        self.request_log.write(
            "".join(
                f"{t:.6f}\t{site}\t{kind}\t{ref}\t{status}\t{size}\n"
                for t, site, kind, ref, status, size in self.requests
            )
        )
        self.requests.clear()
        self.publish_log.write("".join(json.dumps(asdict(p)) + "\n" for p in self.published))
        self.published.clear()
        self.request_log.flush()
        self.publish_log.flush()

    def ready(self) -> dict[str, Any]:
        def entry_row(e: Entry) -> dict[str, Any]:
            site = self.sites[self.feeds[e.feed].site].site
            return {"number": e.number, "feed": e.feed, "url": f"{site.base_url}{e.path}"}

        return {
            "ready": True,
            "text": self.pool.origin,
            "sites": [
                {"name": s.site.name, "url": s.site.base_url, "encoding": s.site.encoding}
                for s in self.sites
            ],
            "feeds": [
                {
                    "name": f.name,
                    "url": f"{self.sites[f.site].site.base_url}{f.path}",
                    "site": f.site,
                    "source": self.sites[f.site].site.name,
                    "format": f.format,
                    "encoding": self.sites[f.site].site.encoding,
                }
                for f in self.feeds
            ],
            "entries": [entry_row(e) for e in self.initial_entries],
        }


class _Http(asyncio.Protocol):
    def __init__(self, farm: Farm, site: int) -> None:
        self.farm = farm
        self.site = site
        self.buffer = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        assert self.transport is not None
        self.buffer += data
        while True:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                if len(self.buffer) > MAX_HEAD:
                    self.transport.close()
                return
            head, self.buffer = self.buffer[:end], self.buffer[end + 4 :]
            response, keep = self.farm.answer(self.site, head)
            self.transport.write(response)
            if not keep:
                self.transport.close()
                return


def _bind(count: int) -> list[socket.socket]:
    sockets = []
    for index in range(count):
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((site_address(index), 0))
        sock.listen(128)
        sock.setblocking(False)
        sockets.append(sock)
    return sockets


async def _serve(spec: FarmSpec, log_dir: Path) -> None:
    loop = asyncio.get_running_loop()
    sockets = _bind(spec.sites)
    farm = Farm(spec, [s.getsockname()[1] for s in sockets], log_dir)
    servers = [
        await loop.create_server(lambda i=i: _Http(farm, i), sock=sock)  # type: ignore[misc]
        for i, sock in enumerate(sockets)
    ]
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    out = sys.stdout

    def say(message: dict[str, Any]) -> None:
        out.write(json.dumps(message, ensure_ascii=False) + "\n")
        out.flush()

    say(farm.ready())
    tasks: set[asyncio.Task[None]] = set()
    while True:
        line = await reader.readline()
        if not line:  # the benchmark went away
            break
        command = json.loads(line)
        name = command.get("cmd")
        if name == "flush":
            farm.flush()
            say({"ok": True})
        elif name == "counts":
            say(
                {
                    "requests": farm.requests_total,
                    "feeds_polled": len(farm.feeds_polled),
                    "pages": farm.pages_fetched,
                    "published": farm.published_total,
                    "publishing": farm.publishing,
                }
            )
        elif name == "publish":
            task = asyncio.create_task(farm.publish(float(command["rate"]), int(command["count"])))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
            say({"ok": True})
        elif name == "quit":
            break
        else:
            say({"error": f"unknown command {name!r}"})
    for task in tasks:
        task.cancel()
    farm.flush()
    for server in servers:
        server.close()
    say({"ok": True, "bye": True})


def serve_main(argv: list[str]) -> None:
    spec_path = Path(argv[0])
    spec = FarmSpec(**json.loads(spec_path.read_text(encoding="utf-8")))
    asyncio.run(_serve(spec, spec_path.parent))


# -- the handle the benchmark holds ------------------------------------------------------------


class WebFarm:
    """Starts the farm's process in ``workdir`` and talks to it; a context manager."""

    def __init__(self, spec: FarmSpec, workdir: Path) -> None:
        self.spec = spec
        self.workdir = workdir
        workdir.mkdir(parents=True, exist_ok=True)
        (workdir / "spec.json").write_text(json.dumps(asdict(spec)), encoding="utf-8")
        self._stderr: TextIO | None = None
        self._process: subprocess.Popen[str] | None = None
        self._request_offset = 0
        self._publish_offset = 0
        self.info: dict[str, Any] = {}

    def __enter__(self) -> WebFarm:
        self._stderr = (self.workdir / "farm.stderr").open("w", encoding="utf-8")
        self._process = subprocess.Popen(
            [sys.executable, __file__, str(self.workdir / "spec.json")],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            text=True,
            encoding="utf-8",
        )
        # Rendering and compressing thousands of pages takes a while on a busy machine.
        self.info = self._read(START_TIMEOUT)
        if not self.info.get("ready"):
            raise RuntimeError(f"web farm did not start: {self.info}")
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        process = self._process
        if process is None:
            return
        try:
            if process.poll() is None:
                self.command(cmd="quit")
                process.wait(timeout=10)
        except (OSError, RuntimeError, subprocess.TimeoutExpired):
            process.kill()
            process.wait(timeout=10)
        finally:
            for stream in (process.stdin, process.stdout):
                if stream is not None:
                    stream.close()
            if self._stderr is not None:
                self._stderr.close()

    @property
    def pid(self) -> int:
        assert self._process is not None
        return self._process.pid

    def _read(self, timeout: float) -> dict[str, Any]:
        process = self._process
        assert process is not None and process.stdout is not None
        ready, _, _ = select.select([process.stdout], [], [], timeout)
        line = process.stdout.readline() if ready else ""
        if not line:
            error = (self.workdir / "farm.stderr").read_text(encoding="utf-8")[-3000:]
            raise RuntimeError(f"web farm did not answer within {timeout:.0f}s: {error}")
        answer: dict[str, Any] = json.loads(line)
        return answer

    def command(self, **command: Any) -> dict[str, Any]:
        process = self._process
        assert process is not None and process.stdin is not None
        process.stdin.write(json.dumps(command) + "\n")
        process.stdin.flush()
        return self._read(COMMAND_TIMEOUT)

    def counts(self) -> dict[str, Any]:
        return self.command(cmd="counts")

    def publish(self, rate: float, count: int) -> None:
        self.command(cmd="publish", rate=rate, count=count)

    def new_requests(self) -> list[Request]:
        """The requests logged since the last call."""
        self.command(cmd="flush")
        with (self.workdir / "requests.tsv").open(encoding="utf-8") as log:
            log.seek(self._request_offset)
            text = log.read()
            self._request_offset = log.tell()
        return list(_parse_requests(text))

    def new_published(self) -> list[Published]:
        self.command(cmd="flush")
        with (self.workdir / "published.jsonl").open(encoding="utf-8") as log:
            log.seek(self._publish_offset)
            text = log.read()
            self._publish_offset = log.tell()
        return [Published(**json.loads(line)) for line in text.splitlines() if line]

    def cpu_seconds(self) -> float:
        return process_cpu(self.pid)


def _parse_requests(text: str) -> Iterator[Request]:
    for line in text.splitlines():
        t, site, kind, ref, status, size = line.split("\t")
        yield Request(float(t), int(site), kind, int(ref), int(status), int(size))


_TICKS = os.sysconf("SC_CLK_TCK")


def process_cpu(pid: int) -> float:
    """User + system CPU seconds of a live process (its own threads, not its children)."""
    with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICKS


if __name__ == "__main__":
    serve_main(sys.argv[1:])
