"""Turning what a person types into a safe FTS5 query over the normalised columns.

The index holds ``normalize(title)`` and ``normalize(text)``, so every term is normalised the
same way before it reaches MATCH: «الإنسحاب» and «الانْسِحَاب» both become «الانسحاب». Every term
is emitted as a double-quoted FTS5 string, so no character the user types can become FTS5
syntax; the only operators are the ones recognised here:

- ``word`` — all words must occur (implicit AND). An Arabic word finds every form a watch rule
  with that keyword matches (مسجد finds المساجد, انسحاب finds انسحبت and ينسحبون): its forms
  are the words of the index that the rule's analysis accepts (:func:`forms_in_index`);
- ``exact:word``, ``"several words"`` or «several words» — the literal text (a phrase);
- ``word*`` — a prefix;
- ``OR`` (upper case, between two terms) — either side.

Pure functions, and one that takes the index's words from a lookup it is given; running the
query is :func:`storage.queries.search_articles`'s job.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache

from marsad.arabic import normalize
from marsad.arabic.morphology import Core, Lexicon, word_cores
from marsad.arabic.script import has_arabic
from marsad.arabic.tokens import match_key, token_spans


class SearchSyntaxError(ValueError):
    """The query cannot be searched; the message says why in terms the user typed."""


# A valid FTS5 expression that matches nothing: an empty phrase.
MATCH_NOTHING = '""'

# The forms of each analysed term found in the index, as :func:`forms_in_index` returns them.
Forms = Mapping["Term", Sequence[str]]


@dataclass(frozen=True)
class Term:
    """One thing to look for: a word or phrase, already normalised into its tokens.

    ``analysed``: a single Arabic word typed as is, which stands for its forms (``word`` is
    what was typed, what its forms derive from)."""

    tokens: tuple[str, ...]
    prefix: bool = False
    analysed: bool = False
    word: str = ""

    def fts(self, forms: Forms | None = None) -> str:
        """The term as FTS5; an analysed one as any of its ``forms`` when they are given
        (matching nothing when it has none), as its literal spelling otherwise."""
        if self.analysed and forms is not None:
            return _any_of(forms.get(self, ()))
        phrase = " ".join(self.tokens).replace('"', '""')
        return f'"{phrase}"' + ("*" if self.prefix else "")


@dataclass(frozen=True)
class ParsedQuery:
    """Groups joined by OR; the terms inside a group are joined by AND."""

    groups: tuple[tuple[Term, ...], ...]

    def fts(self, forms: Forms | None = None) -> str:
        parts = []
        for group in self.groups:
            inner = " AND ".join(term.fts(forms) for term in group)
            parts.append(f"({inner})" if len(group) > 1 and len(self.groups) > 1 else inner)
        return " OR ".join(parts)

    @property
    def terms(self) -> tuple[Term, ...]:
        return tuple(term for group in self.groups for term in group)

    @property
    def analysed(self) -> tuple[Term, ...]:
        return tuple(dict.fromkeys(t for t in self.terms if t.analysed))


def _any_of(words: Sequence[str]) -> str:
    """FTS5 for any of ``words``, as a balanced tree of ORs (FTS5 limits an expression's depth)."""
    parts = ['"' + w.replace('"', '""') + '"' for w in sorted(set(words))]
    if not parts:
        return MATCH_NOTHING
    while len(parts) > 1:
        paired = [f"({a} OR {b})" for a, b in zip(parts[::2], parts[1::2], strict=False)]
        parts = paired + ([parts[-1]] if len(parts) % 2 else [])
    return parts[0]


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
            exact = body.startswith(EXACT)
            if exact:
                body = body[len(EXACT) :]
            term = _term(body, prefix=prefix, shown=word, analyse=not (exact or prefix))
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


# Before a word, what asks for its literal spelling instead of its forms.
EXACT = "exact:"


def _term(raw: str, *, prefix: bool, shown: str, analyse: bool = False) -> Term | None:
    tokens = tuple(_TOKEN.findall(normalize(raw)))
    if not tokens:
        if prefix:
            raise SearchSyntaxError(f"{shown!r}: a prefix search needs letters before the *")
        return None  # punctuation on its own: nothing to look for, like the tokenizer
    # One Arabic word stands for its forms, as a rule keyword does; anything else is literal.
    words = [w for w, _, _ in token_spans(raw)]
    if analyse and len(tokens) == 1 and len(words) == 1 and has_arabic(words[0]):
        return Term(tokens, analysed=True, word=words[0])
    return Term(tokens, prefix=prefix)


# --- forms of an analysed term in the index -------------------------------------------------------


@lru_cache(maxsize=256)
def term_cores(word: str) -> tuple[Core, ...]:
    """The cores a rule keyword ``word`` compiles to (its default forms)."""
    return word_cores(match_key(word))


@lru_cache(maxsize=64)
def _lexicon(words: tuple[str, ...]) -> Lexicon[int]:
    """The forms of each of ``words``; a form of words[i] analyses to i."""
    lexicon: Lexicon[int] = Lexicon()
    for i, word in enumerate(words):
        for core in term_cores(word):
            lexicon.add(core, i)
    return lexicon


# The index spells a hamza on its seat (مسؤول, مسئول) where a match key writes ء.
_SEATS = ("ء", "ؤ", "ئ")


def _index_spellings(key: str) -> list[str]:
    spellings = [""]
    for letter in key:
        options = _SEATS if letter == "ء" else ("ه",) if letter == "ة" else (letter,)
        spellings = [s + o for s in spellings for o in options]
    return spellings


def vocabulary_ranges(term: Term) -> list[tuple[str, str]]:
    """[start, end) ranges of index words that may be forms of an analysed ``term``: every
    way its cores begin once the clitics in front are written (a form of انسحاب begins with
    انسحاب, والانسحاب, انسحب, ينسحب…), none of them inside another."""
    starts = {
        spelling
        for core in term_cores(term.word)
        for prefix in core.kind.prefixes
        for spelling in _index_spellings(prefix + core.text)
    }
    ranges: list[tuple[str, str]] = []
    for start in sorted(starts):
        if ranges and start.startswith(ranges[-1][0]):
            continue  # within the range before
        ranges.append((start, start[:-1] + chr(ord(start[-1]) + 1)))
    return ranges


def _readings(index_word: str) -> list[str]:
    """The match keys an index word may stand for: its hamza seats folded, and a final ه read
    as ه or as the ة the index folded into it."""
    key = match_key(index_word)
    return [key, key[:-1] + "ة"] if key.endswith("ه") else [key]


def forms_in_index(
    query: ParsedQuery, lookup: Callable[[str, str], Sequence[str]]
) -> dict[Term, tuple[str, ...]]:
    """For each analysed term of ``query``, the words of the index that are its forms.

    ``lookup(start, end)`` returns the index's words in [start, end). A word is kept when a
    rule with the term as keyword would match it (read with ة where the index has ه, so
    مجموعه is kept for مجموعة: the CLI checks each article's text, see :func:`term_hits`)."""
    found: dict[Term, tuple[str, ...]] = {}
    for term in query.analysed:
        lexicon = _lexicon((term.word,))
        words = [w for start, end in vocabulary_ranges(term) for w in lookup(start, end)]
        found[term] = tuple(
            w for w in dict.fromkeys(words) if any(lexicon.analyse(r) for r in _readings(w))
        )
    return found


def index_words_on(conn: sqlite3.Connection, start: str, end: str) -> list[str]:
    """:func:`storage.queries.index_words` on a bare connection: Datasette's own, from inside
    another statement's SQL function, where opening a connection of its own is not possible."""
    rows = conn.execute(
        "SELECT term FROM articles_fts_vocab WHERE term >= ? AND term < ?", [start, end]
    ).fetchall()
    return [row[0] for row in rows]


def term_hits(text: str, terms: Sequence[Term]) -> dict[Term, list[tuple[int, int]]]:
    """Where in ``text`` (original spelling) each analysed term's forms are, by the rule
    analysis itself: what the index's folding of ة into ه cannot tell apart, this does."""
    analysed = tuple(dict.fromkeys(t for t in terms if t.analysed))
    hits: dict[Term, list[tuple[int, int]]] = {t: [] for t in analysed}
    if not analysed:
        return hits
    lexicon = _lexicon(tuple(t.word for t in analysed))
    spans = token_spans(text)
    # Each distinct word analysed once, after the lexicon's batch pre-filter turned most away.
    keys = {written: match_key(written) for written, _, _ in spans}
    distinct = list(keys.values())
    found = {
        key: lexicon.analyse(key)
        for key, possible in zip(distinct, lexicon.possible(distinct), strict=True)
        if possible
    }
    for written, start, end in spans:
        for i in found.get(keys[written], ()):
            hits[analysed[i]].append((start, end))
    return hits


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
    found whatever diacritics or hamza spelling the text uses; an analysed term's hits are its
    forms (:func:`term_hits`). With no hit (the match was in the other column), the start of
    the text.
    """
    literal = [term for term in terms if not term.analysed]
    words = (
        [(m.start(), m.end(), _norm_word(m.group(0))) for m in _WORD.finditer(text)]
        if literal
        else []
    )
    hits: list[tuple[int, int]] = []
    for term in literal:
        hits.extend(_find(words, term))
    for spans in term_hits(text, terms).values():
        hits.extend(spans)
    hits = sorted(set(hits))
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
