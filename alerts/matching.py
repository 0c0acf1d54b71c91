"""Matching watch rules against an article's title and body.

Everything goes through :func:`match_article`, so the matcher behind it can be replaced without
touching its callers.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import product

from alerts.rules import Rule
from arabic import normalize

# A token is a run of letters, digits and the marks that live inside Arabic words
# (harakat, tatweel, joiners), so "الانْسِحَاب" stays one word.
_TOKEN = re.compile(r"[^\W_]+(?:[\u0610-\u061a\u064b-\u065f\u0670\u0640\u200c\u200d]+[^\W_]*)*")

# The article and attached particles that may stand in front of a keyword.
_PREFIXES = frozenset(
    {c + p + a for c, p, a in product(("", "و", "ف"), ("", "ب", "ك", "ل"), ("", "ال"))}
    | {"لل", "ولل", "فلل"}
)

SNIPPET_RADIUS = 80


@dataclass(frozen=True)
class Match:
    rule: str
    keyword: str
    field: str
    start: int
    end: int
    surface: str


@dataclass(frozen=True)
class _Token:
    norm: str
    start: int
    end: int


def tokenize(text: str) -> list[_Token]:
    return [_Token(normalize(m.group()), m.start(), m.end()) for m in _TOKEN.finditer(text)]


def match_article(rules: Sequence[Rule], title: str, text: str) -> list[Match]:
    """Every keyword hit of every rule in the title and the body, in order of position."""
    fields = (("title", title, tokenize(title)), ("body", text, tokenize(text)))
    found: list[Match] = []
    for rule in rules:
        for keyword in rule.keywords:
            words = [t.norm for t in tokenize(keyword)]
            if not words:
                continue
            for field, original, tokens in fields:
                for start, end in _find_phrase(tokens, words):
                    found.append(Match(rule.name, keyword, field, start, end, original[start:end]))
    return found


def _find_phrase(tokens: Sequence[_Token], words: Sequence[str]) -> list[tuple[int, int]]:
    spans = []
    first, rest = words[0], words[1:]
    for i in range(len(tokens) - len(rest)):
        head = tokens[i].norm
        if not head.endswith(first) or head[: len(head) - len(first)] not in _PREFIXES:
            continue
        if all(tokens[i + 1 + j].norm == w for j, w in enumerate(rest)):
            spans.append((tokens[i].start, tokens[i + len(rest)].end))
    return spans


def snippet(text: str, start: int, end: int, radius: int = SNIPPET_RADIUS) -> str:
    """The text around a match, cut at word boundaries, with an ellipsis where it was cut."""
    left = max(0, start - radius)
    right = min(len(text), end + radius)
    if left > 0:
        space = text.find(" ", left, start)
        left = space + 1 if space != -1 else left
    if right < len(text):
        space = text.rfind(" ", end, right)
        right = space if space != -1 else right
    piece = " ".join(text[left:right].split())
    return ("…" if left > 0 else "") + piece + ("…" if right < len(text) else "")
