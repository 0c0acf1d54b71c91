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

A keyword is a string or a table with ``keyword`` and optional ``exact`` (no forms at all),
``forms`` (more words to match: plurals or verbs the derivation does not reach), ``aliases``,
``verbs`` / ``plurals`` (true: derive them even for a three-letter word or a pattern that is not
derived by default; false: none at all) and ``none`` (words that are not to count as forms of
it: ``{ keyword = "مقتل", none = ["مقاتل"] }``; `marsad rules forms مقتل` lists the forms).
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import InitVar, dataclass
from pathlib import Path
from typing import Any

from marsad.arabic.tokens import token_spans


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
}
_KEYWORD_KEYS = {"keyword", "exact", "forms", "aliases", "verbs", "plurals", "none"}


@dataclass(frozen=True)
class _Defaults:
    """What a rule's own keys say for each of its keywords (which may override them)."""

    exact: bool
    verbs: bool | None
    plurals: bool | None
    aliases: Mapping[str, tuple[str, ...]]


def parse_rules(tables: object, *, where: str = "rules") -> tuple[Rule, ...]:
    """Turn the ``[[rules]]`` array of a TOML document into rules, or raise :class:`RuleError`."""
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
    return tuple(rules)


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
    try:
        return parse_rules(document.get("rules"))
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
    )


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
