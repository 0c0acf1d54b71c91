"""The content of an alert, built once when the alert is queued."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

from marsad.alerts.matching import Match, snippet
from marsad.storage.models import NewArticle


def idempotency_key(story_id: int, rule: str, channel: str) -> str:
    """Stable across retries and restarts: the receiver can drop a repeat by this key."""
    digest = hashlib.sha256(f"marsad:{story_id}:{rule}:{channel}".encode()).hexdigest()
    return f"marsad-{digest[:32]}"


def build_payload(
    article: NewArticle,
    *,
    article_id: int,
    story_id: int,
    rule: str,
    matches: Sequence[Match],
) -> dict[str, Any]:
    """The article and why it matched: what a webhook receives and an email shows."""
    hits = []
    for m in matches:
        source_text = article.title if m.field == "title" else article.text
        hits.append(
            {
                "keyword": m.keyword,
                "field": m.field,
                "surface": m.surface,
                "start": m.start,
                "end": m.end,
                "snippet": snippet(source_text, m.start, m.end),
            }
        )
    return {
        "rule": rule,
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
        "matches": hits,
    }
