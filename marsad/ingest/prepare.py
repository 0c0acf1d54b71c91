"""Preparing an article for the store: the part of ingesting it that needs no store.

Normalised title and text, credits cut out, fingerprint: pure, so ``marsad import`` computes it
in other processes (:mod:`marsad.ingest.ahead`) while the writer stores the articles before.
"""

from __future__ import annotations

from dataclasses import dataclass

from marsad.arabic import normalize
from marsad.storage.dedup import PreparedBody, prepare_body
from marsad.storage.models import NewArticle


@dataclass(frozen=True)
class PreparedArticle:
    """An article's normalised title and text and its body ready for copy detection."""

    title_norm: str
    text_norm: str
    body: PreparedBody


def prepare_article(article: NewArticle) -> PreparedArticle:
    title_norm = normalize(article.title)
    return PreparedArticle(
        title_norm=title_norm,
        text_norm=normalize(article.text),
        body=prepare_body(article.text, title_norm),
    )
