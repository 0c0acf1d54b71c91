"""Hostile input, for what already holds, so it keeps holding (#11): an XML entity bomb, XXE, gzip
bombs, a 50 MB page, a slow drip and a silent server, header injection and script injection.

Each trial is a real ``marsad crawl`` subprocess of a real store, over a loopback server that
serves one hostile feed (or hostile pages) beside a good feed. Every trial must finish within a
time bound with the exit code it deserves (0, or 3 "partial" when its hostile feed failed as a
whole), never die, store nothing bad, store every good entry, and stay under a peak
memory bound. The peak is the kernel's count for that one process (wait4's ``ru_maxrss``), so
the bound is real; the bound is the control crawl's peak (a good feed and nothing hostile, same
limits, measured in this run) plus :data:`MEMORY_MARGIN_MB`.

The trials run side by side (each its own server, store and process), so the file takes about
as long as its slowest trial.
"""

from __future__ import annotations

import contextlib
import json
import secrets
import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from xml.sax.saxutils import escape

import lxml.html
import pytest

from tests.faults._servers import (
    MB,
    Drip,
    Endless,
    Finished,
    Fixed,
    HostileServer,
    Inbox,
    Item,
    Measured,
    Silent,
    arabic_text,
    arabic_title,
    article_page,
    gzip_bomb,
    marsad,
    rss,
    smtp_inbox,
)
from tests.webhook_sink import WebhookSink

pytestmark = pytest.mark.slow

DOWNLOAD_TIMEOUT = 2.0
MAX_PAGE_BYTES = 2_000_000
# Decompressed, each bomb is 1 GiB: 500 times MAX_PAGE_BYTES, and far more memory than the bound.
BOMB_BYTES = 1024 * MB
HUGE_PAGE_BYTES = 50 * MB
# What a hostile crawl may use beyond the control crawl's peak: 40 times MAX_PAGE_BYTES, room
# for the few copies of one maximal page a crawl holds at once (compressed and decompressed
# bytes, the decoded text at up to 4 bytes a character, the parse tree). A bomb held whole would
# be 1,024 MB over, a 50 MB page 50 MB over; the control peaks at about 110 MB.
MEMORY_MARGIN_MB = 40 * MAX_PAGE_BYTES / MB
# The crawl of every trial: interpreter and Scrapy start-up (about 2 s alone, more with all
# trials sharing the machine's cores), one download timeout for what hangs, delivery. A drip or
# a silent server that was not cut off would hold the crawl for HOLD (90 s); the trial kills a
# crawl that is still running after FINISH_TIMEOUT.
TIME_BOUND = 40.0
FINISH_TIMEOUT = 60.0
GOOD_ARTICLES = 3
WEBHOOK_SECRET_ENV = "HOSTILE_WEBHOOK_SECRET"
KEYWORD = "الحكومة"

# The billion laughs: ten entities each ten times the one before; &lol9; is 10^9 "lol"s.
LAUGHS = '<!ENTITY lol0 "lol">' + "".join(
    f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10}">' for i in range(1, 10)
)


@dataclass
class Trial:
    name: str
    server: HostileServer
    workdir: Path
    feeds: dict[str, str] = field(default_factory=dict)
    good_urls: list[str] = field(default_factory=list)
    secret: str = ""  # XXE: what the local file holds
    channels: str = ""  # config tables of channels, for the trial that delivers
    process: Measured | None = None
    run: Finished | None = None

    @property
    def store(self) -> Path:
        return self.workdir / "store.db"

    @property
    def finished(self) -> Finished:
        assert self.run is not None
        return self.run

    def rows(self, sql: str, params: tuple[object, ...] = ()) -> list[sqlite3.Row]:
        with contextlib.closing(sqlite3.connect(f"file:{self.store}?mode=ro", uri=True)) as db:
            db.row_factory = sqlite3.Row
            return db.execute(sql, params).fetchall()

    def articles(self) -> dict[str, sqlite3.Row]:
        return {row["url"]: row for row in self.rows("SELECT * FROM articles")}

    def everything_stored(self) -> str:
        """Every text value in every table of the store, and the store's raw bytes."""
        parts = []
        for (table,) in self.rows("SELECT name FROM sqlite_master WHERE type = 'table'"):
            for row in self.rows(f'SELECT * FROM "{table}"'):
                parts += [str(value) for value in row if isinstance(value, str)]
        for path in self.workdir.glob("store.db*"):
            parts.append(path.read_bytes().decode("utf-8", "replace"))
        return "\n".join(parts)


def good_feed(trial: Trial, seed: int) -> None:
    """A feed of GOOD_ARTICLES ordinary articles, with pages, beside the hostile one."""
    items = []
    for n in range(seed, seed + GOOD_ARTICLES):
        page = article_page(arabic_title(n), f"{KEYWORD} {arabic_text(n)}")
        link = trial.server.route(f"/good/{n}.html", Fixed(page.encode()))
        trial.good_urls.append(link)
        items.append(Item(link, escape(arabic_title(n)), escape(arabic_text(n, 20)), f"good-{n}"))
    trial.feeds["good"] = trial.server.route("/good.xml", Fixed(rss(items), "application/rss+xml"))


def beside_page(trial: Trial, seed: int) -> str:
    """An ordinary article listed in the hostile feed itself, next to the hostile entry."""
    page = article_page("خبر", arabic_text(seed))
    return trial.server.route("/beside.html", Fixed(page.encode()))


def feed_of(trial: Trial, path: str, items: list[Item], doctype: str = "") -> str:
    return trial.server.route(path, Fixed(rss(items, doctype=doctype), "application/rss+xml"))


# -- the trials ---------------------------------------------------------------------------------


def control(trial: Trial) -> None:
    """Nothing hostile: the peak memory every other trial is measured against."""


def entity_bomb(trial: Trial) -> None:
    bomb_page = (
        f'<?xml version="1.0"?><!DOCTYPE html [{LAUGHS}]><html><head><title>&lol9;</title>'
        f"</head><body><article><h1>&lol9;</h1><p>{KEYWORD} &lol9; &lol8;</p></article>"
        "</body></html>"
    )
    page = trial.server.route("/laughs.html", Fixed(bomb_page.encode(), "application/xhtml+xml"))
    beside = beside_page(trial, 900)
    items = [
        Item(beside, f"{KEYWORD} خبر عادي", escape(arabic_text(900, 20)), "beside"),
        Item(page, "&lol9;", "&lol9; &lol8;", "laughs"),
    ]
    trial.feeds["laughs"] = feed_of(trial, "/laughs.xml", items, f"<!DOCTYPE rss [{LAUGHS}]>\n")


def xxe(trial: Trial) -> None:
    secret_file = trial.workdir / "secret.txt"
    trial.secret = f"XXE-SECRET-{secrets.token_hex(12)}"
    secret_file.write_text(trial.secret + "\n", encoding="utf-8")
    uri = secret_file.as_uri()
    dtd = trial.server.route(
        "/evil.dtd", Fixed(f'<!ENTITY stolen SYSTEM "{uri}">'.encode(), "application/xml-dtd")
    )
    local = (
        f'<!DOCTYPE rss [<!ENTITY xxe SYSTEM "{uri}"><!ENTITY % remote SYSTEM "{dtd}"> %remote;]>\n'
    )
    page = (
        f'<?xml version="1.0"?><!DOCTYPE html [<!ENTITY xxe SYSTEM "{uri}">]><html><head>'
        f"<title>&xxe;</title></head><body><article><h1>{KEYWORD} &xxe;</h1>"
        f"<p>{escape(arabic_text(910))} &xxe;</p></article></body></html>"
    )
    leak_page = trial.server.route("/leak.html", Fixed(page.encode(), "application/xhtml+xml"))
    beside = beside_page(trial, 911)
    trial.feeds["local"] = feed_of(
        trial,
        "/local.xml",
        [
            Item(beside, f"{KEYWORD} خبر عادي", escape(arabic_text(911, 20)), "beside"),
            Item(leak_page, f"{KEYWORD} &xxe;", "&xxe; &stolen;", "leak"),
        ],
        local,
    )
    external = trial.server.route("/external.html", Fixed(article_page("خبر", "نص").encode()))
    trial.feeds["external"] = feed_of(
        trial,
        "/external.xml",
        [Item(external, f"{KEYWORD} &stolen;", "&stolen;", "external")],
        f'<!DOCTYPE rss SYSTEM "{dtd}">\n',
    )


def gzip_bombs(trial: Trial) -> None:
    bomb = gzip_bomb(BOMB_BYTES)
    trial.feeds["bomb-feed"] = trial.server.route(
        "/bomb.xml", Fixed(bomb, "application/rss+xml", {"Content-Encoding": "gzip"})
    )
    page = trial.server.route("/bomb.html", Fixed(bomb, headers={"Content-Encoding": "gzip"}))
    beside = beside_page(trial, 920)
    trial.feeds["bomb-page"] = feed_of(
        trial,
        "/pages.xml",
        [
            Item(beside, f"{KEYWORD} خبر عادي", escape(arabic_text(920, 20)), "beside"),
            Item(page, f"{KEYWORD} قنبلة", "نص الخبر من الخلاصة", "bomb"),
        ],
    )


def huge_pages(trial: Trial) -> None:
    told = trial.server.route("/told.html", Endless(HUGE_PAGE_BYTES, declare=True))
    untold = trial.server.route("/untold.html", Endless(HUGE_PAGE_BYTES, declare=False))
    trial.feeds["huge"] = feed_of(
        trial,
        "/huge.xml",
        [
            Item(told, f"{KEYWORD} صفحة معلنة الطول", "نص الخلاصة الأول", "told"),
            Item(untold, f"{KEYWORD} صفحة بلا طول", "نص الخلاصة الثاني", "untold"),
        ],
    )


def slow_servers(trial: Trial) -> None:
    drip = trial.server.route("/drip.html", Drip())
    trial.feeds["drip"] = feed_of(
        trial, "/drip.xml", [Item(drip, f"{KEYWORD} صفحة بطيئة", "نص الخلاصة", "drip")]
    )
    trial.feeds["silent"] = trial.server.route("/silent.xml", Silent())


INJECTED_TITLE = f"{KEYWORD} تعلن&#13;&#10;Bcc: victim@example.com&#13;&#10;X-Injected: title"
SCRIPT_TITLE = "&lt;script&gt;alert(1)&lt;/script&gt; &lt;img src=x onerror=alert(2)&gt;"
ESCAPED_SCRIPT_TITLE = "&amp;lt;script&amp;gt;alert(3)&amp;lt;/script&amp;gt;"
SCRIPT_CODE = "SCRIPT-CODE-MARKER"


def injection(trial: Trial) -> None:
    server = trial.server
    script_page = article_page(
        f"{KEYWORD} صفحة",
        arabic_text(930),
        extra_head=f'<script>var marker = "{SCRIPT_CODE}";</script>',
        extra_body=(
            f'<p onclick="steal()">{KEYWORD} فقرة</p>'
            f'<script>document.write("{SCRIPT_CODE}")</script>'
            '<a href="javascript:alert(4)">رابط</a>'
        ),
    )
    pages = {
        name: server.route(f"/{name}.html", Fixed(article_page("خبر", arabic_text(seed)).encode()))
        for name, seed in (("crlf", 931), ("escaped", 932), ("cdata", 933))
    }
    script = server.route("/script.html", Fixed(script_page.encode()))
    items = [
        Item(pages["crlf"], INJECTED_TITLE, "نص&#13;&#10;X-Injected: text", "crlf"),
        # A link with CR/LF in it: the crawler's own request must not carry a header from it.
        Item(f"{server.base}/crlf-link.html\r\nX-Injected: link", f"{KEYWORD} رابط", "نص", "link"),
        Item(script, f"{KEYWORD} {SCRIPT_TITLE}", "&lt;script&gt;x()&lt;/script&gt;نص", "script"),
        Item(pages["escaped"], f"{KEYWORD} {ESCAPED_SCRIPT_TITLE}", "نص", "escaped"),
        Item(
            pages["cdata"],
            f'<![CDATA[{KEYWORD} <script>alert(5)</script><b onmouseover="x()">عاجل</b>]]>',
            "نص",
            "cdata",
        ),
    ]
    trial.feeds["inject"] = feed_of(trial, "/inject.xml", items)


TRIALS: dict[str, Callable[[Trial], None]] = {
    "control": control,
    "entity-bomb": entity_bomb,
    "xxe": xxe,
    "gzip-bombs": gzip_bombs,
    "huge-pages": huge_pages,
    "slow-servers": slow_servers,
    "injection": injection,
}


# The trials whose hostile feed is refused as a whole (the rest keep the feed, minus its pages).
FEED_FAILS = frozenset({"gzip-bombs", "slow-servers"})


def write_config(trial: Trial) -> Path:
    channels = '["hook", "mail"]' if trial.channels else "[]"
    feeds = "".join(
        f'[[feeds]]\nname = "{name}"\nurl = "{url}"\nevery = "10m"\n\n'
        for name, url in trial.feeds.items()
    )
    config = trial.workdir / "marsad.toml"
    config.write_text(
        f"""
[store]
path = "store.db"

[crawl]
delay = 0
obey_robots = false
download_timeout = "{DOWNLOAD_TIMEOUT:g}s"
max_page_bytes = {MAX_PAGE_BYTES}
allow_private = ["127.0.0.0/8", "localhost"]

{feeds}
[[rules]]
name = "government"
keywords = ["{KEYWORD}"]
channels = {channels}

{trial.channels}
""",
        encoding="utf-8",
    )
    return config


@dataclass
class Delivered:
    sink: WebhookSink
    inbox: Inbox


Trials = tuple[dict[str, Trial], Delivered]


@pytest.fixture(scope="module")
def trials(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Trials]:
    with contextlib.ExitStack() as stack:
        sink = stack.enter_context(WebhookSink())
        inbox = stack.enter_context(smtp_inbox())
        built: dict[str, Trial] = {}
        for seed, (name, build) in enumerate(TRIALS.items()):
            server = stack.enter_context(HostileServer())
            trial = Trial(name, server, tmp_path_factory.mktemp(name))
            good_feed(trial, seed * 100)
            build(trial)
            built[name] = trial
        built["injection"].channels = (
            f'[channels.hook]\ntype = "webhook"\nurl = "{sink.url}/hook"\n'
            f'secret_env = "{WEBHOOK_SECRET_ENV}"\n\n'
            f'[channels.mail]\ntype = "email"\nto = ["desk@example.org"]\n'
            f'from = "marsad@example.org"\nsmtp_host = "127.0.0.1"\nsmtp_port = {inbox.port}\n'
            'timeout = "5s"\n'
        )
        for trial in built.values():
            config = write_config(trial)
            trial.process = marsad(
                ["crawl", "--config", str(config)],
                cwd=trial.workdir,
                log=trial.workdir / "crawl.log",
                env={WEBHOOK_SECRET_ENV: "hostile-trial-secret"},
            )
        try:
            for trial in built.values():
                assert trial.process is not None
                trial.run = trial.process.finish(FINISH_TIMEOUT)
        finally:
            for trial in built.values():
                if trial.process is not None:
                    trial.process.ensure_dead()
        yield built, Delivered(sink, inbox)


@pytest.fixture(scope="module")
def by_name(trials: Trials) -> dict[str, Trial]:
    return trials[0]


@pytest.fixture(scope="module")
def delivered(trials: Trials) -> Delivered:
    return trials[1]


# -- what every trial must hold -----------------------------------------------------------------


@pytest.mark.parametrize("name", list(TRIALS))
def test_the_crawl_finishes_in_time(by_name: dict[str, Trial], name: str) -> None:
    run = by_name[name].finished
    assert not run.timed_out, run.output[-3000:]
    # 3: partial (marsad crawl --help), for the trials whose hostile feed itself fails.
    assert run.returncode == (3 if name in FEED_FAILS else 0), run.output[-3000:]
    assert run.seconds < TIME_BOUND, f"{run.seconds:.1f}s\n{run.output[-2000:]}"


@pytest.mark.parametrize("name", list(TRIALS))
def test_peak_memory_stays_under_the_bound(by_name: dict[str, Trial], name: str) -> None:
    control_peak = by_name["control"].finished.peak_rss_mb
    peak = by_name[name].finished.peak_rss_mb
    assert control_peak > 20  # a real measure: an interpreter with Scrapy loaded
    assert peak <= control_peak + MEMORY_MARGIN_MB, (
        f"{name}: peak {peak:.0f} MB, control {control_peak:.0f} MB, bound +{MEMORY_MARGIN_MB:.0f}"
    )


@pytest.mark.parametrize("name", list(TRIALS))
def test_the_good_entries_beside_the_bad_are_stored(by_name: dict[str, Trial], name: str) -> None:
    trial = by_name[name]
    stored = trial.articles()
    for url in trial.good_urls:
        assert url in stored, f"{url} missing; stored: {sorted(stored)}"
        row = stored[url]
        seed = int(url.rsplit("/", 1)[1].removesuffix(".html"))
        assert row["extraction"] == "page"
        assert f"({seed}-0)" in row["text"]
    assert sum(1 for url in stored if url in trial.good_urls) == GOOD_ARTICLES


@pytest.mark.parametrize("name", list(TRIALS))
def test_nothing_stored_is_oversized(by_name: dict[str, Trial], name: str) -> None:
    # The largest honest article here is a few thousand characters; a bomb or a huge page that
    # got in would be megabytes.
    [(longest,)] = by_name[name].rows("SELECT max(max(length(title), length(text))) FROM articles")
    assert longest < 20_000


# -- what each trial must hold ------------------------------------------------------------------


def test_entities_are_never_expanded(by_name: dict[str, Trial]) -> None:
    trial = by_name["entity-bomb"]
    stored = trial.articles()
    beside = trial.server.url("/beside.html")
    assert stored[beside]["extraction"] == "page"
    assert "lol" * 100 not in trial.everything_stored()
    laughs = stored.get(trial.server.url("/laughs.html"))
    if laughs is not None:  # kept with what the feed said, unexpanded
        assert len(laughs["title"]) + len(laughs["text"]) < 1_000


def test_xxe_never_reads_a_local_file_or_fetches_a_dtd(by_name: dict[str, Trial]) -> None:
    trial = by_name["xxe"]
    assert trial.secret not in trial.everything_stored()
    assert trial.secret not in trial.finished.output
    assert "/evil.dtd" not in trial.server.paths()
    assert trial.articles()[trial.server.url("/beside.html")]["extraction"] == "page"


def test_gzip_bombs_are_dropped_at_the_page_limit(by_name: dict[str, Trial]) -> None:
    trial = by_name["gzip-bombs"]
    output = trial.finished.output
    assert "exceeded DOWNLOAD_MAXSIZE" in output
    [feed] = trial.rows("SELECT * FROM feeds WHERE name = 'bomb-feed'")
    assert feed["consecutive_failures"] == 1
    bomb = trial.articles()[trial.server.url("/bomb.html")]
    # The page was refused; the entry is kept with the feed's own text.
    assert (bomb["extraction"], bomb["text"]) == ("feed", "نص الخبر من الخلاصة")
    assert trial.articles()[trial.server.url("/beside.html")]["extraction"] == "page"


def test_huge_pages_are_cut_off_at_the_page_limit(by_name: dict[str, Trial]) -> None:
    trial = by_name["huge-pages"]
    stored = trial.articles()
    for path, text in (("/told.html", "نص الخلاصة الأول"), ("/untold.html", "نص الخلاصة الثاني")):
        row = stored[trial.server.url(path)]
        assert (row["extraction"], row["text"]) == ("feed", text)
    assert trial.finished.output.count("download cancelled") >= 2
    # The crawler stopped reading: of the 100 MB on offer, no more than socket buffers went out.
    assert trial.server.bytes_sent < 2 * HUGE_PAGE_BYTES / 4


def test_slow_and_silent_servers_cost_one_download_timeout(by_name: dict[str, Trial]) -> None:
    trial = by_name["slow-servers"]
    output = trial.finished.output
    assert output.count(f"no complete answer within {DOWNLOAD_TIMEOUT:g}s") >= 2
    [silent] = trial.rows("SELECT * FROM feeds WHERE name = 'silent'")
    assert silent["consecutive_failures"] == 1
    drip = trial.articles()[trial.server.url("/drip.html")]
    assert (drip["extraction"], drip["text"]) == ("feed", "نص الخلاصة")


def test_injected_lines_never_become_headers(
    by_name: dict[str, Trial], delivered: Delivered
) -> None:
    trial = by_name["injection"]
    # The crawler's own requests carry no header from a link.
    for headers in trial.server.request_headers():
        assert "x-injected" not in headers, headers
    hooks = [r for r in delivered.sink.requests if r.path == "/hook"]
    messages = delivered.inbox.messages()
    sent = {
        row["channel"]: row["n"]
        for row in trial.rows(
            "SELECT channel, count(*) AS n FROM alerts WHERE status = 'sent' GROUP BY channel"
        )
    }
    [(pending,)] = trial.rows("SELECT count(*) FROM alerts WHERE status != 'sent'")
    assert pending == 0
    # Every article of the trial matched: the good ones and the hostile ones beside them.
    assert sent == {"hook": len(hooks), "mail": len(messages)}
    assert len(hooks) >= GOOD_ARTICLES + 4
    for hook in hooks:
        assert not any(name in hook.headers for name in ("x-injected", "bcc"))
        assert all("\r" not in v and "\n" not in v for v in hook.headers.values())
        json.loads(hook.body)  # one JSON document: the title is data in it
    for envelope in delivered.inbox.envelopes:
        assert envelope.rcpt_tos == ["desk@example.org"]
        block = (envelope.original_content or b"").split(b"\r\n\r\n", 1)[0]
        starts = [line.split(b":", 1)[0].lower() for line in block.split(b"\r\n")]
        assert b"bcc" not in starts and b"x-injected" not in starts
    subjects = [str(message["Subject"]) for message in messages]
    assert f"[marsad] government: {KEYWORD} تعلن Bcc: victim@example.com X-Injected: title" in (
        subjects
    )


def test_script_in_titles_and_pages_is_never_markup(
    by_name: dict[str, Trial], delivered: Delivered
) -> None:
    trial = by_name["injection"]
    assert SCRIPT_CODE not in "\n".join(
        f"{row['title']}\n{row['text']}" for row in trial.articles().values()
    )
    pages = []
    for message in delivered.inbox.messages():
        part = message.get_body(("html",))
        assert part is not None
        pages.append(part.get_content())
    assert pages
    for page in pages:
        root = lxml.html.document_fromstring(page)
        assert not root.xpath("//script|//img|//iframe|//object|//embed")
        for element in root.iter():
            for attribute, value in element.attrib.items():
                assert not attribute.lower().startswith("on"), (attribute, value)
                assert not value.strip().lower().startswith("javascript:"), (attribute, value)
    # The title that says <script> as text arrives saying it, escaped.
    assert any("&lt;script&gt;alert(3)&lt;/script&gt;" in page for page in pages)
