"""Watch rules: parsed and validated from the ``[[rules]]`` tables of the config.

A rule in TOML::

    [[rules]]
    name = "withdrawal-k1"
    channels = ["ops"]
    any = ["انسحاب", { keyword = "إخلاء", forms = ["أخلى", "يخلي"] }]  # `keywords` is the same
    all = ["K1"]                       # every one of these must hit as well
    none = [{ keyword = "مناورة", exact = true }]  # and none of these
    near = 12                          # the hits within 12 words of each other (same field)
    fields = ["title", "body"]         # where to look (default: both)
    threshold = 1                      # how many different `any` keywords must hit
    aliases = { "K1" = ["كي وان"] }    # more spellings of a keyword of this rule
    verbs = true                       # derive verbs of every keyword, also where not safe
    plurals = true                     # the same for broken plurals
    feeds = ["aljazeera-news"]         # only articles from these feeds (names of [[feeds]])
    sources = ["Al Jazeera", "bbc.com"]  # ... or of these outlets (names) or sites (hosts)
    languages = ["ar"]                 # ... and in these languages
    follow_up = [3, 10]                # alert again when the story reaches 3, then 10 outlets
    breaking = { outlets = 5, within = "2h" }  # fire only when 5 outlets carry it within 2h

A keyword is a string or a table with ``keyword`` and optional ``exact`` (no forms at all),
``forms`` (more words to match: plurals or verbs the derivation does not reach), ``aliases``,
``verbs`` / ``plurals`` (true: derive them even for a three-letter word or a pattern that is not
derived by default; false: none at all) and ``none`` (words that are not to count as forms of
it: ``{ keyword = "مقتل", none = ["مقاتل"] }``; `marsad rules forms مقتل` lists the forms).
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Collection, Mapping, Sequence
from dataclasses import InitVar, dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from marsad.arabic.script import arabic_letter_share
from marsad.arabic.tokens import token_spans
from marsad.times import format_duration, parse_duration


class RuleError(ValueError):
    """A rule in the config is invalid; the message names the rule and the key."""


FIELDS = ("title", "body")


@dataclass(frozen=True)
class Keyword:
    """One keyword of a rule and how it may be written."""

    text: str
    exact: bool = False
    forms: tuple[str, ...] = ()
    aliases: tuple[str, ...] = ()
    # None: what is safe for the keyword's shape; True: also what is derived only on request;
    # False: no verbs (plurals) at all.
    verbs: bool | None = None
    plurals: bool | None = None
    # Words that match the keyword's forms but are not to count (a vetoed form).
    none: tuple[str, ...] = ()


@dataclass(frozen=True)
class Origin:
    """Where an article comes from, as a rule's scope sees it: its outlet (``source``), the
    host of its URL (``www.`` dropped), the name of the feed that listed it (None: imported)
    and its language's primary subtag (None: unknown)."""

    source: str
    host: str | None = None
    feed: str | None = None
    language: str | None = None

    @classmethod
    def of(
        cls,
        source: str,
        url: str,
        *,
        feed: str | None = None,
        language: str | None = None,
        text: str | None = None,
    ) -> Origin:
        """The origin of an article at ``url``; an article of no stated language whose
        ``text`` is given is told Arabic as the crawler tells it (mostly Arabic letters)."""
        if not language and text is not None and arabic_letter_share(text) > 0.5:
            language = "ar"
        return cls(source, url_host(url), feed, language_code(language) if language else None)


@dataclass(frozen=True)
class Scope:
    """The articles a rule may match: from one of these feeds or one of these outlets or
    sites (either list may be empty; both empty: from anywhere), and in one of these languages
    (empty: any). Feeds and sources widen each other, as a reader lists where to look: a
    feed's name or an outlet's, ``feeds = ["bbc-ar"], sources = ["aljazeera.net"]`` takes the
    articles of either. Hosts match their subdomains: ``bbc.com`` takes ``www.bbc.com`` and
    ``arabic.bbc.com``."""

    sources: tuple[str, ...] = ()
    feeds: tuple[str, ...] = ()
    languages: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.sources or self.feeds or self.languages)

    def excludes(self, origin: Origin) -> str | None:
        """Why an article from ``origin`` is outside the scope, or None when it is inside."""
        from_feed = bool(self.feeds) and origin.feed in self.feeds
        from_source = any(_source_is(origin, s) for s in self.sources)
        if (self.feeds or self.sources) and not (from_feed or from_source):
            said = []
            if self.feeds:
                listed = f"feed {origin.feed!r}" if origin.feed else "no feed (imported)"
                said.append(f"{listed}, not one of feeds: {', '.join(self.feeds)}")
            if self.sources:
                host = f" (host {origin.host})" if origin.host else ""
                said.append(
                    f"source {origin.source!r}{host}, not one of sources: {', '.join(self.sources)}"
                )
            return "; ".join(said)
        if self.languages and origin.language not in self.languages:
            language = f"language {origin.language!r}" if origin.language else "language unknown"
            return f"{language}, not one of languages: {', '.join(self.languages)}"
        return None


def _source_is(origin: Origin, wanted: str) -> bool:
    if origin.source.casefold() == wanted.casefold():
        return True
    host = origin.host
    site = wanted.casefold()
    return host is not None and (host == site or host.endswith("." + site))


def url_host(url: str) -> str | None:
    """The host of ``url`` in lower case without ``www.``, or None when it has none."""
    try:
        host = urlsplit(url).hostname
    except ValueError:
        return None
    return host.removeprefix("www.") if host else None


def language_code(tag: str) -> str:
    """A language tag's primary subtag in lower case: ``ar-EG`` → ``ar``."""
    return tag.strip().replace("_", "-").split("-")[0].lower()


@dataclass(frozen=True)
class Breaking:
    """A breaking rule fires (once per story) when a story it matches is carried by
    ``outlets`` distinct outlets within ``within`` seconds of the story's first article."""

    outlets: int
    within: float

    def describe(self) -> str:
        return f"{self.outlets} outlets within {format_duration(self.within)}"


NO_SCOPE = Scope()


@dataclass(frozen=True)
class Rule:
    """A watch rule. ``Rule(name, keywords, channels)`` alone is an any-of-these rule in the
    default (forms of the word) mode; ``any_of`` then holds those keywords."""

    name: str
    # Only a shorthand of the constructor: plain words become ``any_of`` keywords.
    keywords: InitVar[tuple[str, ...]] = ()
    channels: tuple[str, ...] = ()
    any_of: tuple[Keyword, ...] = ()
    all_of: tuple[Keyword, ...] = ()
    none_of: tuple[Keyword, ...] = ()
    near: int | None = None
    fields: tuple[str, ...] = FIELDS
    threshold: int = 1
    scope: Scope = NO_SCOPE
    # Outlet counts of the story at which to alert again, ascending.
    follow_up: tuple[int, ...] = ()
    breaking: Breaking | None = None

    def __post_init__(self, keywords: tuple[str, ...]) -> None:
        if keywords and self.any_of:
            raise ValueError(f"rule {self.name!r}: give keywords or any_of, not both")
        if keywords:
            object.__setattr__(self, "any_of", tuple(Keyword(k) for k in keywords))


_RULE_KEYS = {
    "name",
    "keywords",
    "any",
    "all",
    "none",
    "channels",
    "near",
    "fields",
    "threshold",
    "aliases",
    "exact",
    "verbs",
    "plurals",
    "sources",
    "feeds",
    "languages",
    "follow_up",
    "breaking",
}
_KEYWORD_KEYS = {"keyword", "exact", "forms", "aliases", "verbs", "plurals", "none"}


@dataclass(frozen=True)
class _Defaults:
    """What a rule's own keys say for each of its keywords (which may override them)."""

    exact: bool
    verbs: bool | None
    plurals: bool | None
    aliases: Mapping[str, tuple[str, ...]]


def parse_rules(
    tables: object, *, where: str = "rules", feeds: Collection[str] | None = None
) -> tuple[Rule, ...]:
    """Turn the ``[[rules]]`` array of a TOML document into rules, or raise :class:`RuleError`.

    ``feeds``: the names of the config's feeds, which a rule's ``feeds`` must be among (None:
    not checked here; :func:`check_rule_feeds` does it once the feeds are known)."""
    if tables is None:
        return ()
    if not isinstance(tables, list):
        raise RuleError(f"{where}: must be an array of tables ([[rules]]), got {_kind(tables)}")
    rules: list[Rule] = []
    seen: set[str] = set()
    for index, table in enumerate(tables):
        rule = _parse_rule(table, f"{where}[{index}]")
        if rule.name in seen:
            raise RuleError(f"{where}[{index}] {rule.name!r}: name: used by an earlier rule")
        seen.add(rule.name)
        rules.append(rule)
    if feeds is not None:
        check_rule_feeds(rules, feeds, where=where)
    return tuple(rules)


def check_rule_feeds(
    rules: Sequence[Rule], feeds: Collection[str], *, where: str = "rules"
) -> None:
    """Raise :class:`RuleError` for the first rule whose ``feeds`` names a feed not in
    ``feeds`` (the names of the config's ``[[feeds]]``)."""
    for index, rule in enumerate(rules):
        for name in rule.scope.feeds:
            if name not in feeds:
                known = ", ".join(sorted(feeds)) or "none"
                raise RuleError(
                    f"{where}[{index}] {rule.name!r}: feeds: no feed named {name!r} "
                    f"(defined: {known})"
                )


def load_rules_file(path: Path) -> tuple[Rule, ...]:
    """The ``[[rules]]`` of a TOML file (a whole marsad.toml will do); :class:`RuleError`
    names the file and what is wrong with it."""
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise RuleError(f"{path}: cannot read: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise RuleError(f"{path}: not UTF-8 text (byte {exc.start})") from None
    except tomllib.TOMLDecodeError as exc:
        raise RuleError(f"{path}: invalid TOML: {exc}") from None
    feeds = document.get("feeds")
    # A file that lists its feeds (a whole marsad.toml) has its rules' feeds checked too.
    names = (
        [str(f.get("name")) for f in feeds if isinstance(f, Mapping)]
        if isinstance(feeds, list)
        else None
    )
    try:
        return parse_rules(document.get("rules"), feeds=names)
    except RuleError as exc:
        raise RuleError(f"{path}: {exc}") from None


def _parse_rule(table: object, where: str) -> Rule:
    if not isinstance(table, Mapping):
        raise RuleError(f"{where}: must be a table, got {_kind(table)}")
    name = table.get("name")
    if not isinstance(name, str) or not name.strip():
        raise RuleError(f"{where}: name: required, a non-empty string")
    label = f"{where} {name!r}"
    unknown = sorted(set(table) - _RULE_KEYS)
    if unknown:
        raise RuleError(
            f"{label}: {unknown[0]}: unknown key (known: {', '.join(sorted(_RULE_KEYS))})"
        )
    if "keywords" in table and "any" in table:
        raise RuleError(f"{label}: any: give either keywords or any, they mean the same")
    exact = table.get("exact", False)
    if not isinstance(exact, bool):
        raise RuleError(f"{label}: exact: must be true or false, got {exact!r}")
    defaults = _Defaults(
        exact=exact,
        verbs=_option(table, "verbs", label),
        plurals=_option(table, "plurals", label),
        aliases=_aliases(table.get("aliases", {}), f"{label}: aliases"),
    )
    aliases = defaults.aliases

    any_key = "any" if "any" in table else "keywords"
    if any_key not in table and "all" not in table:
        # The foundation's message, still true: a rule needs something to look for.
        _keywords(None, f"{label}: keywords", defaults)
    any_of = _keywords(table.get(any_key, []), f"{label}: {any_key}", defaults)
    all_of = _keywords(table.get("all", []), f"{label}: all", defaults)
    none_of = _keywords(table.get("none", []), f"{label}: none", defaults)
    if not any_of and not all_of:
        raise RuleError(f"{label}: {any_key}: required, a non-empty list of strings")
    texts = [k.text for k in (*any_of, *all_of, *none_of)]
    for alias_of in aliases:
        if alias_of not in texts:
            raise RuleError(f"{label}: aliases: {alias_of!r} is not a keyword of this rule")
    duplicate = next((t for i, t in enumerate(texts) if t in texts[:i]), None)
    if duplicate is not None:
        raise RuleError(f"{label}: keywords: {duplicate!r} is listed twice")

    threshold = table.get("threshold", 1)
    if not _is_int(threshold) or threshold < 1:
        raise RuleError(f"{label}: threshold: must be a whole number ≥ 1, got {threshold!r}")
    if threshold > max(len(any_of), 1):
        raise RuleError(
            f"{label}: threshold: {threshold} is more than the {len(any_of)} keywords of {any_key}"
        )
    near = table.get("near")
    if near is not None and (not _is_int(near) or near < 0):
        raise RuleError(f"{label}: near: must be a whole number of words ≥ 0, got {near!r}")
    fields = _strings(table.get("fields", list(FIELDS)), f"{label}: fields")
    for f in fields:
        if f not in FIELDS:
            raise RuleError(f"{label}: fields: {f!r} is not one of {', '.join(FIELDS)}")
    if not fields:
        raise RuleError(f"{label}: fields: must name title, body or both")
    channels = _strings(table.get("channels", []), f"{label}: channels")
    return Rule(
        name=name.strip(),
        channels=channels,
        any_of=any_of,
        all_of=all_of,
        none_of=none_of,
        near=near,
        fields=tuple(f for f in FIELDS if f in fields),
        threshold=threshold,
        scope=Scope(
            sources=_sources(table.get("sources", []), f"{label}: sources"),
            feeds=_strings(table.get("feeds", []), f"{label}: feeds"),
            languages=_languages(table.get("languages", []), f"{label}: languages"),
        ),
        follow_up=_follow_up(table.get("follow_up", []), f"{label}: follow_up"),
        breaking=_breaking(table.get("breaking"), f"{label}: breaking"),
    )


# A BCP 47 tag: an ISO 639 code, maybe with a region or script after it (ar, ar-EG, zh-Hant).
_LANGUAGE_TAG = re.compile(r"[A-Za-z]{2,3}(?:[-_][A-Za-z0-9]{2,8})*")


def _languages(value: Any, where: str) -> tuple[str, ...]:
    codes = []
    for i, tag in enumerate(_strings(value, where)):
        if not _LANGUAGE_TAG.fullmatch(tag):
            raise RuleError(
                f'{where}[{i}]: {tag!r} is not a language code (ISO 639: "ar", "en", "fr"…)'
            )
        codes.append(language_code(tag))
    return tuple(dict.fromkeys(codes))


def _sources(value: Any, where: str) -> tuple[str, ...]:
    """Outlet names as written, hosts in lower case without ``www.`` (a URL gives its host)."""
    out = []
    for item in _strings(value, where):
        if "://" in item:
            host = url_host(item)
            if host is None:
                raise RuleError(f"{where}: {item!r} is a URL without a host")
            item = host
        elif "." in item and " " not in item:
            item = item.lower().removeprefix("www.")
        out.append(item)
    return tuple(dict.fromkeys(out))


def _follow_up(value: Any, where: str) -> tuple[int, ...]:
    if not isinstance(value, Sequence) or isinstance(value, str):
        raise RuleError(f"{where}: must be a list of outlet counts, got {_kind(value)}")
    for item in value:
        if not _is_int(item) or item < 2:
            raise RuleError(f"{where}: outlet counts must be whole numbers ≥ 2, got {item!r}")
    if list(value) != sorted(set(value)):
        raise RuleError(f"{where}: outlet counts must go up, each once, got {list(value)!r}")
    return tuple(value)


def _breaking(value: Any, where: str) -> Breaking | None:
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise RuleError(f'{where}: must be a table {{ outlets = 5, within = "2h" }}')
    unknown = sorted(set(value) - {"outlets", "within"})
    if unknown:
        raise RuleError(f"{where}: {unknown[0]}: unknown key (known: outlets, within)")
    outlets = value.get("outlets")
    if not isinstance(outlets, int) or isinstance(outlets, bool) or outlets < 2:
        raise RuleError(f"{where}: outlets: must be a whole number ≥ 2, got {outlets!r}")
    if "within" not in value:
        raise RuleError(f'{where}: within: required, a duration ("2h")')
    try:
        within = parse_duration(value["within"], low=60.0, high=30 * 86400.0)
    except ValueError as exc:
        raise RuleError(f"{where}: within: {exc}") from None
    return Breaking(outlets, within)


def _option(table: Mapping[str, Any], key: str, where: str) -> bool | None:
    value = table.get(key)
    if value is not None and not isinstance(value, bool):
        raise RuleError(f"{where}: {key}: must be true or false, got {value!r}")
    return value


def _keywords(value: Any, where: str, defaults: _Defaults) -> tuple[Keyword, ...]:
    if not isinstance(value, Sequence) or isinstance(value, str):
        raise RuleError(f"{where}: must be a list of strings, got {_kind(value)}")
    out: list[Keyword] = []
    for i, item in enumerate(value):
        if isinstance(item, str):
            if not item.strip():
                raise RuleError(f"{where}[{i}]: must be a non-empty string, got {item!r}")
            out.append(
                Keyword(
                    item.strip(),
                    exact=defaults.exact,
                    aliases=defaults.aliases.get(item.strip(), ()),
                    verbs=defaults.verbs,
                    plurals=defaults.plurals,
                )
            )
        elif isinstance(item, Mapping):
            out.append(_keyword_table(item, f"{where}[{i}]", defaults))
        else:
            raise RuleError(f"{where}[{i}]: must be a string or a table, got {item!r}")
        if not token_spans(out[-1].text):
            raise RuleError(f"{where}[{i}]: no letters or digits to match in {out[-1].text!r}")
    return tuple(out)


def _keyword_table(item: Mapping[str, Any], where: str, defaults: _Defaults) -> Keyword:
    unknown = sorted(set(item) - _KEYWORD_KEYS)
    if unknown:
        raise RuleError(
            f"{where}: {unknown[0]}: unknown key (known: {', '.join(sorted(_KEYWORD_KEYS))})"
        )
    text = item.get("keyword")
    if not isinstance(text, str) or not text.strip():
        raise RuleError(f"{where}: keyword: required, a non-empty string")
    text = text.strip()
    own_exact = item.get("exact", defaults.exact)
    if not isinstance(own_exact, bool):
        raise RuleError(f"{where}: exact: must be true or false, got {own_exact!r}")
    forms = _strings(item.get("forms", []), f"{where}: forms")
    if own_exact and forms:
        raise RuleError(f"{where}: forms: an exact keyword takes no forms")
    own_aliases = _strings(item.get("aliases", []), f"{where}: aliases")
    verbs = _option(item, "verbs", where)
    plurals = _option(item, "plurals", where)
    if own_exact and (verbs or plurals):
        raise RuleError(
            f"{where}: {'verbs' if verbs else 'plurals'}: an exact keyword has no forms"
        )
    vetoed = _strings(item.get("none", []), f"{where}: none")
    for i, word in enumerate(vetoed):
        if len(token_spans(word)) != 1:
            raise RuleError(f"{where}: none[{i}]: one word, the form not to match; got {word!r}")
    return Keyword(
        text,
        exact=own_exact,
        forms=forms,
        aliases=tuple(dict.fromkeys((*own_aliases, *defaults.aliases.get(text, ())))),
        verbs=defaults.verbs if verbs is None else verbs,
        plurals=defaults.plurals if plurals is None else plurals,
        none=vetoed,
    )


def _aliases(value: Any, where: str) -> dict[str, tuple[str, ...]]:
    if not isinstance(value, Mapping):
        raise RuleError(f"{where}: must be a table of keyword = [spellings], got {_kind(value)}")
    return {str(k).strip(): _strings(v, f"{where}.{k}") for k, v in value.items()}


def _strings(value: Any, where: str) -> tuple[str, ...]:
    if not isinstance(value, Sequence) or isinstance(value, str):
        raise RuleError(f"{where}: must be a list of strings, got {_kind(value)}")
    out: list[str] = []
    for i, item in enumerate(value):
        if not isinstance(item, str) or not item.strip():
            raise RuleError(f"{where}[{i}]: must be a non-empty string, got {item!r}")
        out.append(item.strip())
    return tuple(out)


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _kind(value: object) -> str:
    return type(value).__name__
