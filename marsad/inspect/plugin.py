"""The Datasette plugin ``marsad inspect`` registers: Arabic-aware search, read-only
connections and right-to-left display.

Registered in-process by :func:`marsad.inspect.server.build_datasette` (not through an entry
point),
so it only affects the Datasette that marsad starts.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from typing import Any, TypeVar, cast

from datasette import hookimpl
from datasette.utils.asgi import Response

from marsad.arabic import normalize
from marsad.storage.search import (
    MATCH_NOTHING,
    SearchSyntaxError,
    forms_in_index,
    index_words_on,
    parse_query,
    snippet,
)

F = TypeVar("F", bound=Callable[..., Any])


def _hook(func: F) -> F:
    # Datasette's hookimpl marker is untyped; this keeps the hook functions' own signatures.
    return cast(F, hookimpl(func))


def _hook_last(func: F) -> F:
    return cast(F, hookimpl(trylast=True)(func))


CSS_PATH = "/-/marsad-rtl.css"

# unicode-bidi: plaintext gives every cell the direction of its first strong letter, as
# dir="auto" does, so an Arabic title reads right to left next to a Latin URL.
RTL_CSS = """
td, th, pre, textarea, input[type="search"], input[type="text"], .rows-and-columns td {
  unicode-bidi: plaintext;
  text-align: start;
}
"""

# Also set dir="auto" on the elements, so copy-paste and screen readers get the direction.
RTL_SCRIPT = """
document.querySelectorAll('td, textarea, input[type="search"], input[type="text"], pre')
  .forEach(function (el) { if (!el.hasAttribute('dir')) { el.setAttribute('dir', 'auto'); } });
"""


def marsad_fts(text: str | None, conn: sqlite3.Connection | None = None) -> str:
    """SQL function: user input → safe FTS5 expression over the normalised index, an Arabic
    word standing for its forms in the index of ``conn`` (as in ``marsad search``; its literal
    spelling without a connection or on a store without migration 0011).

    Input that cannot be searched matches nothing rather than raising: SQLite would replace the
    message with "user-defined function raised exception". :func:`marsad_search_problem`
    says what is wrong instead.
    """
    try:
        parsed = parse_query(text or "")
    except SearchSyntaxError:
        return MATCH_NOTHING
    if conn is None or not parsed.analysed:
        return parsed.fts()
    try:
        return parsed.fts(forms_in_index(parsed, lambda a, b: index_words_on(conn, a, b)))
    except sqlite3.OperationalError:  # no articles_fts_vocab: a store from before 0011
        return parsed.fts()


def marsad_search_problem(text: str | None) -> str | None:
    """SQL function: why ``text`` cannot be searched, or NULL (also NULL for blank input, which
    is simply no search yet)."""
    if not (text or "").strip():
        return None
    try:
        parse_query(text or "")
    except SearchSyntaxError as exc:
        return f"search: {exc}"
    return None


def marsad_snippet(text: str | None, query: str | None) -> str:
    """SQL function: a window of the original text around the first hit, hits in [brackets]."""
    if not text:
        return ""
    try:
        terms = parse_query(query or "").terms
    except SearchSyntaxError:
        terms = ()
    found = snippet(text, terms)
    out, last = [], 0
    for start, end in found.hits:
        out += [found.text[last:start], "[", found.text[start:end], "]"]
        last = end
    out.append(found.text[last:])
    return "".join(out)


def searching_escape_fts(query: str | None, conn: sqlite3.Connection | None = None) -> str:
    """What Datasette's ``escape_fts`` (used by every ?_search=) becomes here: the query as
    ``marsad search`` reads it, so the table search box finds «الإنسحاب» in an index that
    stores «الانسحاب», and المساجد for مسجد."""
    return marsad_fts(query, conn)


# trylast: Datasette's own prepare_connection registers escape_fts; running after it lets the
# normalising version replace it on this Datasette's connections.
@_hook_last
def prepare_connection(conn: sqlite3.Connection, database: str) -> None:
    if not database.startswith("_"):
        # Datasette already opens its read connections with mode=ro; this also covers the
        # write connection it would open for a plugin or a writable canned query.
        conn.execute("PRAGMA query_only = 1")
    # Not deterministic: the forms an analysed word stands for depend on the index's words.
    conn.create_function("escape_fts", 1, lambda q: searching_escape_fts(q, conn))
    conn.create_function("marsad_fts", 1, lambda q: marsad_fts(q, conn))
    conn.create_function("marsad_search_problem", 1, marsad_search_problem, deterministic=True)
    conn.create_function("marsad_snippet", 2, marsad_snippet, deterministic=True)
    conn.create_function("marsad_normalize", 1, _normalize_or_none, deterministic=True)


def _normalize_or_none(text: str | None) -> str | None:
    return None if text is None else normalize(text)


@_hook
def extra_css_urls() -> list[str]:
    return [CSS_PATH]


@_hook
def extra_body_script() -> str:
    return RTL_SCRIPT


async def _css(request: Any) -> Any:
    return Response(RTL_CSS, content_type="text/css; charset=utf-8")


@_hook
def register_routes() -> list[tuple[str, Any]]:
    return [(r"^/-/marsad-rtl\.css$", _css)]
