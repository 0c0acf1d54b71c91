"""Watch rules: parsed and validated from the ``[[rules]]`` tables of the config."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any


class RuleError(ValueError):
    """A rule in the config is invalid; the message names the rule and the key."""


@dataclass(frozen=True)
class Rule:
    name: str
    keywords: tuple[str, ...]
    channels: tuple[str, ...] = ()


_RULE_KEYS = {"name", "keywords", "channels"}


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
    keywords = _strings(table.get("keywords"), f"{label}: keywords")
    if not keywords:
        raise RuleError(f"{label}: keywords: required, a non-empty list of strings")
    channels = _strings(table.get("channels", []), f"{label}: channels")
    return Rule(name=name.strip(), keywords=keywords, channels=channels)


def _strings(value: Any, where: str) -> tuple[str, ...]:
    if not isinstance(value, Sequence) or isinstance(value, str):
        raise RuleError(f"{where}: must be a list of strings, got {_kind(value)}")
    out: list[str] = []
    for i, item in enumerate(value):
        if not isinstance(item, str) or not item.strip():
            raise RuleError(f"{where}[{i}]: must be a non-empty string, got {item!r}")
        out.append(item.strip())
    return tuple(out)


def _kind(value: object) -> str:
    return type(value).__name__
