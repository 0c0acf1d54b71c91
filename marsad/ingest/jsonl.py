"""Reading articles from JSON lines (plain or gzip) for ``marsad import``.

Pure parsing: bytes in, records and per-line errors out. Storing them is the ingest path's job.
"""

from __future__ import annotations

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


def open_jsonl(path: Path) -> IO[bytes]:
    """Open a ``.jsonl`` file, or a gzip one (by its magic bytes, whatever its name)."""
    handle = path.open("rb")
    magic = handle.read(2)
    handle.seek(0)
    if magic == b"\x1f\x8b":
        return gzip.open(handle, "rb")  # type: ignore[return-value]
    return handle


def read_articles(stream: IO[bytes]) -> Iterator[NewArticle | LineError]:
    """One article or one error per non-blank line, in order."""
    for number, raw in enumerate(stream, start=1):
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
        yield article_from_record(record, number)


def article_from_record(record: object, number: int) -> NewArticle | LineError:
    if not isinstance(record, dict):
        return LineError(number, "expected a JSON object")
    url = record.get("url")
    if not isinstance(url, str) or not url.startswith(("http://", "https://")):
        return LineError(number, f"url: required, an http(s) URL, got {url!r}")
    fields: dict[str, str] = {}
    for key in ("title", "text", "source"):
        value = record.get(key, "")
        if value is None:
            value = ""
        if not isinstance(value, str):
            return LineError(number, f"{key}: must be a string, got {type(value).__name__}")
        fields[key] = value
    if not fields["title"].strip() and not fields["text"].strip():
        return LineError(number, "title and text are both empty")
    published_raw = record.get("published")
    published = to_utc_iso(published_raw) if published_raw not in (None, "") else None
    if published_raw not in (None, "") and published is None:
        return LineError(number, f"published: not a date: {published_raw!r}")
    guid = record.get("guid")
    canonical = canonical_url(url)
    return NewArticle(
        url=url,
        canonical_url=canonical,
        source=fields["source"].strip()
        or (canonical.split("/")[2] if "//" in canonical else "import"),
        title=fields["title"].strip(),
        text=fields["text"].strip(),
        published=published,
        guid=guid if isinstance(guid, str) and guid else None,
        author=record.get("author") if isinstance(record.get("author"), str) else None,
        language=record.get("language") if isinstance(record.get("language"), str) else None,
        extraction="import",
    )
