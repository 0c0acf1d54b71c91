"""``marsad feeds``: every feed's health; ``feeds entries``: what is not stored and why;
``feeds reset NAME``: start a feed afresh. ``feeds list``, ``add``, ``remove``, ``import``,
``export`` and ``discover``: the config file's feeds (marsad.feeds_file edits them, marsad.opml
reads and writes OPML, marsad.crawler.discovery finds a site's feeds)."""

from __future__ import annotations

import socket
import sys
from collections.abc import Callable
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urljoin, urlsplit

import click

from marsad.cli.common import (
    DEFAULT_CONFIG,
    emit_json,
    fail,
    json_option,
    open_config_store,
    open_existing_store,
    resolve_config,
    store_options,
)
from marsad.cli.output import print_table
from marsad.config import Config, ConfigError, config_from_document, load_config
from marsad.crawler.address_policy import AddressPolicy, host_address
from marsad.crawler.discovery import (
    Discovery,
    Fetched,
    Found,
    discover,
    preferred,
)
from marsad.crawler.spiders import DEFAULT_KIND, SPIDERS
from marsad.feeds_file import (
    Edited,
    FeedsFileError,
    NewFeed,
    add_feeds,
    configured_feeds,
    edit_config,
    read_text,
    remove_feed,
    same_url,
    suggest_name,
    validate,
)
from marsad.storage.feeds import feed_entry_rows, feed_health, reset_feed
from marsad.storage.transactions import write_transaction
from marsad.times import format_duration

if TYPE_CHECKING:
    import httpx

    from marsad.crawler.config import CrawlConfig

_FEED_COLUMNS = [
    ("name", "feed"),
    ("state", "state"),
    ("health_shown", "health"),
    ("poll_reason", "interval"),
    ("last_fetch_at", "last fetch"),
    ("last_new_item_at", "last new item"),
    ("items_per_day", "items/day"),
    ("consecutive_failures", "failures"),
    ("entries_retrying", "retrying"),
    ("entries_skipped", "skipped"),
    ("entries_gave_up", "gave up"),
    ("last_error", "last error"),
    ("next_poll_at", "next poll"),
]
_ENTRY_COLUMNS = [
    ("feed", "feed"),
    ("state", "state"),
    ("attempts", "attempts"),
    ("url", "url"),
    ("reason", "reason"),
    ("first_seen_at", "first seen"),
    ("last_attempt_at", "last attempt"),
]


@click.group("feeds", invoke_without_command=True)
@click.option(
    "--failing",
    is_flag=True,
    help="Only feeds that need attention: failing, or with entries not stored.",
)
@store_options
@json_option
@click.pass_context
def feeds_command(
    ctx: click.Context, failing: bool, config_path: str | None, db_path: str | None, as_json: bool
) -> None:
    """Every feed's health: state, health ("failing since ...", "silent since ..."), its
    polling interval and why, last fetch, last new item, items per day, consecutive failures,
    entries retrying / skipped / given up, the last error, next poll. Failing and silent feeds
    first, retired ones (no longer in the config) last.

    A feed's state is "ok" only when its fetches work and every entry it lists is stored (or
    skipped with a reason); "incomplete" when some are still retrying or were given up;
    "failing" from its first failure. Its health is what the [health] channels were told: failing
    after [health] failures in a row (or failing_after), silent when nothing new came for
    expect_every or [health] silent_factor x its usual gap. The interval is adaptive ("45m: 9
    new in 7d", "2h: ttl 120m") unless the feed says adaptive = false ("fixed").
    """
    if ctx.invoked_subcommand is not None:
        return
    _, db = open_existing_store(config_path, db_path)
    try:
        rows = feed_health(db, needing_attention=failing)
    finally:
        db.close()
    if as_json:
        emit_json(rows)
    else:
        shown = [{**row, "health_shown": health_shown(row)} for row in rows]
        print_table(shown, _FEED_COLUMNS, title="Feeds", empty="no feeds")


def health_shown(row: dict[str, object]) -> str:
    """ "failing since 2024-05-12T12:00:00Z", "silent since ...", or "ok"."""
    health = str(row.get("health") or "ok")
    if health == "ok" or row.get("state") == "retired":
        return "ok" if row.get("state") != "retired" else ""
    return f"{health} since {row.get('health_since') or '?'}"


@feeds_command.command("entries")
@click.argument("name", required=False)
@store_options
@json_option
def entries_command(
    name: str | None, config_path: str | None, db_path: str | None, as_json: bool
) -> None:
    """The entries feeds list that are not stored, and why: retrying (tried again on later
    polls), skipped (cannot be used) or given up. All feeds, or the feed NAME."""
    _, db = open_existing_store(config_path, db_path)
    try:
        rows = feed_entry_rows(db, name)
    finally:
        db.close()
    if as_json:
        emit_json(rows)
    else:
        print_table(rows, _ENTRY_COLUMNS, title="Feed entries not stored", empty="none")


@feeds_command.command("reset")
@click.argument("name")
@store_options
def reset_command(name: str, config_path: str | None, db_path: str | None) -> None:
    """Start the feed NAME afresh: forget its failures and back-off (it is fetched on the next
    poll), its validators and body hash (fetched in full) and its entries not stored (all
    tried again). Its articles stay."""
    _, db = open_existing_store(config_path, db_path)
    try:
        with write_transaction(db):
            found = reset_feed(db, name)
    finally:
        db.close()
    if not found:
        fail(f"no feed named {name!r} in the store (`marsad feeds` lists them)", code=1)
    click.echo(f"feed {name!r} reset: fetched in full on its next poll")


# -- the config's feeds: list, add, remove, import, export, discover -----------------------------

_LIST_COLUMNS = [
    ("name", "feed"),
    ("kind", "kind"),
    ("every", "every"),
    ("url", "url"),
    ("source", "source"),
    ("state", "state"),
]
# What a running daemon does with a change of the file (reload is issue #14's).
_PICKED_UP = "a running `marsad run` picks the change up when it next starts (or reloads)"


def _config_file(config_path: str | None) -> Path:
    """The config file the feeds commands edit: --config (or MARSAD_CONFIG), else ./marsad.toml
    (created by the first `feeds add` or `feeds import`)."""
    return Path(config_path or DEFAULT_CONFIG)


def _current_config(path: Path, db_path: str | None) -> Config:
    """The config as it is before an edit (defaults when the file does not exist yet)."""
    try:
        if path.exists():
            return load_config(path, db_override=db_path)
        return config_from_document({}, base_dir=path.parent, db_override=db_path)
    except ConfigError as exc:
        fail(f"config error: {exc}")


def _edit(path: Path, change: Callable[[str], str]) -> Edited:
    try:
        return edit_config(path, change)
    except (FeedsFileError, ConfigError) as exc:
        unchanged = f"{path} is unchanged" if path.exists() else f"{path} was not created"
        fail(f"{exc} ({unchanged})", code=1)


@feeds_command.command("list")
@store_options
@json_option
def list_command(config_path: str | None, db_path: str | None, as_json: bool) -> None:
    """The config's feeds: name, kind, how often each is polled, its URL and outlet, and its
    state in the store ("not polled yet" before its first poll)."""
    config = resolve_config(config_path, db_path)
    states: dict[str, str] = {}
    if config.store_path.exists():
        db = open_config_store(config)
        try:
            states = {row["name"]: row["state"] for row in feed_health(db)}
        finally:
            db.close()
    rows = [
        {
            "name": feed.name,
            "kind": feed.kind,
            "every": format_duration(feed.every),
            "url": feed.url,
            "source": feed.source,
            "state": states.get(feed.name, "not polled yet"),
        }
        for feed in config.feeds
    ]
    if as_json:
        emit_json(rows)
    else:
        where = config.source_path or "no config file"
        print_table(rows, _LIST_COLUMNS, title=f"Feeds in {where}", empty="no feeds")


@feeds_command.command("add")
@click.argument("url")
@click.option("--name", help="The feed's name (default: its title, else its site's).")
@click.option("--every", help="How often to poll it: 90s, 10m, 2h (default: 10m).")
@click.option("--kind", type=click.Choice(sorted(SPIDERS)), help="What it is (default: found).")
@click.option("--source", help="The outlet stored on its articles (default: its name).")
@click.option("--no-fetch", is_flag=True, help="Add URL as given, without fetching it first.")
@store_options
@json_option
def add_command(
    url: str,
    name: str | None,
    every: str | None,
    kind: str | None,
    source: str | None,
    no_fetch: bool,
    config_path: str | None,
    db_path: str | None,
    as_json: bool,
) -> None:
    """Follow the feed at URL: add a [[feeds]] table to the config file, keeping its comments
    and layout (the file is checked first and left unchanged if the result would not load).

    URL is fetched first to see what it is: a feed (RSS, Atom), a sitemap (news sitemap,
    sitemap index) or a web page, whose feeds are then looked for (the ones it links, else the
    usual places) and added when there is one; when there are several, they are listed to
    choose from. A running `marsad run` picks the change up when it next starts (or reloads).
    """
    if not _is_http_url(url):
        fail(f"not an http(s) URL: {url!r}", code=1)
    path = _config_file(config_path)
    config = _current_config(path, db_path)
    followed = {same_url(feed.url): feed.name for feed in config.feeds}
    if same_url(url) in followed:  # said before anything is fetched
        fail(f"{url} is already followed, as {followed[same_url(url)]!r}", code=1)
    found: Found | None = None
    given = url
    if not no_fetch:
        discovery = _discover(url, config.crawl)
        found = _chosen_feed(url, discovery, kind)
        url = found.url
        kind = kind or found.kind
    title = found.title if found is not None else ""

    def change(text: str) -> str:
        taken = {str(feed.get("name")) for feed in configured_feeds(text)}
        feed = NewFeed(
            name=name or suggest_name(title, url, taken),
            url=url,
            every=every,
            kind=kind if kind not in (None, DEFAULT_KIND) else None,
            source=source,
        )
        added.append(feed)
        return add_feeds(text, [feed])

    added: list[NewFeed] = []
    edited = _edit(path, change)
    feed_config = next(f for f in edited.config.feeds if f.name == added[-1].name)
    if as_json:
        emit_json({"added": asdict(feed_config), "config": str(path), "found": _found(found)})
        return
    if found is not None and found.how != "given":
        click.echo(f"{given} is a web page; found {found.url} ({url_shown(found)}):")
        click.echo(f"  {found.describe()}")
    click.echo(
        f"added feed {feed_config.name!r} ({feed_config.kind}, every "
        f"{format_duration(feed_config.every)}): {feed_config.url} → {path}"
    )
    click.echo(f"  {_PICKED_UP}")


@feeds_command.command("remove")
@click.argument("name")
@store_options
@json_option
def remove_command(name: str, config_path: str | None, db_path: str | None, as_json: bool) -> None:
    """Stop following the feed NAME: remove its [[feeds]] table (and the comment lines right
    above it) from the config file. Its articles stay in the store; the feed is retired (kept,
    never counted as failing) when `marsad run` next starts (or reloads)."""
    path = _config_file(config_path)
    if not path.exists():
        fail(f"no config file at {path}: nothing to remove", code=1)
    before = {feed.name: feed for feed in _current_config(path, db_path).feeds}
    _edit(path, lambda text: remove_feed(text, name))
    if as_json:
        removed = before.get(name)
        emit_json({"removed": asdict(removed) if removed else None, "config": str(path)})
        return
    click.echo(f"removed feed {name!r} from {path}; its articles stay in the store")
    click.echo(f"  {_PICKED_UP}")


@feeds_command.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--every", help="How often to poll the feeds the list says nothing of (10m).")
@click.option("--dry-run", is_flag=True, help="Say what would be added; change nothing.")
@store_options
@json_option
def import_opml_command(
    file: Path,
    every: str | None,
    dry_run: bool,
    config_path: str | None,
    db_path: str | None,
    as_json: bool,
) -> None:
    """Follow the feeds of an OPML file (exported by Miniflux, FreshRSS or another reader, or by
    `marsad feeds export`): each becomes a [[feeds]] table named after its title. Feeds the
    config already follows (same URL) are left as they are."""
    # Here, not at the top: listparser imports requests, which every other command would pay.
    from marsad.opml import OpmlError, feeds_to_add, read_opml

    try:
        listing = read_opml(file.read_bytes())
    except (OpmlError, OSError) as exc:
        fail(f"{file}: {exc}", code=1)
    path = _config_file(config_path)
    added: list[NewFeed] = []
    already: list[str] = []

    def change(text: str) -> str:
        new, known = feeds_to_add(listing.feeds, configured_feeds(text), every=every)
        added[:], already[:] = new, known
        return add_feeds(text, new)

    if dry_run:
        try:
            validate(change(read_text(path)), path)
        except (FeedsFileError, ConfigError) as exc:
            fail(str(exc), code=1)
    elif listing.feeds:
        _edit(path, change)
    if as_json:
        emit_json(
            {
                "added": [asdict(feed) for feed in added],
                "already": already,
                "skipped": list(listing.skipped),
                "config": str(path),
                "dry_run": dry_run,
            }
        )
        return
    verb = "would import" if dry_run else "imported"
    count = f"{len(added)} feed" + ("" if len(added) == 1 else "s")
    click.echo(f"{verb} {count} from {file} into {path}")
    for feed in added:
        click.echo(f"  {feed.name}: {feed.url}")
    for line in already:
        click.echo(f"  left as it is: {line}")
    for line in listing.skipped:
        click.echo(f"  skipped: {line}")
    if added and not dry_run:
        click.echo(f"  {_PICKED_UP}")


@feeds_command.command("export")
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write here instead of stdout.",
)
@store_options
def export_opml_command(output: Path | None, config_path: str | None, db_path: str | None) -> None:
    """Write the config's feeds as OPML 2.0, for Miniflux, FreshRSS or another reader (and for
    `marsad feeds import`: how often each is polled, its kind and outlet go along)."""
    from marsad.opml import write_opml

    config = resolve_config(config_path, db_path)
    document = write_opml(config.feeds, now=datetime.now(UTC))
    if output is not None:
        output.write_bytes(document)
    else:
        sys.stdout.buffer.write(document)


@feeds_command.command("discover")
@click.argument("url")
@store_options
@json_option
def discover_command(url: str, config_path: str | None, db_path: str | None, as_json: bool) -> None:
    """Say what URL is and, for a web page, which feeds it has: those it links (<link
    rel="alternate"> RSS, Atom, JSON Feed, and links that look like feeds), else those at the
    usual places (/feed, /rss.xml, ...), and the sitemaps its site's robots.txt names. Each is
    fetched to see what it is. Exits 1 when no feed marsad can read was found."""
    if not _is_http_url(url):
        fail(f"not an http(s) URL: {url!r}", code=1)
    config = resolve_config(config_path, db_path)
    discovery = _discover(url, config.crawl)
    if as_json:
        emit_json(
            {
                "url": url,
                "is": _found(discovery.page),
                "feeds": [_found(found) for found in discovery.feeds],
                "unreadable": [_found(found) for found in discovery.unreadable],
                "tried": list(discovery.tried),
            }
        )
    else:
        for line in describe_discovery(url, discovery):
            click.echo(line)
    if not discovery.feeds:
        raise SystemExit(1)


def describe_discovery(url: str, discovery: Discovery) -> list[str]:
    """What `feeds discover` prints."""
    page = discovery.page
    if not discovery.is_web_page:
        if page.kind is None:
            return [f"{url}: {page.describe()}"]
        return [f"{url}: {page.describe()}", f"  follow it: marsad feeds add {url}"]
    linked = [f for f in (*discovery.feeds, *discovery.unreadable) if f.how in ("link", "anchor")]
    elsewhere = [f for f in discovery.feeds if f.how not in ("link", "anchor")]
    if linked:
        lines = [f"{url} is a web page; it links these feeds:"]
        lines += [f"  {f.url}  {f.describe()}" for f in linked]
    else:
        lines = [f"{url} is a web page and it links no feed"]
    if elsewhere:
        lines.append("found elsewhere on the site:")
        lines += [f"  {f.url}  {f.describe()} ({url_shown(f)})" for f in elsewhere]
    if discovery.tried:
        lines.append(f"nothing at: {', '.join(discovery.tried)}")
    best = preferred(discovery)
    if best:
        lines.append(f"follow one: marsad feeds add {best[0].url}")
    return lines


def url_shown(found: Found) -> str:
    return {
        "link": '<link rel="alternate">',
        "anchor": "a link on the page",
        "common path": "a usual address",
        "robots.txt": "named in robots.txt",
    }.get(found.how, found.how)


def _found(found: Found | None) -> dict[str, object] | None:
    return asdict(found) if found is not None else None


def _chosen_feed(url: str, discovery: Discovery, kind: str | None) -> Found:
    """The feed to add for URL, or exit saying why there is none (or which to choose)."""
    page = discovery.page
    if not discovery.is_web_page:
        if page.kind is None:
            fail(f"{url}: {page.describe()} (`--no-fetch` adds it anyway)", code=1)
        if kind is not None and page.kind != kind:
            fail(f"{url}: {page.describe()}: read by kind {page.kind!r}, not {kind!r}", code=1)
        return page
    choices = [f for f in preferred(discovery) if kind is None or f.kind == kind]
    if len(choices) == 1:
        return choices[0]
    for line in describe_discovery(url, discovery):
        click.echo(line, err=True)
    if not choices:
        fail(f"{url}: no feed found to add (what was tried is above)", code=1)
    fail(f"{url} has {len(choices)} feeds: add the one you want by its URL", code=1)


def _is_http_url(url: str) -> bool:
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.netloc)


def _discover(url: str, crawl: CrawlConfig) -> Discovery:
    import httpx

    with httpx.Client(
        timeout=crawl.download_timeout,
        headers={"User-Agent": crawl.user_agent},
        follow_redirects=False,
        trust_env=False,  # no proxy from the environment: the crawler uses none either
    ) as client:
        fetch = _guarded_fetch(client, crawl)
        return discover(url, fetch, max_bytes=crawl.max_page_bytes)


# Redirects followed by one fetch (as the crawler's REDIRECT_MAX_TIMES).
_MAX_REDIRECTS = 5


def _guarded_fetch(client: httpx.Client, crawl: CrawlConfig) -> Callable[[str], Fetched]:
    """A fetch that reaches only what the crawler may (public addresses, unless [crawl]
    allow_private lists them; every redirect checked too), within [crawl] max_page_bytes."""
    import httpx

    policy = AddressPolicy.allowing(crawl.allow_private)

    def fetch(url: str) -> Fetched:
        for _ in range(_MAX_REDIRECTS + 1):
            refusal = _refusal(policy, url)
            if refusal is not None:
                return Fetched(url, error=refusal)
            try:
                with client.stream("GET", url) as response:
                    if response.is_redirect and "location" in response.headers:
                        url = urljoin(url, response.headers["location"])
                        continue
                    body = bytearray()
                    for chunk in response.iter_bytes():
                        body += chunk
                        if len(body) > crawl.max_page_bytes:
                            return Fetched(
                                url,
                                error=f"larger than {crawl.max_page_bytes:,} bytes "
                                "([crawl] max_page_bytes)",
                            )
                    return Fetched(
                        str(response.url),
                        response.status_code,
                        response.headers.get("content-type"),
                        bytes(body),
                    )
            except httpx.HTTPError as exc:
                return Fetched(url, error=f"{type(exc).__name__}: {exc}")
        return Fetched(url, error=f"more than {_MAX_REDIRECTS} redirects")

    return fetch


def _refusal(policy: AddressPolicy, url: str) -> str | None:
    refusal = policy.url_refusal(url)
    if refusal is not None:
        return refusal.message
    parts = urlsplit(url)
    host = parts.hostname or ""
    if host_address(host) is not None:
        return None  # an address: url_refusal has judged it
    try:
        infos = socket.getaddrinfo(host, parts.port or 443, type=socket.SOCK_STREAM)
    except OSError as exc:
        return f"cannot resolve {host}: {exc}"
    screened = policy.screen(host, [str(info[4][0]) for info in infos])
    refused = screened.refusal(host)
    return refused.message if refused is not None else None
