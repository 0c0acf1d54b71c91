"""Reading articles from JSON lines (plain or gzip) for ``marsad import``.

Pure parsing: bytes in, records and per-line errors out. Storing them is the ingest path's job.
"""

from __future__ import annotations

import codecs
import gzip
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from marsad.storage.models import NewArticle
from marsad.times import to_utc_iso
from marsad.urls import canonical_url


@dataclass(frozen=True)
class LineError:
    line: int
    message: str


@dataclass(frozen=True)
class ArticleLine:
    """An article read from a line, with the line's number: where to point if storing it fails."""

    line: int
    article: NewArticle


Item = ArticleLine | LineError


def open_jsonl(path: Path) -> IO[bytes]:
    """Open a ``.jsonl`` file, or a gzip one (by its magic bytes, whatever its name). Nothing is
    read twice, so a pipe (``<(zcat dump.gz)``) works too."""
    handle = path.open("rb")
    if handle.peek(2)[:2] == b"\x1f\x8b":
        return gzip.open(handle, "rb")  # type: ignore[return-value]
    return handle


def read_articles(stream: IO[bytes]) -> Iterator[Item]:
    """One article or one error per non-blank line, in order. A line that cannot be an article
    (bad UTF-8 or JSON, JSON nested too deeply, text no store can hold) is an error naming the
    line, never an exception: the lines after it are read as usual."""
    for number, raw in enumerate(stream, start=1):
        # Every line's, not only the first: files joined with `cat` keep each one's BOM.
        raw = raw.removeprefix(codecs.BOM_UTF8)
        if not raw.strip():
            continue
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            yield LineError(number, f"not UTF-8 (byte {exc.start})")
            continue
        try:
            record = json.loads(text)
        except json.JSONDecodeError as exc:
            yield LineError(number, f"invalid JSON: {exc.msg} at column {exc.colno}")
            continue
        except RecursionError:
            yield LineError(number, "invalid JSON: nested too deeply")
            continue
        except ValueError as exc:  # an integer of more digits than Python converts
            yield LineError(number, f"invalid JSON: {str(exc).partition(':')[0]}")
            continue
        item = article_from_record(record, number)
        yield item if isinstance(item, LineError) else ArticleLine(number, item)


def article_from_record(record: object, number: int) -> NewArticle | LineError:
    if not isinstance(record, dict):
        return LineError(number, "expected a JSON object")
    url = record.get("url")
    if not isinstance(url, str) or not url.startswith(("http://", "https://")):
        return LineError(number, f"url: required, an http(s) URL, got {_shown(url)}")
    fields: dict[str, str] = {"url": url}
    for key in ("title", "text", "source"):
        value = record.get(key, "")
        if value is None:
            value = ""
        if not isinstance(value, str):
            return LineError(number, f"{key}: must be a string, got {type(value).__name__}")
        fields[key] = value
    for key in ("guid", "author", "language"):
        value = record.get(key)
        if isinstance(value, str) and value:
            fields[key] = value
    for key, value in fields.items():
        # JSON can escape half of a UTF-16 pair ("\ud800"): a str Python holds, and SQLite
        # refuses to store, which would fail the whole batch of the import.
        bad = _lone_surrogate(value)
        if bad is not None:
            return LineError(number, f"{key}: a lone surrogate (\\u{bad:04x}) is not text")
    if not fields["title"].strip() and not fields["text"].strip():
        return LineError(number, "title and text are both empty")
    published_raw = record.get("published")
    published = to_utc_iso(published_raw) if published_raw not in (None, "") else None
    if published_raw not in (None, "") and published is None:
        return LineError(number, f"published: not a date: {_shown(published_raw)}")
    try:
        canonical = canonical_url(url)
    except ValueError as exc:  # a port out of range, a broken IPv6 address
        return LineError(number, f"url: not a URL: {exc}: {_shown(url)}")
    return NewArticle(
        url=url,
        canonical_url=canonical,
        source=fields["source"].strip()
        or (canonical.split("/")[2] if "//" in canonical else "import"),
        title=fields["title"].strip(),
        text=fields["text"].strip(),
        published=published,
        guid=fields.get("guid"),
        author=fields.get("author"),
        language=fields.get("language"),
        extraction="import",
    )


def _lone_surrogate(text: str) -> int | None:
    """The first code point of ``text`` that UTF-8 cannot encode (a lone surrogate), if any."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        return ord(text[exc.start])
    return None


def _shown(value: object) -> str:
    """A value in an error message: its repr, cut short, so a huge line gives a short message."""
    shown = repr(value)
    return shown if len(shown) <= 80 else shown[:77] + "..."
