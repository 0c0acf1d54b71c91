"""Text every channel type shows of an alert, made safe and marked. Pure: no I/O.

The message formats themselves belong to their channel types (:mod:`marsad.alerts.channels`);
these are the pieces they share: one clean line of untrusted text, and where the match sits in
its snippet.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from typing import Any

# Explicit bidi embeddings, overrides and isolates, plus LRM/RLM/ALM: in a subject line they can
# reorder what the reader sees ("Trojan Source"); the mail client lays out Arabic by itself.
_BIDI_CONTROLS = frozenset(
    "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
)
_LINE_BREAKS = frozenset("\u2028\u2029\u0085")
# Control, private-use and unassigned characters: dropped (whitespace becomes a space instead).
_DROP = frozenset(("Cc", "Co", "Cn"))
_WORD_CHAR = r"[^\W_]"


def clean_line(text: object, limit: int | None = None) -> str:
    """``text`` as one safe line: no control, bidi-override or line-break characters, capped."""
    kept = []
    for ch in scrub(str(text or "")):
        if ch in _LINE_BREAKS or ch.isspace():
            kept.append(" ")
        elif not (ch in _BIDI_CONTROLS or ch == "\ufeff" or unicodedata.category(ch) in _DROP):
            kept.append(ch)
    line = " ".join("".join(kept).split())
    if limit is not None and len(line) > limit:
        line = line[: limit - 1].rstrip() + "…"
    return line


def highlight_span(snippet: str, surface: str) -> tuple[int, int] | None:
    """Where ``surface`` (the matched text) sits in ``snippet``, or ``None`` if it is not there.

    The stored snippet has its whitespace collapsed, so offsets into the article do not apply;
    the match is found again, preferring an occurrence that is a whole word.
    """
    needle = " ".join(surface.split())
    if not needle:
        return None
    escaped = re.escape(needle)
    found = re.search(rf"(?<!{_WORD_CHAR}){escaped}(?!{_WORD_CHAR})", snippet) or re.search(
        escaped, snippet
    )
    return (found.start(), found.end()) if found else None


def split_snippet(match: Mapping[str, Any]) -> tuple[str, str, str]:
    """A stored match's snippet, cleaned and cut around its match: ``(before, hit, after)``;
    ``hit`` is "" when the match is not found in the snippet."""
    snippet = clean_line(match.get("snippet"))
    span = highlight_span(snippet, clean_line(match.get("surface")))
    if span is None:
        return snippet, "", ""
    start, end = span
    return snippet[:start], snippet[start:end], snippet[end:]


def scrub(text: str) -> str:
    """Replace lone surrogates (from badly decoded input), which cannot be encoded as UTF-8."""
    return text.encode("utf-8", "replace").decode("utf-8")


def growth_label(payload: Mapping[str, Any]) -> str | None:
    """What an alert raised by its story's growth says before its rule's name: "متابعة: 3
    outlets" for a follow-up, "عاجل: 5 outlets in 2h" for a breaking alert; None otherwise.
    A follow-up's subject would else be the first alert's, word for word."""
    follow_up = payload.get("follow_up")
    if isinstance(follow_up, Mapping):
        return f"متابعة: {_count(follow_up.get('outlets'))} outlets"
    breaking = payload.get("breaking")
    if isinstance(breaking, Mapping):
        within = clean_line(breaking.get("within"), 20)
        label = f"عاجل: {_count(breaking.get('outlets'))} outlets"
        return f"{label} in {within}" if within else label
    return None


def _count(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0
