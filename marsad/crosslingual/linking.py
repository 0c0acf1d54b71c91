"""What a cross-lingual check decides, given what the store holds: pure, tested on literals.

Whether linking runs at all (:func:`decide_mode`), which verified translations of a checked
article become links (:func:`choose_links`) and how two stories join (:func:`plan_join`): the
story whose original is the earliest keeps its number, its original and its alerts; the other is
merged into it by the store's own merge (:func:`storage.articles.merge_story`), which supersedes
its alerts where both stories had one, so a channel hears of the story once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Iterable

    from marsad.storage.articles import StoryHead


@dataclass(frozen=True)
class Found:
    """A verified translation: Arabic article ``arabic_id`` of other-language ``other_id``."""

    arabic_id: int
    other_id: int
    score: float
    evidence: dict[str, Any]


@dataclass(frozen=True)
class Join:
    """Merge story ``merge`` into ``keep`` (None: they are one story already)."""

    keep: int
    merge: int


@dataclass(frozen=True)
class Mode:
    """Whether linking is on now, and why (for `marsad link` and the log)."""

    active: bool
    reason: str


def decide_mode(enabled: bool | None, *, other_in_window: bool, other_arrived: bool) -> Mode:
    """``enabled`` True/False forces it; None ("auto") turns it on while the window holds a
    non-Arabic article (profiled: ``other_in_window``; or just arrived, not profiled yet:
    ``other_arrived``)."""
    if enabled is True:
        return Mode(True, "enabled = true")
    if enabled is False:
        return Mode(False, "enabled = false")
    if other_in_window or other_arrived:
        return Mode(True, "auto: the window holds a non-Arabic article")
    return Mode(False, "auto: no non-Arabic article in the window")


def choose_links(language: str, found: Iterable[Found]) -> list[Found]:
    """The links a checked article of ``language`` makes: an Arabic article was translated
    from one original (its best match); a non-Arabic one may have been translated by several
    outlets (each Arabic article once, at its best)."""
    ranked = sorted(found, key=lambda f: (-f.score, f.other_id, f.arabic_id))
    if language == "ar":
        return ranked[:1]
    best: dict[int, Found] = {}
    for f in ranked:
        best.setdefault(f.arabic_id, f)
    return list(best.values())


def plan_join(translation: StoryHead, original: StoryHead) -> Join | None:
    """How the translation's story and the original's join: the one whose original was
    published first keeps (ties: the older story); None when they are one story already."""
    if translation.story_id == original.story_id:
        return None
    first, second = sorted(
        (translation, original), key=lambda head: (head.published, head.story_id)
    )
    return Join(keep=first.story_id, merge=second.story_id)
