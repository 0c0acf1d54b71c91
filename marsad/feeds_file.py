"""Editing the ``[[feeds]]`` of a config file without losing its comments and layout.

``marsad feeds add``, ``feeds remove`` and ``feeds import`` change the file a person wrote, so
everything they do not mean to change stays as it was, byte for byte: other sections, comments,
blank lines, the order of keys. A feed's table is cut out or put in as a block of lines: the
comment lines right above its ``[[feeds]]`` header go with it, and a new table goes after the
last feed, a blank line before it, written by tomlkit (a TOML library that round-trips: quoting
and escapes are its). tomlkit alone would not do: it files the comment above a table under the
table before it, so deleting a table through it deletes the next table's comment and keeps its
own. A file that lists its feeds inline (``feeds = [{...}]``) is edited through tomlkit, which
keeps such an array's layout.

Every edit is checked before it is written: the new text must parse to exactly the old document
with that one change (else nothing is written: the file's layout is one the line editing cannot
be sure of), and the whole new config must pass :func:`marsad.config.config_from_document`.
The file is then replaced at once (a temporary file renamed over it), so a daemon that reads it
on reload sees the old config or the new one, never half of one; edits by several commands at
once take turns (a lock on the file's directory).
"""

from __future__ import annotations

import copy
import os
import re
import tomllib
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import tomlkit

from marsad.config import Config, ConfigError, config_from_document
from marsad.urls import canonical_url

NEW_FILE_HEADER = (
    "# marsad configuration: feeds added by `marsad feeds add` and `marsad feeds import`.\n"
    "# Every setting is described in marsad.example.toml.\n"
)
# The longest name made from a feed's title.
MAX_NAME_CHARS = 60


class FeedsFileError(ValueError):
    """The edit cannot be made; the message says why (and the file is unchanged)."""


@dataclass(frozen=True)
class NewFeed:
    """A ``[[feeds]]`` table to add, as it will be written (None: the key is left out, its
    default applies)."""

    name: str
    url: str
    every: str | None = None
    kind: str | None = None
    source: str | None = None

    def table(self) -> dict[str, str]:
        keys = {"name": self.name, "url": self.url}
        for key in ("every", "kind", "source"):
            value = getattr(self, key)
            if value is not None:
                keys[key] = value
        return keys


@dataclass(frozen=True)
class Edited:
    """A config file's new text and the config it holds (validated)."""

    text: str
    config: Config


# -- reading and writing the file ---------------------------------------------------------------


def read_text(path: Path) -> str:
    """The config file's text ("" when there is none yet)."""
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return ""
    except UnicodeDecodeError as exc:
        raise FeedsFileError(f"{path}: not UTF-8 text (byte {exc.start})") from None
    except OSError as exc:
        raise FeedsFileError(f"{path}: cannot read: {exc.strerror or exc}") from None


def edit_config(path: Path, change: Callable[[str], str]) -> Edited:
    """Apply ``change`` (old text → new text) to the config file at ``path`` (created if it does
    not exist), validate the result and write it at once; raise :class:`FeedsFileError` (or
    :class:`~marsad.config.ConfigError`) with the file unchanged if it cannot be."""
    target = path.resolve()  # a linked config is edited where it lives
    with _locked(target.parent):
        old = read_text(target)
        new = change(old)
        config = validate(new, path)
        if new != old:
            _replace(target, new)
    return Edited(new, config)


def validate(text: str, path: Path) -> Config:
    """The config ``text`` holds, or :class:`~marsad.config.ConfigError` naming ``path``."""
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from None
    try:
        # No secret is read: a channel's unset variable is for the commands that send.
        return config_from_document(document, base_dir=path.parent, source_path=path, environ={})
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None


@contextmanager
def _locked(directory: Path) -> Iterator[None]:
    import fcntl

    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError as exc:
        raise FeedsFileError(f"{directory}: cannot open: {exc.strerror or exc}") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


def _replace(target: Path, text: str) -> None:
    temporary = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        with temporary.open("w", encoding="utf-8", newline="") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        if target.exists():
            os.chmod(temporary, target.stat().st_mode & 0o7777)
        os.replace(temporary, target)
    except OSError as exc:
        temporary.unlink(missing_ok=True)
        raise FeedsFileError(f"{target}: cannot write: {exc.strerror or exc}") from None
    directory = os.open(target.parent, os.O_RDONLY)
    try:
        os.fsync(directory)  # the rename itself survives a crash
    finally:
        os.close(directory)


# -- the edits (text in, text out) --------------------------------------------------------------


def configured_feeds(text: str) -> list[dict[str, Any]]:
    """The ``[[feeds]]`` tables of a config's text, as parsed."""
    try:
        feeds = tomllib.loads(text).get("feeds", [])
    except tomllib.TOMLDecodeError as exc:
        raise FeedsFileError(f"invalid TOML: {exc}") from None
    return [f for f in feeds if isinstance(f, dict)] if isinstance(feeds, list) else []


def add_feeds(text: str, feeds: Sequence[NewFeed]) -> str:
    """``text`` with a ``[[feeds]]`` table for each of ``feeds`` after its last feed (at the end
    when it has none). Refuses a name or a URL already there."""
    if not feeds:
        return text
    existing = configured_feeds(text)
    names = {str(f.get("name")): f for f in existing}
    urls = {same_url(str(f.get("url", ""))): f for f in existing}
    for feed in feeds:
        if feed.name in names:
            raise FeedsFileError(
                f"a feed named {feed.name!r} is already in the config "
                f"({names[feed.name].get('url')}): choose another --name"
            )
        known = urls.get(same_url(feed.url))
        if known is not None:
            raise FeedsFileError(f"{feed.url} is already followed, as {known.get('name')!r}")
        names[feed.name] = feed.table()
        urls[same_url(feed.url)] = feed.table()
    original = _parse(text)
    expected = copy.deepcopy(original)
    expected.setdefault("feeds", []).extend(feed.table() for feed in feeds)
    lines = text.splitlines(keepends=True)
    blocks = _feed_blocks(lines)
    if blocks:  # after the last [[feeds]] table, a blank line between
        at = blocks[-1].end
        if not lines[at - 1].endswith("\n"):
            lines[at - 1] += "\n"
        lines[at:at] = ["\n", *_render(feeds).splitlines(keepends=True)]
        new = "".join(lines)
    elif "feeds" in original:  # feeds = [{...}, ...]: the array gets them
        new = _inline_edit(text, lambda array: [array.append(_inline(f)) for f in feeds])
    else:  # the file's first feeds, at its end
        new = text if not text or text.endswith("\n") else text + "\n"
        if new.strip():
            new += "" if new.endswith("\n\n") else "\n"
        else:
            new = NEW_FILE_HEADER + "\n"
        new += _render(feeds)
    return _checked(new, expected)


def remove_feed(text: str, name: str) -> str:
    """``text`` without the feed named ``name`` (its table, and the comment lines right above
    it)."""
    existing = configured_feeds(text)
    index = next((i for i, f in enumerate(existing) if f.get("name") == name), None)
    if index is None:
        known = ", ".join(repr(str(f.get("name"))) for f in existing) or "none"
        raise FeedsFileError(f"no feed named {name!r} in the config (feeds: {known})")
    expected = _parse(text)
    del expected["feeds"][index]
    lines = text.splitlines(keepends=True)
    blocks = _feed_blocks(lines)
    if blocks and not expected["feeds"]:
        del expected["feeds"]  # no [[feeds]] table left: no feeds key either
    if not blocks:
        return _checked(_inline_edit(text, lambda array: array.pop(index)), expected)
    block = blocks[index]
    stop = block.end
    while stop < len(lines) and not lines[stop].strip():
        stop += 1
    if stop == len(lines):  # the last thing in the file: the blank lines before it go too
        start = block.lead
        while start > 0 and not lines[start - 1].strip():
            start -= 1
        del lines[start:]
    elif block.lead == 0 or not lines[block.lead - 1].strip():
        del lines[block.lead : stop]  # the blank line before it keeps its neighbours apart
    else:
        del lines[block.lead : block.end]
    return _checked("".join(lines), expected)


def _checked(new: str, expected: Mapping[str, Any]) -> str:
    if _parse(new) != expected:
        raise FeedsFileError(
            "cannot edit the feeds of this file safely (its layout is unusual): edit its "
            "[[feeds]] tables by hand"
        )
    return new


def _parse(text: str) -> dict[str, Any]:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise FeedsFileError(f"invalid TOML: {exc}") from None


def _render(feeds: Sequence[NewFeed]) -> str:
    """``[[feeds]]`` tables, a blank line between them, written by tomlkit."""
    rendered = []
    for feed in feeds:
        table = tomlkit.table()
        for key, value in feed.table().items():
            table.add(key, value)
        tables = tomlkit.aot()
        tables.append(table)
        document = tomlkit.document()
        document.add("feeds", tables)
        rendered.append(tomlkit.dumps(document).strip("\n") + "\n")
    return "\n".join(rendered)


def _inline(feed: NewFeed) -> Any:
    table = tomlkit.inline_table()
    table.update(feed.table())
    return table


def _inline_edit(text: str, change: Callable[[Any], object]) -> str:
    document = tomlkit.parse(text)
    if "feeds" not in document:
        return text
    change(document["feeds"])
    return tomlkit.dumps(document)


# -- where each [[feeds]] table is, in lines ----------------------------------------------------


@dataclass(frozen=True)
class _Block:
    lead: int  # first line: its comment lines above the header, else the header
    header: int
    end: int  # one past its last line that is not blank


_HEADER = re.compile(r"\s*(\[\[?)\s*([^\]]*?)\s*\]\]?\s*(#.*)?$")


def _feed_blocks(lines: list[str]) -> list[_Block]:
    """The ``[[feeds]]`` tables among ``lines``, in order. A table's comment lines are those
    right above its header and those among or right after its keys; comments after a blank
    line that ends it are whatever follows's (a section's heading)."""
    headers = [number for number, _, _ in _headers(lines)]
    blocks: list[_Block] = []
    for position, (header, double, name) in enumerate(_headers(lines)):
        if not (double and name.strip("\"'") == "feeds"):
            continue
        lead = _lead(lines, header, headers[position - 1] if position else -1)
        following = len(lines)
        if position + 1 < len(headers):
            following = _lead(lines, headers[position + 1], header)
        end, gap = header + 1, False
        for number in range(header + 1, following):
            text = lines[number].strip()
            if not text:
                gap = True
            elif not (gap and text.startswith("#")):
                end, gap = number + 1, False
        blocks.append(_Block(lead, header, end))
    return blocks


def _lead(lines: list[str], header: int, previous: int) -> int:
    """The first of the comment lines right above ``header`` (``header`` if none)."""
    lead = header
    while lead - 1 > previous and lines[lead - 1].lstrip().startswith("#"):
        lead -= 1
    return lead


def _headers(lines: list[str]) -> Iterator[tuple[int, bool, str]]:
    """(line number, is an array of tables, name) of each table header: a line that starts with
    ``[`` outside any string or value that spans lines."""
    state = _Scan()
    for number, line in enumerate(lines):
        if state.is_clear():
            match = _HEADER.match(line)
            if match is not None and line.lstrip().startswith("["):
                yield number, match.group(1) == "[[", match.group(2)
                continue
        state.feed(line)


class _Scan:
    """Where a TOML text is, line by line: in a multi-line string, or inside a value's brackets."""

    def __init__(self) -> None:
        self.string: str | None = None  # '"""' or "'''" while inside one
        self.depth = 0

    def is_clear(self) -> bool:
        return self.string is None and self.depth == 0

    def feed(self, line: str) -> None:
        i, n = 0, len(line)
        while i < n:
            if self.string is not None:
                end = line.find(self.string, i)
                while self.string == '"""' and end > 0 and _escaped(line, end):
                    end = line.find(self.string, end + 1)
                if end < 0:
                    return
                i = end + 3
                self.string = None
                continue
            char = line[i]
            if char == "#":
                return
            if line.startswith(('"""', "'''"), i):
                self.string = line[i : i + 3]
                i += 3
                continue
            if char in "\"'":
                end = line.find(char, i + 1)
                while char == '"' and end > 0 and _escaped(line, end):
                    end = line.find(char, end + 1)
                i = n if end < 0 else end + 1
                continue
            if char in "[{":
                self.depth += 1
            elif char in "]}":
                self.depth = max(0, self.depth - 1)
            i += 1


def _escaped(line: str, at: int) -> bool:
    backslashes = 0
    while at - backslashes - 1 >= 0 and line[at - backslashes - 1] == "\\":
        backslashes += 1
    return backslashes % 2 == 1


# -- names ---------------------------------------------------------------------------------------


def same_url(url: str) -> str:
    try:
        return canonical_url(url.strip())
    except ValueError:
        return url.strip()


def suggest_name(title: str, url: str, taken: set[str]) -> str:
    """A name for a feed that has none: its title (tidied, not too long), else its site's name;
    with ``-2``, ``-3``... when another feed has it."""
    base = " ".join(title.split())[:MAX_NAME_CHARS].strip(" -–—|:") or _site_name(url)
    name, number = base, 1
    while name in taken:
        number += 1
        name = f"{base}-{number}"
    return name


def _site_name(url: str) -> str:
    host = (urlsplit(url).hostname or "feed").lower()
    for prefix in ("www.", "feeds.", "feed.", "rss."):
        if host.startswith(prefix) and host.count(".") > 1:
            host = host[len(prefix) :]
            break
    return host
