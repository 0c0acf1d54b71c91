"""The content of an alert, built once when the alert is queued.

Pure: an alert is drafted (:class:`AlertDraft`) before the store has numbered its article and
story, and :func:`build_payload` fills those numbers in when it is written.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from marsad.alerts.matching import Match, field_text, snippet
from marsad.storage.models import NewArticle


@dataclass(frozen=True)
class Quote:
    """A match with the text around it, cut once: the ``matches`` table stores it and the
    alert sends it."""

    match: Match
    snippet: str


@dataclass(frozen=True)
class AlertDraft:
    """What an alert for ``rule`` will say about ``article``, but for the ids the store gives."""

    rule: str
    article: NewArticle
    quotes: tuple[Quote, ...]


def quote(matches: Sequence[Match], title: str, text: str) -> tuple[Quote, ...]:
    """Each match with its snippet of the field it is in (of an article with this title and
    text)."""
    return tuple(
        Quote(m, snippet(field_text(title, text, m.field), m.start, m.end)) for m in matches
    )


def idempotency_key(store_id: str, story_id: int, rule: str, channel: str) -> str:
    """Stable across retries and restarts, so the receiver can drop a repeat by this key, and
    unique across stores (``store_id`` is each store's random identity)."""
    digest = hashlib.sha256(f"marsad:{store_id}:{story_id}:{rule}:{channel}".encode()).hexdigest()
    return f"marsad-{digest[:32]}"


def build_payload(draft: AlertDraft, *, article_id: int, story_id: int) -> dict[str, Any]:
    """The article and why it matched: what a webhook receives and an email shows."""
    article = draft.article
    return {
        "rule": draft.rule,
        "article": {
            "id": article_id,
            "story_id": story_id,
            "title": article.title,
            "url": article.url,
            "source": article.source,
            "published": article.published,
            "author": article.author,
            "language": article.language,
        },
        "matches": [
            {
                "keyword": q.match.keyword,
                "field": q.match.field,
                "surface": q.match.surface,
                "start": q.match.start,
                "end": q.match.end,
                "snippet": q.snippet,
            }
            for q in draft.quotes
        ],
    }


def translated_from(links: Sequence[Mapping[str, Any]], article_id: int) -> dict[str, Any] | None:
    """What an alert on ``article_id`` says of its story's translations
    (:func:`storage.crosslingual.links_of_story` rows): the article's own original when it is
    a translation, else the story's first translation and what it was translated from (with
    ``translations``, how many the story holds). None when the story holds none."""
    if not links:
        return None
    own = [link for link in links if link["translation_id"] == article_id]
    link = own[0] if own else links[0]
    return {
        "article_id": link["original_id"],
        "url": link["original_url"],
        "source": link["original_source"],
        "title": link["original_title"],
        "score": round(float(link["score"]), 3),
        "evidence": link["evidence"],
        "translation": {
            "article_id": link["translation_id"],
            "url": link["translation_url"],
            "source": link["translation_source"],
        },
        "translations": len(links),
    }
