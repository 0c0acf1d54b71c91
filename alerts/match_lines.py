"""``marsad match`` as a library call: JSON lines of articles in, their matches out, no store."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from marsad.alerts.matching import RuleIndex


@dataclass(frozen=True)
class SkippedLine:
    line: int
    reason: str


def match_lines(index: RuleIndex, lines: Iterable[str]) -> Iterator[dict[str, Any] | SkippedLine]:
    """For each non-blank line ``{"id", "title", "text"}``, ``{"id", "matches": [...]}`` with
    every match's rule, keyword, field, character span, surface and form (core, plural,
    past…); a line that is not such an object is a :class:`SkippedLine` saying why."""
    for number, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue
        try:
            record = json.loads(raw)
            if not isinstance(record, dict):
                raise ValueError("expected a JSON object")
            title = record.get("title") or ""
            text = record.get("text") or ""
            if not isinstance(title, str) or not isinstance(text, str):
                raise ValueError("title and text must be strings")
        except ValueError as exc:
            yield SkippedLine(number, str(exc))
            continue
        yield {
            "id": record.get("id"),
            "matches": [
                {
                    "rule": m.rule,
                    "keyword": m.keyword,
                    "field": m.field,
                    "start": m.start,
                    "end": m.end,
                    "surface": m.surface,
                    "form": m.form,
                }
                for m in index.match(title, text)
            ],
        }
