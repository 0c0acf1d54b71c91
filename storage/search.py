"""Turning what a person types into a safe FTS5 query over the normalised columns.

The index holds ``normalize(title)`` and ``normalize(text)``, so every term is normalised the
same way before it reaches MATCH: «الإنسحاب» and «الانْسِحَاب» both become «الانسحاب». Every term
is emitted as a double-quoted FTS5 string, so no character the user types can become FTS5
syntax; the only operators are the ones recognised here:

- ``word`` — all words must occur (implicit AND);
- ``"several words"`` or «several words» — a phrase;
- ``word*`` — a prefix;
- ``OR`` (upper case, between two terms) — either side.

Pure functions only; running the query is :func:`storage.queries.search_articles`'s job.
"""

from __future__ import annotations

import re
import sqlite3
from dataclasses import dataclass

from marsad.arabic import normalize


class SearchSyntaxError(ValueError):
    """The query cannot be searched; the message says why in terms the user typed."""


@dataclass(frozen=True)
class Term:
    """One thing to look for: a word or phrase, already normalised into its tokens."""

    tokens: tuple[str, ...]
    prefix: bool = False

    def fts(self) -> str:
        phrase = " ".join(self.tokens).replace('"', '""')
        return f'"{phrase}"' + ("*" if self.prefix else "")


@dataclass(frozen=True)
class ParsedQuery:
    """Groups joined by OR; the terms inside a group are joined by AND."""

    groups: tuple[tuple[Term, ...], ...]

    def fts(self) -> str:
        parts = []
        for group in self.groups:
            inner = " AND ".join(term.fts() for term in group)
            parts.append(f"({inner})" if len(group) > 1 and len(self.groups) > 1 else inner)
        return " OR ".join(parts)

    @property
    def terms(self) -> tuple[Term, ...]:
        return tuple(term for group in self.groups for term in group)


# A quoted phrase (either quote style), or a run of anything that is not white space or a quote.
_PIECE = re.compile(r'"(?P<dq>[^"]*)("|$)|«(?P<gq>[^»]*)(»|$)|(?P<word>[^\s"«»]+)|(?P<bad>["«»])')
# FTS5's unicode61 tokenizer splits on everything that is not a letter, digit or mark.
_TOKEN = re.compile(r"[^\W_]+", re.UNICODE)


def parse_query(text: str) -> ParsedQuery:
    """Parse user input; raise :class:`SearchSyntaxError` for input that cannot be searched."""
    if not text.strip():
        raise SearchSyntaxError("the query is empty")
    groups: list[tuple[Term, ...]] = []
    current: list[Term] = []
    pending_or = False
    for m in _PIECE.finditer(text):
        if m.group("bad") is not None:
            raise SearchSyntaxError(f"unexpected {m.group('bad')} at position {m.start() + 1}")
        phrase = m.group("dq") if m.group("dq") is not None else m.group("gq")
        if phrase is not None:
            closed = m.group(2) if m.group("dq") is not None else m.group(4)
            if not closed:
                raise SearchSyntaxError(
                    f"unclosed quote at position {m.start() + 1}: close the phrase with "
                    f"{'»' if m.group('gq') is not None else chr(34)}"
                )
            term = _term(phrase, prefix=False, shown=m.group(0))
        else:
            word = m.group("word")
            if word == "OR":
                if not current or pending_or:
                    raise SearchSyntaxError("OR needs a word or phrase on each side")
                pending_or = True
                continue
            prefix = word.endswith("*")
            body = word.rstrip("*")
            if "*" in body:
                raise SearchSyntaxError(f"{word!r}: * may only end a word (prefix search)")
            term = _term(body, prefix=prefix, shown=word)
        if term is None:
            continue
        if pending_or:
            groups.append(tuple(current))
            current = []
            pending_or = False
        current.append(term)
    if pending_or:
        raise SearchSyntaxError("OR needs a word or phrase on each side")
    if current:
        groups.append(tuple(current))
    if not groups:
        raise SearchSyntaxError("the query has no letters or digits to search for")
    return ParsedQuery(tuple(groups))


def _term(raw: str, *, prefix: bool, shown: str) -> Term | None:
    tokens = tuple(_TOKEN.findall(normalize(raw)))
    if not tokens:
        if prefix:
            raise SearchSyntaxError(f"{shown!r}: a prefix search needs letters before the *")
        return None  # punctuation on its own: nothing to look for, like the tokenizer
    return Term(tokens, prefix=prefix)


def describe_sqlite_error(exc: sqlite3.Error) -> str:
    """A message for an error SQLite raised while running a search, without SQL jargon."""
    message = str(exc)
    if "fts5" in message or "syntax error" in message or "malformed MATCH" in message:
        return f"the search index rejected the query ({message})"
    if "no such table" in message:
        return f"the store has no search index ({message}); is it a marsad store?"
    return message


@dataclass(frozen=True)
class Snippet:
    """A window of the original (un-normalised) text, and where the hits are inside it."""

    text: str
    hits: tuple[tuple[int, int], ...]


# A word of the original text, harakat and tatweel included (they are not letters to \w).
_WORD = re.compile(r"[\w\u0610-\u061a\u064b-\u065f\u0670\u06d6-\u06ed\u0640]+", re.UNICODE)


def snippet(text: str, terms: tuple[Term, ...], width: int = 160) -> Snippet:
    """The first stretch of ``text`` (original spelling) holding a hit, about ``width`` long.

    Words are compared after normalisation, the way the index compares them, so the hit is
    found whatever diacritics or hamza spelling the text uses. With no hit (the match was in
    the other column), the start of the text.
    """
    words = [(m.start(), m.end(), _norm_word(m.group(0))) for m in _WORD.finditer(text)]
    hits: list[tuple[int, int]] = []
    for term in terms:
        hits.extend(_find(words, term))
    hits.sort()
    if not hits:
        return Snippet(_clip(text, 0, width), ())
    first_start = hits[0][0]
    start = max(0, first_start - width // 3)
    # Start the window at a word boundary, not inside a word.
    while start > 0 and not text[start - 1].isspace():
        start -= 1
    end = min(len(text), start + width)
    while end < len(text) and not text[end].isspace():
        end += 1
    prefix = "…" if start > 0 else ""
    suffix = "…" if end < len(text) else ""
    window = text[start:end]
    shift = len(prefix) - start
    inside = tuple((s + shift, e + shift) for s, e in hits if s >= start and e <= end)
    return Snippet(prefix + window + suffix, inside)


def _norm_word(word: str) -> str:
    return "".join(_TOKEN.findall(normalize(word)))


def _find(words: list[tuple[int, int, str]], term: Term) -> list[tuple[int, int]]:
    found = []
    n = len(term.tokens)
    for i in range(len(words) - n + 1):
        ok = all(words[i + k][2] == term.tokens[k] for k in range(n - 1))
        last = words[i + n - 1][2]
        tail = term.tokens[-1]
        if ok and (last.startswith(tail) if term.prefix else last == tail):
            found.append((words[i][0], words[i + n - 1][1]))
    return found


def _clip(text: str, start: int, width: int) -> str:
    if len(text) <= width:
        return text
    end = width
    while end > 0 and not text[end].isspace():
        end -= 1
    return text[start : end or width] + "…"
