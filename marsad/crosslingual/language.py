"""Which script an article is in: Arabic, another, or too little text to tell. Pure."""

from __future__ import annotations

from marsad.arabic.script import arabic_letter_share

# Below this many letters a text is a headline or a caption: nothing to match paragraphs on.
MIN_LETTERS = 200
# Arabic when most letters are Arabic; "other" when nearly none are (a Latin-script article
# quoting an Arabic name stays "other"); in between is a mixed page we do not guess about.
ARABIC_SHARE = 0.6
OTHER_SHARE = 0.2


def detect_language(text: str) -> str | None:
    """``"ar"``, ``"other"`` (Latin, Cyrillic, …) or None when too short or mixed."""
    letters = sum(map(str.isalpha, text))
    if letters < MIN_LETTERS:
        return None
    share = arabic_letter_share(text)
    if share >= ARABIC_SHARE:
        return "ar"
    if share <= OTHER_SHARE:
        return "other"
    return None
